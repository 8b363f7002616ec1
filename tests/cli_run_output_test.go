package tests

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tasktail/tasktail/client"
)

// runLogs runs `tasktail run TASK args...` and returns what the task received, the final
// message included.
func (s *service) runLogs(taskID string, args ...string) []client.Event {
	s.t.Helper()
	_, stderr, code := s.cli("", append([]string{"run", taskID}, args...)...)
	if code != 0 {
		s.t.Fatalf("run: exit %d: %s", code, stderr)
	}
	v := s.watch(taskID, "since=0")
	hello := v.hello()
	return v.logs(int(hello.LastSeq))
}

// On a terminal (--pty) stdout and stderr are one stream, published in exactly the order
// the command wrote them, however close together.
func TestCLIRunOnATerminalKeepsTheOrderWritten(t *testing.T) {
	s := start(t, defaults())
	logs := s.runLogs("pty", "--pty", "--", "sh", "-c", `i=1; while [ $i -le 40 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done`)
	var got []string
	for _, l := range logs[:len(logs)-1] {
		got = append(got, l.Message)
		if l.Stream != "" || l.Level != client.Info {
			t.Fatalf("on a terminal: %+v, want no stream and level info", l)
		}
	}
	var want []string
	for i := 1; i <= 40; i++ {
		want = append(want, fmt.Sprintf("out%d", i), fmt.Sprintf("err%d", i))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("published %v\nwant      %v", got, want)
	}
}

// Through pipes each message names its stream; output written apart in time keeps its
// order across the streams.
func TestCLIRunNamesStreamsInOrder(t *testing.T) {
	s := start(t, defaults())
	logs := s.runLogs("pipes", "--", "sh", "-c", `echo out1; sleep 0.3; echo err1 >&2; sleep 0.3; echo out2; sleep 0.3; echo err2 >&2`)
	var got []string
	for _, l := range logs[:len(logs)-1] {
		got = append(got, l.Stream+":"+l.Message+":"+string(l.Level))
	}
	if want := "stdout:out1:info stderr:err1:warning stdout:out2:info stderr:err2:warning"; strings.Join(got, " ") != want {
		t.Fatalf("published %v, want %s", got, want)
	}
}

// A progress bar drawn with \r (as tqdm does, 50 states a second for 2 s) is one line
// that updates: a few messages, each state's progress taken by --progress-pattern, the
// last one 100.
func TestCLIRunProgressBarUpdatesOneLine(t *testing.T) {
	s := start(t, defaults())
	bar := `import sys, time
for i in range(101):
    sys.stderr.write("\r%3d%%|%-10s| %d/100 [00:01<00:01]" % (i, "#" * (i // 10), i))
    sys.stderr.flush()
    time.sleep(0.02)
sys.stderr.write("\n")
print("done")`
	logs := s.runLogs("bar", "--progress-pattern", `(\d+)%`, "--", "python3", "-c", bar)
	var states []client.Event
	done := false
	for _, l := range logs {
		if strings.ContainsAny(l.Message, "\r\n") {
			t.Fatalf("a message holds the raw bar: %q", l.Message)
		}
		if l.Stream == "stderr" {
			states = append(states, l)
		}
		done = done || l.Stream == "stdout" && l.Message == "done" && !l.Update // its own line, in its own stream
	}
	if n := len(states); n < 3 || n > 12 {
		t.Fatalf("%d messages for a 2 s bar, want 3 to 12 (first, about 3 a second, final)", n)
	}
	if states[0].Update {
		t.Fatalf("the bar's first state %+v should start a line", states[0])
	}
	for i, st := range states[1:] {
		if !st.Update || st.Progress < states[i].Progress {
			t.Fatalf("state %d %+v after %+v: want updates with rising progress", i+2, st, states[i])
		}
	}
	if last := states[len(states)-1]; last.Progress != 100 || !strings.HasPrefix(last.Message, "100%|##########| 100/100") {
		t.Fatalf("final state %+v", last)
	}
	if !done {
		t.Fatal(`stdout's "done" is not a line of its own`)
	}
}
