package main

import (
	"bufio"
	"io"
	"os"

	"github.com/tasktail/tasktail/internal/cli"
	"github.com/tasktail/tasktail/internal/termtext"
)

// Colour: messages carry the escape sequences their producers printed. A terminal gets
// only those that colour text, and with --color=never or off a terminal none: every other
// sequence (a window title, the clipboard, cursor moves) would let a log line control the
// reader's terminal.
const (
	colorAuto   = "auto"
	colorAlways = "always"
	colorNever  = "never"
)

// addColorFlag adds --color, as ls and grep have it.
func addColorFlag(fs interface {
	String(string, string, string) *string
}) *string {
	return fs.String("color", colorAuto, "colours and message styles: auto (on a terminal, unless NO_COLOR is set), always or never")
}

// useColor says whether out gets colours under mode.
func useColor(mode string, out io.Writer) (bool, error) {
	switch mode {
	case colorAlways:
		return true, nil
	case colorNever:
		return false, nil
	case colorAuto:
		return isTerminal(out) && os.Getenv("NO_COLOR") == "", nil
	}
	return false, cli.Usagef("--color %q: want auto, always or never", mode)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// copyClean copies the text log r to w line by line, each cleaned for the terminal.
func copyClean(w io.Writer, r io.Reader, colour bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			if _, werr := bw.WriteString(termtext.Clean(line, colour)); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			_ = bw.Flush()
			return err
		}
	}
}
