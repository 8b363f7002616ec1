package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tasktail/tasktail/token"
)

// cliCommand prepares the tasktail binary to run against s.
func (s *service) cliCommand(args ...string) *exec.Cmd {
	s.t.Helper()
	return s.command(tasktailBinary(s.t), args...)
}

// command prepares a binary to run against s.
func (s *service) command(bin string, args ...string) *exec.Cmd {
	s.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cmd.Environ(), "TASKTAIL_SERVER="+s.base, "NO_COLOR=1")
	cmd.WaitDelay = wait
	return cmd
}

// cli runs the tasktail binary against s and returns stdout, stderr and the exit code.
func (s *service) cli(stdin string, args ...string) (string, string, int) {
	s.t.Helper()
	return s.runCommand(s.cliCommand(args...), stdin)
}

// bench runs the tasktail-bench binary against s, like cli.
func (s *service) bench(args ...string) (string, string, int) {
	s.t.Helper()
	return s.runCommand(s.command(benchBinary(s.t), args...), "")
}

// runCommand runs cmd with stdin and returns stdout, stderr and the exit code.
func (s *service) runCommand(cmd *exec.Cmd, stdin string) (string, string, int) {
	s.t.Helper()
	args := cmd.Args
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	timer := time.AfterFunc(wait, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		s.t.Fatalf("tasktail %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// startCLI starts the binary and returns a function that waits for it.
func (s *service) startCLI(args ...string) func() (string, int) {
	s.t.Helper()
	cmd := exec.Command(tasktailBinary(s.t), args...)
	cmd.Env = append(cmd.Environ(), "TASKTAIL_SERVER="+s.base)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	return func() (string, int) {
		select {
		case <-done:
		case <-time.After(wait):
			s.t.Fatalf("tasktail %v did not exit", args)
		}
		return stdout.String(), cmd.ProcessState.ExitCode()
	}
}

func TestCLISendAndStatus(t *testing.T) {
	s := start(t, defaults())
	if _, stderr, code := s.cli("", "send", "cli", "--progress", "25", "rows", "1-100", "done"); code != 0 {
		t.Fatalf("send: exit %d: %s", code, stderr)
	}
	if _, stderr, code := s.cli("line one\nline two\nline three\n", "send", "cli", "--stdin", "--level", "debug"); code != 0 {
		t.Fatalf("send --stdin: exit %d: %s", code, stderr)
	}
	out, _, code := s.cli("", "status", "cli", "-o", "json")
	var st struct {
		LastSeq  uint64  `json:"last_seq"`
		Queued   int     `json:"queued"`
		Progress float64 `json:"progress"`
	}
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || st.LastSeq != 4 || st.Queued != 4 {
		t.Fatalf("status: exit %d %q %v", code, out, err)
	}
	v := s.watch("cli", "since=0")
	v.hello()
	logs := v.logs(4)
	if logs[0].Message != "rows 1-100 done" || logs[0].Progress != 25 || logs[3].Message != "line three" || logs[3].Level != "debug" {
		t.Fatalf("published %+v", logs)
	}
	if out, _, code := s.cli("", "status", "cli"); code != 0 || !strings.Contains(out, "last seq  4") {
		t.Fatalf("status text: exit %d %q", code, out)
	}
	if _, stderr, code := s.cli("", "send", "cli", "--level", "loud", "x"); code != 1 || !strings.Contains(stderr, "level") {
		t.Fatalf("bad level: exit %d %q", code, stderr)
	}
	if _, _, code := s.cli("", "send"); code != 2 {
		t.Fatalf("send without TASK: exit %d, want 2", code)
	}
}

func TestCLISendStdinFinished(t *testing.T) {
	s := start(t, defaults())
	if _, stderr, code := s.cli("a\nb\n", "send", "fin", "--stdin", "--finished", "--level", "success"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if st := s.status("fin"); st.num("last_seq") != 2 || st.body["finished"] != true {
		t.Fatalf("status %v, want 2 messages, finished", st.body)
	}
}

func TestCLITailExitCodes(t *testing.T) {
	s := start(t, defaults())
	cases := []struct {
		task, level string
		code        int
	}{{"ok-task", "success", 0}, {"err-task", "error", 1}, {"crit-task", "critical", 1}}
	for _, tc := range cases {
		s.publish(tc.task, "info", "working", 50, false)
		wait := s.startCLI("tail", tc.task)
		await(t, "tail connected", func() bool { return s.status(tc.task).body["connected"] == true })
		s.publish(tc.task, tc.level, "the end", 100, true)
		out, code := wait()
		if code != tc.code || !strings.Contains(out, "working") || !strings.Contains(out, "the end") {
			t.Fatalf("%s: exit %d, want %d; output %q", tc.task, code, tc.code, out)
		}
	}
	if _, _, code := s.cli("", "tail", "x", "--server", "http://127.0.0.1:1"); code != 2 {
		t.Fatalf("tail with no server: exit %d, want 2", code)
	}
}

func TestCLITailJSON(t *testing.T) {
	s := start(t, defaults())
	s.publish("j", "info", "a", 0, false)
	s.publish("j", "success", "b", 100, true)
	out, _, code := s.cli("", "tail", "j", "-o", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("exit %d, %d lines: %q", code, len(lines), out)
	}
	for i, want := range []string{"hello", "log", "log"} {
		var f struct{ Type string }
		if err := json.Unmarshal([]byte(lines[i]), &f); err != nil || f.Type != want {
			t.Fatalf("line %d %q: %v, want type %s", i, lines[i], err, want)
		}
	}
}

func TestCLIRun(t *testing.T) {
	s := start(t, defaults())
	stdout, stderr, code := s.cli("", "run", "job", "--", "sh", "-c", "echo first; echo oops >&2; echo second; exit 3")
	if code != 3 {
		t.Fatalf("exit %d, want the command's 3; stderr %q", code, stderr)
	}
	if stdout != "first\nsecond\n" || stderr != "oops\n" {
		t.Fatalf("passthrough: stdout %q stderr %q", stdout, stderr)
	}
	v := s.watch("job", "since=0")
	v.hello()
	logs := v.logs(4)
	byMessage := map[string]string{}
	for _, l := range logs {
		byMessage[l.Message] = string(l.Level)
	}
	if byMessage["first"] != "info" || byMessage["second"] != "info" || byMessage["oops"] != "warning" {
		t.Fatalf("published %+v", logs)
	}
	final := logs[3]
	if !final.Finished || final.Level != "error" || !strings.Contains(final.Message, "code 3") {
		t.Fatalf("final message %+v, want finished error with the code", final)
	}
	if _, _, code := s.cli("", "run", "ok", "--", "true"); code != 0 {
		t.Fatalf("run true: exit %d", code)
	}
	if st := s.status("ok"); st.body["finished"] != true || st.body["progress"] != 100.0 {
		t.Fatalf("status after success: %v", st.body)
	}
	if _, _, code := s.cli("", "run", "missing", "--", "/no/such/command"); code != 127 {
		t.Fatalf("run of a missing command: exit %d, want 127", code)
	}
}

// A job wrapped in run with the server unreachable: the command runs and its exit code is
// run's, and run gives up publishing --flush-timeout (2 s) after the command ends, saying
// how much was not delivered, instead of retrying each batch of lines in turn.
func TestCLIRunWithTheServerUnreachable(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there: every connection is refused
	cmd := exec.Command(tasktailBinary(t), "run", "job", "--", "sh", "-c", "echo out; echo err >&2; echo more; exit 4")
	cmd.Env = append(cmd.Environ(), "TASKTAIL_SERVER=http://"+addr, "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	_ = cmd.Run()
	took := time.Since(began)
	if code := cmd.ProcessState.ExitCode(); code != 4 || stdout.String() != "out\nmore\n" {
		t.Fatalf("exit %d stdout %q stderr %q, want the command's 4 and its output", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "3 lines and the final message were not delivered") {
		t.Fatalf("stderr %q does not say what was not delivered", stderr.String())
	}
	// The bound is 2 s after a command that ends at once; 8 s leaves room for a busy machine
	// and is well below the 12.8 s (two batches of 6.4 s of retries) that run took before.
	if took > 8*time.Second {
		t.Fatalf("run exited %v after it began; the command ends at once and --flush-timeout is 2 s", took)
	}
}

func TestCLIDelete(t *testing.T) {
	s := start(t, defaults())
	s.publish("d", "info", "x", 0, false)
	if _, stderr, code := s.cli("", "delete", "d"); code != 0 {
		t.Fatalf("delete: exit %d %s", code, stderr)
	}
	if _, stderr, code := s.cli("", "status", "d"); code != 1 || !strings.Contains(stderr, "not found") {
		t.Fatalf("status after delete: exit %d %q", code, stderr)
	}
}

func TestCLIRestart(t *testing.T) {
	s := start(t, defaults())
	s.publish("r", "success", "first run", 100, true)
	out, stderr, code := s.cli("", "restart", "r")
	if code != 0 || !strings.Contains(out, "r restarted: epoch ") {
		t.Fatalf("restart: exit %d %q %q", code, out, stderr)
	}
	if st := s.status("r"); st.body["finished"] != false || st.num("last_seq") != 0 || !strings.Contains(out, st.body["epoch"].(string)) {
		t.Fatalf("status after restart %v; restart printed %q", st.body, out)
	}
	if _, stderr, code := s.cli("", "restart", "nobody"); code != 1 || !strings.Contains(stderr, "not found") {
		t.Fatalf("restart of an unknown task: exit %d %q", code, stderr)
	}
}

func TestCLILogs(t *testing.T) {
	s := start(t, defaults())
	s.publish("l", "info", "first line", 10, false)
	s.publish("l", "success", "all done", 100, true)
	out, stderr, code := s.cli("", "logs", "l")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasSuffix(lines[0], " info first line") || !strings.HasSuffix(lines[1], " success all done") {
		t.Fatalf("logs: exit %d %q %q", code, out, stderr)
	}
	out, _, code = s.cli("", "logs", "l", "-o", "json")
	if code != 0 || strings.Count(out, `"type":"log"`) != 2 {
		t.Fatalf("logs -o json: exit %d %q", code, out)
	}
	if _, stderr, code := s.cli("", "logs", "nobody"); code != 1 || !strings.Contains(stderr, "not found") {
		t.Fatalf("logs of an unknown task: exit %d %q", code, stderr)
	}
}

// Rerunning a job id: run refuses a finished task before starting the command, naming
// --restart, which starts the task again so viewers see the new run.
func TestCLIRunRefusesAFinishedTaskUnlessRestarted(t *testing.T) {
	s := start(t, defaults())
	if _, _, code := s.cli("", "run", "nightly", "--", "echo", "first"); code != 0 {
		t.Fatalf("first run: exit %d", code)
	}
	epoch := s.status("nightly").body["epoch"]
	marker := filepath.Join(t.TempDir(), "ran")
	_, stderr, code := s.cli("", "run", "nightly", "--", "touch", marker)
	if code != 2 || !strings.Contains(stderr, "--restart") {
		t.Fatalf("rerun of a finished task: exit %d %q, want 2 naming --restart", code, stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the command ran although its task had finished")
	}
	if _, stderr, code := s.cli("", "run", "nightly", "--restart", "--", "echo", "second"); code != 0 {
		t.Fatalf("run --restart: exit %d %q", code, stderr)
	}
	st := s.status("nightly")
	if st.body["epoch"] == epoch || st.num("last_seq") != 2 || st.body["finished"] != true {
		t.Fatalf("after run --restart: %v, want a new epoch with the second run", st.body)
	}
	v := s.watch("nightly", "since=0")
	v.hello()
	if l := v.logs(1); l[0].Message != "second" {
		t.Fatalf("the restarted task's first line %+v", l[0])
	}
	// A level that does not exist is refused before the command starts.
	_, stderr, code = s.cli("", "run", "other", "--stderr-level", "fatal", "--", "touch", marker)
	if _, err := os.Stat(marker); code != 2 || err == nil || !strings.Contains(stderr, "--stderr-level") {
		t.Fatalf("--stderr-level fatal: exit %d %q, command ran: %v", code, stderr, err == nil)
	}
}

func TestCLIHelpHasExamples(t *testing.T) {
	s := start(t, defaults())
	for _, cmd := range []string{"serve", "send", "tail", "run", "status", "ls", "delete", "restart", "logs"} {
		stdout, stderr, code := s.cli("", cmd, "--help")
		if code != 0 || stderr != "" || !strings.Contains(stdout, "Example") || !strings.Contains(stdout, "--server") && cmd != "serve" {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q; want the help on stdout", cmd, code, stdout, stderr)
		}
	}
}

func TestCLIBench(t *testing.T) {
	s := start(t, defaults())
	for _, args := range [][]string{
		{"--tasks", "5", "--producers", "3", "--messages", "40"},
		{"--tasks", "5", "--producers", "3", "--messages", "40", "--batch", "10"},
		{"--tasks", "5", "--producers", "3", "--messages", "40", "--rate", "400"},
		{"--tasks", "5", "--producers", "3", "--messages", "40", "--stream", "--batch", "7"},
	} {
		out, stderr, code := s.bench(append([]string{"-o", "json"}, args...)...)
		var r struct {
			Messages, Delivered, Lost, Reordered int
			P99                                  float64 `json:"p99_ms"`
			CPU                                  float64 `json:"server_cpu_us_per_msg"`
			RSS                                  int64   `json:"server_rss_bytes"`
		}
		if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
			t.Fatalf("bench %v: exit %d %v\n%s%s", args, code, err, out, stderr)
		}
		if r.Messages != 120 || r.Delivered != 120 || r.Lost != 0 || r.Reordered != 0 || r.P99 <= 0 || r.CPU < 0 || r.RSS <= 0 {
			t.Fatalf("bench %v: %+v", args, r)
		}
	}
	if _, stderr, code := s.bench("--server", "http://192.0.2.1:8080"); code != 2 || !strings.Contains(stderr, "loopback") {
		t.Fatalf("bench against a non-loopback server: exit %d %q", code, stderr)
	}
}

// bench --idle-viewers holds that many viewers of one task at once and reports the RSS.
func TestCLIBenchIdleViewers(t *testing.T) {
	cfg := defaults()
	cfg.Actors.MaxViewersPerTask = 31
	s := start(t, cfg)
	out, stderr, code := s.bench("--idle-viewers", "30")
	if code != 0 || !strings.Contains(out, "server RSS per idle viewer: ") || !strings.Contains(out, "(30 viewers)") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// One more than the task allows: the viewers really are held at once, on one task.
	if _, stderr, code := s.bench("--idle-viewers", "31"); code != 2 || !strings.Contains(stderr, "viewer 30") {
		t.Fatalf("31 idle viewers past a limit of 31 with the baseline viewer: exit %d %q", code, stderr)
	}
	await(t, "viewers gone", func() bool { return s.srv.Manager().Stats().Sockets.Load() == 0 })
}

// Ctrl-C on tail ends it quietly with 130, as a shell does for an interrupted command.
func TestCLITailInterruptedExits130(t *testing.T) {
	s := start(t, defaults())
	s.publish("long", "info", "working", 10, false)
	cmd := s.cliCommand("tail", "long")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	await(t, "tail shows the first line", func() bool { return strings.Contains(stdout.String(), "working") })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 || stderr.String() != "" {
		t.Fatalf("tail after Ctrl-C: exit %d (%v), stderr %q; want 130 and nothing", code, err, stderr.String())
	}
}

// A one-letter flag is shown as -o and is not set by a TASKTAIL_O variable.
func TestCLIShortFlagsHaveNoVariable(t *testing.T) {
	s := start(t, defaults())
	help, _, _ := s.cli("", "status", "--help")
	if !strings.Contains(help, "\n  -o\n") || strings.Contains(help, "TASKTAIL_O") {
		t.Fatalf("status --help lists -o as %q", help)
	}
}

// send --stdin publishes a line as it arrives, not when the next one comes; with
// --finished a line that had to go is followed by a last message that ends the task.
func TestCLISendStdinPublishesEachLineAtOnce(t *testing.T) {
	s := start(t, defaults())
	for _, finished := range []bool{false, true} {
		id := fmt.Sprintf("stdin-%v", finished)
		args := []string{"send", id, "--stdin"}
		if finished {
			args = append(args, "--finished")
		}
		cmd := s.cliCommand(args...)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		io.WriteString(in, "step A started\n")
		await(t, "the first line published while input stays open", func() bool {
			st := s.status(id)
			return st.status == http.StatusOK && st.num("last_seq") == 1
		})
		io.WriteString(in, "B\n")
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("send --stdin: %v", err)
		}
		st := s.status(id)
		switch {
		case !finished && (st.num("last_seq") != 2 || st.body["finished"] != false):
			t.Fatalf("without --finished: %v", st.body)
		case finished && st.body["finished"] != true:
			t.Fatalf("with --finished: %v, want finished", st.body)
		}
	}
}

// A line over the message limit is split into parts (or cut, with a marker), and every
// other line is published, in order, through run and send --stdin alike.
func TestCLILongLinesArePublished(t *testing.T) {
	s := start(t, defaults())
	script := `for i in 1 2 3; do echo before$i; done; head -c 70000 /dev/zero | tr '\0' L; echo; for i in 1 2 3; do echo after$i; done`
	messages := func(taskID string) []string {
		t.Helper()
		var out []string
		for _, f := range frames(t, must(download(t, s.base, taskID, "ndjson"))) {
			out = append(out, f.Message)
		}
		return out
	}
	if _, stderr, code := s.cli("", "run", "split", "--", "sh", "-c", script); code != 0 {
		t.Fatalf("run: exit %d %q", code, stderr)
	}
	got := messages("split")
	if len(got) != 3+2+3+1 || got[2] != "before3" || len(got[3])+len(got[4]) != 70000 || got[5] != "after1" || got[7] != "after3" {
		t.Fatalf("run with a 70 KB line stored %d messages: %.40q", len(got), got)
	}
	if _, stderr, code := s.cli("", "run", "cut", "--long-lines", "cut", "--", "sh", "-c", script); code != 0 {
		t.Fatalf("run --long-lines cut: exit %d %q", code, stderr)
	}
	got = messages("cut")
	if len(got) != 3+1+3+1 || !strings.HasSuffix(got[3], " bytes cut]") || len(got[3]) > 64<<10 || got[4] != "after1" {
		t.Fatalf("run --long-lines cut stored %d messages: %.40q", len(got), got)
	}
	input := "a\n" + strings.Repeat("é", 40000) + "\nb\n" // 80 KB of two-byte runes
	if _, stderr, code := s.cli(input, "send", "stdin", "--stdin"); code != 0 {
		t.Fatalf("send --stdin: exit %d %q", code, stderr)
	}
	got = messages("stdin")
	if len(got) != 4 || got[0] != "a" || got[1]+got[2] != strings.Repeat("é", 40000) || got[3] != "b" {
		t.Fatalf("send --stdin with an 80 KB line stored %d messages", len(got))
	}
}

// A batch the server refuses for one line's sake is not dropped whole: the other lines
// are published, and the one refused is reported.
func TestCLIRefusedLineLosesOnlyItself(t *testing.T) {
	cfg := defaults()
	cfg.Actors.MaxMessageBytes = 1024 // smaller than the client believes
	s := start(t, cfg)
	input := "one\n" + strings.Repeat("x", 2000) + "\ntwo\n"
	_, stderr, _ := s.cli(input, "send", "refused", "--stdin")
	got := frames(t, must(download(t, s.base, "refused", "ndjson")))
	if len(got) != 2 || got[0].Message != "one" || got[1].Message != "two" || !strings.Contains(stderr, "too_large") {
		t.Fatalf("stored %+v, stderr %q; want one and two, and the long line reported", got, stderr)
	}
}

// A message without progress leaves the task's progress as it is; an explicit 0 sets 0;
// run --progress-pattern lifts progress from the command's output, and a failed run keeps
// the progress it reached.
func TestCLIProgressHolds(t *testing.T) {
	s := start(t, defaults())
	for _, args := range [][]string{{"--progress", "60", "rows"}, {"note: slow disk"}} {
		if _, stderr, code := s.cli("", append([]string{"send", "demo"}, args...)...); code != 0 {
			t.Fatalf("send %v: exit %d %q", args, code, stderr)
		}
	}
	if st := s.status("demo"); st.body["progress"] != 60.0 {
		t.Fatalf("progress after a message without one: %v, want 60", st.body["progress"])
	}
	v := s.watch("demo", "since=0")
	v.hello()
	if l := v.logs(2); l[1].Message != "note: slow disk" || l[1].Progress != 60 {
		t.Fatalf("the note's frame %+v, want progress 60", l[1])
	}
	s.cli("", "send", "demo", "--progress", "0", "back to zero")
	if st := s.status("demo"); st.body["progress"] != 0.0 {
		t.Fatalf("progress after an explicit 0: %v", st.body["progress"])
	}
	if r := s.publishRaw("demo", []byte(`{"level":"info","message":"no progress field"}`)); r.status != http.StatusAccepted {
		t.Fatalf("publish without progress: %d", r.status)
	}
	_, _, code := s.cli("", "run", "pattern", "--progress-pattern", `(\d+)%`, "--", "sh", "-c", "echo 10% read; echo 50% written; echo oops; exit 1")
	st := s.status("pattern")
	if code != 1 || st.body["progress"] != 50.0 || st.body["finished"] != true {
		t.Fatalf("run --progress-pattern that fails: exit %d, status %v; want 50%%, finished", code, st.body)
	}
}

// tail --since past the task's end says so, instead of "the task restarted".
func TestCLITailSincePastTheEnd(t *testing.T) {
	s := start(t, defaults())
	s.publishN("short", 1, 4)
	s.publish("short", "success", "done", 100, true)
	out, _, code := s.cli("", "tail", "short", "--since", "120")
	if code != 0 || !strings.Contains(out, "the task has 5 messages, none after 120") || strings.Contains(out, "restarted") {
		t.Fatalf("tail --since 120 of 5 messages: exit %d %q", code, out)
	}
}

// tasktail.js may be imported as a module by pages of other origins.
func TestTasktailJSServedForOtherOrigins(t *testing.T) {
	s := start(t, defaults())
	r := s.do(http.MethodGet, "/static/tasktail.js", "", nil)
	if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("tasktail.js: %d, Access-Control-Allow-Origin %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
}

// The start-up lines of a server with credentials show commands that carry them.
func TestServeBannerCarriesCredentials(t *testing.T) {
	cmd := exec.Command(tasktailBinary(t), "serve", "--addr", "127.0.0.1:0", "--journal", "memory",
		"--publish-keys", "a-publish-key-of-16+", "--token-secret", strings.Repeat("s", 32))
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	await(t, "the start-up lines", func() bool { return strings.Contains(out.String(), "journal:") })
	banner := out.String()
	if !strings.Contains(banner, `logs -H "Authorization: Bearer $TASKTAIL_KEY"`) || !strings.Contains(banner, "tasks/demo?token=") || strings.Contains(banner, "a-publish-key-of-16+") {
		t.Fatalf("banner %q", banner)
	}
}

// tail of a task nobody has published to says so on stderr after 2 s (a typo looks the
// same), then shows the first message when it comes; --wait keeps quiet.
func TestCLITailSaysItWaitsForTheFirstMessage(t *testing.T) {
	s := start(t, defaults())
	for _, quiet := range []bool{false, true} {
		id := fmt.Sprintf("later-%v", quiet)
		args := []string{"tail", id}
		if quiet {
			args = append(args, "--wait")
		}
		cmd := s.cliCommand(args...)
		var stdout, stderr syncBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if !quiet {
			await(t, "the waiting note", func() bool {
				return strings.Contains(stderr.String(), "waiting for the first message of "+id+": nobody has published to it yet")
			})
		} else {
			time.Sleep(3 * time.Second) // past the note's 2 s: what is asserted is its absence
		}
		s.publish(id, "success", "done", 100, true)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("tail: %v\n%s", err, stderr.String())
		}
		if !strings.Contains(stdout.String(), "done") {
			t.Fatalf("tail printed %q", stdout.String())
		}
		if quiet && stderr.String() != "" {
			t.Fatalf("tail --wait wrote %q", stderr.String())
		}
	}
}

// tail refused by the server says why and stops, instead of waiting for ever.
func TestCLITailSaysWhyItIsRefused(t *testing.T) {
	s := secured(t)
	s.with(testKey, http.MethodPost, "/v1/tasks/private/logs", `{"level":"info","message":"x"}`)
	expired, err := token.Mint([]byte(testSecret), "private", -time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, key, says string }{
		{"no token", "", "a subscribe token is required"},
		{"an expired token", expired, "the token has expired"},
		{"another task's token", mint(t, "other", time.Hour), "the token does not open this task"},
	} {
		cmd := s.cliCommand("tail", "private")
		cmd.Env = append(cmd.Env, "TASKTAIL_KEY="+tc.key)
		_, stderr, code := s.runCommand(cmd, "")
		if code != 2 || !strings.Contains(stderr, tc.says) {
			t.Errorf("%s: exit %d %q, want 2 saying %q", tc.name, code, stderr, tc.says)
		}
	}
}

// A token longer than a default server takes is minted, with a warning that says so.
func TestCLITokenWarnsPastTheDefaultMaxTTL(t *testing.T) {
	s := start(t, defaults())
	cmd := s.cliCommand("token", "import-*", "--ttl", "48h")
	cmd.Env = append(cmd.Env, "TASKTAIL_TOKEN_SECRET="+testSecret)
	out, stderr, code := s.runCommand(cmd, "")
	if code != 0 || strings.Count(out, ".") != 2 || !strings.Contains(stderr, "--max-token-ttl") {
		t.Fatalf("token --ttl 48h: exit %d %q %q", code, out, stderr)
	}
}
