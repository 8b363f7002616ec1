package tests

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMetricsExposeTheServiceCounters(t *testing.T) {
	s := start(t, defaults())
	v := s.watch("m", "")
	v.hello()
	s.publish("m", "info", "one", 0, false)
	v.logs(1)
	s.publish("q", "info", "queued", 0, false)
	body := s.metrics()
	for _, want := range []string{
		"tasktail_tasks_live 2", "tasktail_viewers 1", "tasktail_messages_published_total 2",
		"tasktail_messages_queued_total 1", "tasktail_frames_delivered_total 2", "tasktail_messages_trimmed_total 0",
		"tasktail_slow_consumer_closes_total 0", "tasktail_auth_failures_total 0", "tasktail_task_panics_total 0",
		"tasktail_publish_duration_seconds_count 2", "process_resident_memory_bytes", "go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// With a journal, the metrics say how many commits it wrote and how many task writes they
// carried: how many publishes share one sync.
func TestMetricsCountJournalCommits(t *testing.T) {
	s := start(t, durableDefaults(t))
	s.publish("a", "info", "one", 0, false)
	s.publish("b", "info", "two", 0, false)
	body := s.metrics()
	var commits, appends float64
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "tasktail_journal_commits_total "); ok {
			commits, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "tasktail_journal_appends_total "); ok {
			appends, _ = strconv.ParseFloat(v, 64)
		}
	}
	if commits < 1 || appends < 2 || commits > appends {
		t.Fatalf("journal commits %v, appends %v: want at least one commit and the two publishes", commits, appends)
	}
	if strings.Contains(start(t, defaults()).metrics(), "tasktail_journal_") {
		t.Fatal("a server without a journal shows journal metrics")
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLogsCarryNoTokensKeysOrBodies(t *testing.T) {
	var logs syncBuffer
	cfg := defaults()
	cfg.PublishKeys = []string{testKey}
	cfg.TokenSecret = []byte(testSecret)
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := start(t, cfg)
	tok := mint(t, "secret-task", time.Hour)
	s.with(testKey, "POST", "/v1/tasks/secret-task/logs", `{"level":"info","message":"the body text"}`)
	s.with("pk-wrong-key-000000", "POST", "/v1/tasks/secret-task/logs", `{"level":"info","message":"refused body"}`)
	s.with(tok, "GET", "/v1/tasks/other", "")
	s.with(testKey, "POST", "/v1/tasks/secret-task/logs", `{"level":"loud","message":"invalid body"}`)
	v := s.watch("secret-task", "token="+tok)
	v.hello()
	s.shutdown()
	out := logs.String()
	if !strings.Contains(out, `"remote"`) || !strings.Contains(out, `"task_id":"secret-task"`) {
		t.Fatalf("logs lack task_id and remote address:\n%s", out)
	}
	for _, secret := range []string{testKey, "pk-wrong-key", tok, testSecret, "the body text", "refused body", "invalid body"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

func TestSystemdUnitVerifies(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	unit, err := os.ReadFile("../deploy/tasktail.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/tasktail", tasktailBinary(t))
	text = strings.ReplaceAll(text, "/etc/tasktail/tasktail.env", filepath.Join(dir, "tasktail.env"))
	if err := os.WriteFile(filepath.Join(dir, "tasktail.service"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", filepath.Join(dir, "tasktail.service")).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The install lines in the unit's header, as written, under a fresh root that has what a
// systemd machine has (/usr/local/bin, /etc/systemd/system) and no /etc/tasktail.
func TestSystemdUnitInstallLinesWork(t *testing.T) {
	unit, err := os.ReadFile("../deploy/tasktail.service")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, d := range []string{"usr/local/bin", "etc/systemd/system"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var ran int
	for _, line := range strings.Split(string(unit), "\n") {
		cmd, ok := strings.CutPrefix(line, "#   install ")
		if !ok {
			continue
		}
		cmd, _, _ = strings.Cut(cmd, "#") // the line's own comment
		cmd = strings.ReplaceAll("install "+cmd, " /", " "+root+"/")
		cmd = strings.Replace(cmd, " bin/tasktail ", " "+tasktailBinary(t)+" ", 1)
		shell(t, "..", cmd)
		ran++
	}
	for _, f := range []string{"usr/local/bin/tasktail", "etc/systemd/system/tasktail.service", "etc/tasktail/tasktail.env"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("after the %d install lines: %v", ran, err)
		}
	}
}
