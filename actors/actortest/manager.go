package actortest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/client"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// NewManager starts a Manager that is shut down when t ends, within shutdown (a test of
// thousands of tasks on a loaded machine with -race needs more than a few seconds: how
// fast is a benchmark's question, not a test's).
func NewManager(t testing.TB, cfg actors.Config, opts actors.Options, shutdown time.Duration) *actors.Manager {
	t.Helper()
	m, err := actors.NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdown)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return m
}

// SendN publishes messages "m<from>" to "m<to>" to a task, one at a time.
func SendN(t testing.TB, m *actors.Manager, taskID string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := m.SendLog(context.Background(), taskID, v1.Level_LEVEL_INFO, fmt.Sprintf("m%d", i), 0, false); err != nil {
			t.Fatalf("send m%d: %v", i, err)
		}
	}
}

// Queued is the task's queued count.
func Queued(t testing.TB, m *actors.Manager, taskID string) int {
	t.Helper()
	n, err := m.QueuedCount(context.Background(), taskID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// LogSeqs returns the seqs of the log frames, failing on a frame out of seq order.
func LogSeqs(t testing.TB, frames []client.Event) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, f := range frames {
		if f.Type != "log" {
			continue
		}
		if len(seqs) > 0 && f.Seq <= seqs[len(seqs)-1] {
			t.Fatalf("seq %d after %d", f.Seq, seqs[len(seqs)-1])
		}
		seqs = append(seqs, f.Seq)
	}
	return seqs
}

// Connect attaches a fake socket to the task and waits for its hello.
func Connect(t testing.TB, m *actors.Manager, taskID string, within time.Duration) *FakeSocket {
	t.Helper()
	s := NewFakeSocket()
	if err := m.Connect(context.Background(), taskID, s); err != nil {
		t.Fatal(err)
	}
	s.WaitFrames(t, 1, within) // hello
	return s
}
