package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/tasktail/tasktail/client"
)

// commandOutput is where a command's output comes from: two pipes, or one terminal.
type commandOutput struct {
	sources []io.Reader // one per stream, parallel to streams
	through []io.Writer // where each source is passed through as it comes
	streams []*outputStream
	tty     *os.File // the terminal's command side, closed here once the command has it
	closers []io.Closer
}

// pipeOutput gives the command a pipe for stdout and one for stderr.
func pipeOutput(cmd *exec.Cmd, stdout, stderr io.Writer, stderrLevel client.Level) (*commandOutput, error) {
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	return &commandOutput{
		sources: []io.Reader{outPipe, errPipe},
		through: []io.Writer{stdout, stderr},
		streams: []*outputStream{{name: "stdout", level: client.Info}, {name: "stderr", level: stderrLevel}},
	}, nil
}

// terminalOutput gives the command a new terminal as stdout and stderr (stdin stays
// tasktail's), the size of tasktail's own, or 120 columns.
func terminalOutput(cmd *exec.Cmd, stdout io.Writer) (*commandOutput, error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, err
	}
	size := &pty.Winsize{Rows: 40, Cols: 120}
	if f, ok := stdout.(*os.File); ok && isTerminal(f) {
		if s, err := pty.GetsizeFull(f); err == nil {
			size = s
		}
	}
	_ = pty.Setsize(ptmx, size) // a terminal without a size still works
	cmd.Stdout, cmd.Stderr = tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 1} // its stdout
	return &commandOutput{
		sources: []io.Reader{ptmx},
		through: []io.Writer{stdout},
		streams: []*outputStream{{level: client.Info}},
		tty:     tty,
		closers: []io.Closer{ptmx, tty},
	}, nil
}

// started is called once the command runs: tasktail's copy of the terminal is closed,
// so that reading ends when the command's last copy does.
func (o *commandOutput) started() {
	if o.tty != nil {
		_ = o.tty.Close()
	}
}

func (o *commandOutput) close() {
	for _, c := range o.closers {
		_ = c.Close()
	}
}

// chunk is what one read of a source brought; end: the source has ended.
type chunk struct {
	stream int
	data   []byte
	end    bool
}

// publish reads every source until it ends, passing it through, and hands the chunks to
// lines in the order they were read: one reader per source, one goroutine (this one)
// that orders them.
func (o *commandOutput) publish(lines *outputLines) {
	chunks := make(chan chunk, 16)
	for i, r := range o.sources {
		go readChunks(i, r, o.through[i], chunks) // ends with its source
	}
	ticker := time.NewTicker(updateEvery / 3)
	defer ticker.Stop()
	for open := len(o.sources); open > 0; {
		select {
		case c := <-chunks:
			s := o.streams[c.stream]
			if c.end {
				lines.end(s)
				open--
				continue
			}
			lines.feed(s, c.data)
		case <-ticker.C:
			lines.tick(o.streams...)
		}
	}
}

// readChunks reads r until it ends, writing what it reads to w and sending it on.
func readChunks(stream int, r io.Reader, w io.Writer, chunks chan<- chunk) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			_, _ = w.Write(buf[:n]) // the reader of tasktail's own output left: publishing goes on
			chunks <- chunk{stream: stream, data: append([]byte(nil), buf[:n]...)}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.EIO) { // EIO: a terminal whose last writer left
				_, _ = io.Copy(w, r) // drain it, so the command never blocks on us
			}
			chunks <- chunk{stream: stream, end: true}
			return
		}
	}
}
