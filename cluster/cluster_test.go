//go:build !race

// The actor library races with itself inside a cluster member (its identity lookup and
// member list are read without locks), so these tests run without -race: `make test`
// runs them in a pass of their own.

package cluster_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	"github.com/tasktail/tasktail/cluster"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// newClusterManager starts a Manager as the only member of an automanaged cluster on
// 127.0.0.1. One member in the process keeps the library's own data races out of -race
// (the library's disthash and member list race even with one member talking to
// another); tests with several members run them as processes (tests/).
func newClusterManager(t *testing.T, cfg actors.Config, opts actors.Options) *actors.Manager {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	health := ln.Addr().String()
	ln.Close()
	c, err := cluster.New(cluster.Config{Name: "unit", Host: "127.0.0.1", Provider: cluster.ProviderAutomanaged,
		AutomanagedAddr: health, Peers: []string{health}, AttemptTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	opts.Cluster = c
	m := actortest.NewManager(t, cfg, opts, wait)
	actortest.AwaitCondition(t, wait, "member sees itself", func() bool {
		members, self, ok := m.ClusterMembers()
		return ok && len(members) == 1 && members[0] == self
	})
	return m
}

// The task actor keeps the original's rules as a grain; only what the local Registry does
// around it (not-found answers, refusals, passivation, panics) is the grain's own.
func TestClusterGrainSemantics(t *testing.T) {
	m := newClusterManager(t, actors.Config{MaxFailures: 2, MaxTasks: 3},
		actors.Options{TaskMiddleware: []actor.ReceiverMiddleware{panicOnBoom}})
	ctx := context.Background()
	_, self, _ := m.ClusterMembers()

	t.Run("status and delete of an unknown task leave nothing behind", func(t *testing.T) {
		if _, err := m.Status(ctx, "nobody"); !errors.Is(err, actors.ErrNotFound) {
			t.Fatalf("status: %v, want ErrNotFound", err)
		}
		if err := m.Disconnect(ctx, "nobody"); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := m.Restart(ctx, "nobody"); !errors.Is(err, actors.ErrNotFound) {
			t.Fatalf("restart: %v, want ErrNotFound", err)
		}
		actortest.AwaitCondition(t, wait, "no task actor left", func() bool { return m.Stats().LiveTasks.Load() == 0 })
	})

	t.Run("queue, flush and status through the grain", func(t *testing.T) {
		sendN(t, m, "q", 1, 3)
		st, err := m.Status(ctx, "q")
		if err != nil || st.Queued != 3 || st.Member != self {
			t.Fatalf("status: %+v, %v; want 3 queued on %s", st, err, self)
		}
		s := actortest.Connect(t, m, "q", wait)
		if seqs := logSeqs(t, actortest.DecodeFrames(t, s.WaitFrames(t, 4, wait))); len(seqs) != 3 || seqs[2] != 3 {
			t.Fatalf("flushed %v, want 1..3", seqs)
		}
		epoch, err := m.Restart(ctx, "q")
		if err != nil || epoch == st.Epoch {
			t.Fatalf("restart: %q, %v; want a new epoch", epoch, err)
		}
		if ack, err := m.SendLog(ctx, "q", v1.Level_LEVEL_INFO, "again", 0, false); err != nil || ack.FirstSeq != 1 || ack.Epoch != epoch {
			t.Fatalf("publish after restart: %+v, %v", ack, err)
		}
		if err := m.Disconnect(ctx, "q"); err != nil {
			t.Fatal(err)
		}
		if code, reason := s.WaitClosed(t, wait); code != wire.CloseNormal || reason != "task deleted" {
			t.Fatalf("closed %d %q", code, reason)
		}
	})

	t.Run("a panic drops one message and keeps the queue; the budget stops the task", func(t *testing.T) {
		sendN(t, m, "p", 1, 2)
		if _, err := m.SendLog(ctx, "p", v1.Level_LEVEL_INFO, "boom", 0, false); !errors.Is(err, actors.ErrTaskFailed) {
			t.Fatalf("panicking publish: %v, want ErrTaskFailed", err)
		}
		if n := queued(t, m, "p"); n != 2 {
			t.Fatalf("queued after a panic = %d, want 2", n)
		}
		for range 2 {
			if _, err := m.SendLog(ctx, "p", v1.Level_LEVEL_INFO, "boom", 0, false); !errors.Is(err, actors.ErrTaskFailed) {
				t.Fatalf("publish: %v", err)
			}
		}
		actortest.AwaitCondition(t, wait, "task stopped after its budget", func() bool {
			_, err := m.Status(ctx, "p")
			return errors.Is(err, actors.ErrNotFound)
		})
		if got := m.Stats().TasksStopped.Load(); got != 1 {
			t.Fatalf("tasks stopped = %d", got)
		}
	})

	t.Run("a member at its task limit refuses new tasks", func(t *testing.T) {
		for _, id := range []string{"t1", "t2", "t3"} {
			sendN(t, m, id, 1, 1)
		}
		if _, err := m.SendLog(ctx, "t4", v1.Level_LEVEL_INFO, "m1", 0, false); !errors.Is(err, actors.ErrTooManyTasks) {
			t.Fatalf("fourth task: %v, want ErrTooManyTasks", err)
		}
		sendN(t, m, "t1", 2, 2) // existing tasks still take messages
		// A viewer of a task nobody published to waits without a task slot, and gets the
		// first publish once there is room.
		sock := actortest.NewFakeSocket()
		if err := m.Connect(ctx, "t4", sock); err != nil {
			t.Fatalf("a viewer of a fourth task: %v", err)
		}
		if _, err := m.Status(ctx, "t4"); !errors.Is(err, actors.ErrNotFound) {
			t.Fatalf("status of a task only viewed: %v, want ErrNotFound", err)
		}
		if ok, err := m.ConnectionStatus(ctx, "t4"); !ok || err != nil {
			t.Fatalf("connection status of a task only viewed: %v %v", ok, err)
		}
		if err := m.Disconnect(ctx, "t3"); err != nil {
			t.Fatal(err)
		}
		sendN(t, m, "t4", 1, 1)
		if frames := actortest.DecodeFrames(t, sock.WaitFrames(t, 2, wait)); frames[1].Message != "m1" {
			t.Fatalf("the waiting viewer got %v", frames)
		}
	})
}

// An idle grain passivates without losing a message sent while it decides to.
func TestClusterGrainPassivates(t *testing.T) {
	m := newClusterManager(t, actors.Config{IdleTTL: 50 * time.Millisecond}, actors.Options{})
	ctx := context.Background()
	sendN(t, m, "idle", 1, 1)
	actortest.AwaitCondition(t, wait, "idle task passivated", func() bool {
		_, err := m.Status(ctx, "idle")
		return errors.Is(err, actors.ErrNotFound)
	})
	if m.Stats().TasksPassivated.Load() == 0 {
		t.Fatal("passivation not counted")
	}
	// A task that keeps getting messages past its TTL stays the same incarnation.
	deadline := time.Now().Add(300 * time.Millisecond)
	n := 0
	for time.Now().Before(deadline) {
		n++
		if ack, err := m.SendLog(ctx, "busy", v1.Level_LEVEL_INFO, "m", 0, false); err != nil {
			t.Fatalf("publish %d: %v", n, err)
		} else if ack.LastSeq != uint64(n) {
			// A new incarnation would start again at 1.
			t.Fatalf("publish %d got seq %d", n, ack.LastSeq)
		}
	}
}
