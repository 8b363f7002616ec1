package tests

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tasktail/tasktail/journal/journaltest"
)

// A write-ahead log damaged after a crash: the server refuses to start, saying why and
// how to go on; with --accept-journal-loss it starts, and the task has a new epoch, so
// no seq is used twice in one epoch.
func TestJournalDamagedLogRefusedThenAccepted(t *testing.T) {
	dir := t.TempDir()
	m := startDurable(t, "before", dir)
	client := &http.Client{Timeout: 5 * time.Second}
	for n := range 300 {
		if _, err := publishQuietly(client, m.base, "w1", fmt.Sprintf("m%d", n)); err != nil {
			t.Fatal(err)
		}
	}
	before := m.status("w1")
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	m.exited <- <-m.exited

	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) == 0 {
		t.Fatal("no write-ahead log")
	}
	wal := logs[len(logs)-1]
	if err := journaltest.DamageMidFile(wal); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(tasktailBinary(t), "serve", "--addr", "127.0.0.1:0", "--data-dir", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("serve exited 0 on a damaged write-ahead log")
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("serve started on a damaged write-ahead log:\n%s", stderr.String())
	}
	if out := stderr.String(); !strings.Contains(out, "write-ahead log") || !strings.Contains(out, "--accept-journal-loss") {
		t.Fatalf("serve's refusal does not say why or how to go on:\n%s", out)
	}

	after := startDurable(t, "accepting", dir, "--accept-journal-loss")
	st := after.status("w1")
	if st.body["epoch"] == before.body["epoch"] {
		t.Fatalf("epoch %v kept after losing part of the log", st.body["epoch"])
	}
	last := st.num("last_seq")
	if last == 0 || last >= before.num("last_seq") {
		t.Fatalf("last_seq %d after the loss, want between 1 and %d", last, before.num("last_seq")-1)
	}
	seq, err := publishQuietly(client, after.base, "w1", "after")
	if err != nil || seq != last+1 {
		t.Fatalf("next publish got seq %d (%v), want %d", seq, err, last+1)
	}
}
