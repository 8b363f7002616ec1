package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	"github.com/tasktail/tasktail/client"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

func TestMain(m *testing.M) { actortest.VerifyNoLeaks(m) }

const wait = 5 * time.Second

func newManager(t *testing.T, cfg actors.Config, opts actors.Options) *actors.Manager {
	t.Helper()
	m, err := actors.NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return m
}

// logSeqs returns the seqs of the log frames, failing on a frame out of seq order.
func logSeqs(t *testing.T, frames []client.Event) []uint64 {
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

// panicOnBoom makes a task grain panic on a publish whose first message is "boom".
func panicOnBoom(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
		if p, ok := env.Message.(*v1.Publish); ok && p.Entries[0].Message == "boom" {
			panic("boom")
		}
		next(ctx, env)
	}
}

func sendN(t *testing.T, m *actors.Manager, taskID string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := m.SendLog(context.Background(), taskID, v1.Level_LEVEL_INFO, fmt.Sprintf("m%d", i), 0, false); err != nil {
			t.Fatalf("send m%d: %v", i, err)
		}
	}
}

func connect(t *testing.T, m *actors.Manager, taskID string) *actortest.FakeSocket {
	t.Helper()
	s := actortest.NewFakeSocket()
	if err := m.Connect(context.Background(), taskID, s); err != nil {
		t.Fatal(err)
	}
	s.WaitFrames(t, 1, wait) // hello
	return s
}

func queued(t *testing.T, m *actors.Manager, taskID string) int {
	t.Helper()
	n, err := m.QueuedCount(context.Background(), taskID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
