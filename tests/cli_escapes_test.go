package tests

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// hostileLine carries a colour, a window title (OSC 0), a clipboard write (OSC 52), a
// cursor move and a screen clear: only the colour may reach a reader's terminal.
const hostileLine = "\x1b[31mred\x1b[0m \x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x1b\\\x1b[2A\x1b[2Jend"

// tail and logs print only what colours text, and on a pipe nothing but text.
func TestCLITailAndLogsDropEscapes(t *testing.T) {
	s := start(t, defaults())
	s.publish("esc", "info", hostileLine, 0, false)
	s.publish("esc", "success", "done", 100, true)

	for _, args := range [][]string{{"tail", "esc"}, {"logs", "esc"}} {
		out, stderr, code := s.cli("", args...)
		if code != 0 || !strings.Contains(out, "red end") || strings.ContainsAny(out, "\x1b\x07") {
			t.Errorf("%s on a pipe: exit %d %q %q", args[0], code, out, stderr)
		}
		out, _, _ = s.cli("", append(args, "--color=always")...)
		if !strings.Contains(out, "\x1b[31mred\x1b[0m end") || strings.Contains(out, "pwned") || strings.Contains(out, "\x1b]") || strings.Contains(out, "\x1b[2") {
			t.Errorf("%s --color=always: %q", args[0], out)
		}
	}

	// On a terminal (a pty), colours stay and nothing else does.
	for _, args := range [][]string{{"tail", "esc"}, {"logs", "esc"}} {
		out := onTerminal(t, s, args...)
		if !strings.Contains(out, "\x1b[31mred\x1b[0m end") || strings.Contains(out, "pwned") || strings.Contains(out, "ZXZpbA") || strings.Contains(out, "\x1b[2A") || strings.Contains(out, "\x1b[2J") {
			t.Errorf("%s on a terminal: %q", args[0], out)
		}
	}
}

// onTerminal runs the binary with a pty as its terminal and returns what it printed.
func onTerminal(t *testing.T, s *service, args ...string) string {
	t.Helper()
	cmd := s.cliCommand(args...)
	cmd.Env = append(os.Environ(), "TASKTAIL_SERVER="+s.base) // colours allowed: no NO_COLOR
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	timer := time.AfterFunc(wait, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var out bytes.Buffer
	_, err = io.Copy(&out, f) // ends with EIO once the command has exited
	if err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %v\n%q", args, err, out.String())
	}
	return out.String()
}
