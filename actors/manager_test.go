package actors_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	"github.com/tasktail/tasktail/client"
	"github.com/tasktail/tasktail/journal/journaltest"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
	"google.golang.org/protobuf/proto"
)

const wait = 5 * time.Second

// The Manager test kit (actortest), with this package's patience.
var (
	sendN   = actortest.SendN
	queued  = actortest.Queued
	logSeqs = actortest.LogSeqs
)

func newManager(t *testing.T, cfg actors.Config, opts actors.Options) *actors.Manager {
	return actortest.NewManager(t, cfg, opts, wait)
}

func connect(t *testing.T, m *actors.Manager, taskID string) *actortest.FakeSocket {
	return actortest.Connect(t, m, taskID, wait)
}

func TestQueueFlushedInOrderOnConnect(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	ctx := context.Background()
	sendN(t, m, "t1", 1, 3)
	if n := queued(t, m, "t1"); n != 3 {
		t.Fatalf("queued = %d, want 3", n)
	}
	if ok, _ := m.ConnectionStatus(ctx, "t1"); ok {
		t.Fatal("connected before any socket")
	}
	s := actortest.NewFakeSocket()
	if err := m.Connect(ctx, "t1", s); err != nil {
		t.Fatal(err)
	}
	frames := actortest.DecodeFrames(t, s.WaitFrames(t, 4, wait))
	if frames[0].Type != "hello" || frames[0].LastSeq != 3 {
		t.Fatalf("first frame %+v, want hello with last_seq 3", frames[0])
	}
	for i, f := range frames[1:] {
		if f.Type != "log" || f.Message != fmt.Sprintf("m%d", i+1) || f.Seq != uint64(i+1) {
			t.Fatalf("frame %d = %+v", i+1, f)
		}
	}
	if n := queued(t, m, "t1"); n != 0 {
		t.Fatalf("queued after connect = %d, want 0", n)
	}
	if ok, err := m.ConnectionStatus(ctx, "t1"); err != nil || !ok {
		t.Fatalf("connection status = %v, %v; want true", ok, err)
	}
}

func TestUnknownTaskHasNoQueueAndNoConnection(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	ctx := context.Background()
	if n := queued(t, m, "nobody"); n != 0 {
		t.Fatalf("queued = %d", n)
	}
	if ok, err := m.ConnectionStatus(ctx, "nobody"); ok || err != nil {
		t.Fatalf("status = %v, %v", ok, err)
	}
	if _, err := m.Status(ctx, "nobody"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("Status err = %v, want ErrNotFound", err)
	}
	// Asking must not create the task.
	if _, err := m.Status(ctx, "nobody"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("second Status err = %v, want ErrNotFound", err)
	}
}

func TestTrimRule(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	for _, step := range []struct{ sent, want int }{{100, 100}, {101, 50}, {102, 51}, {120, 69}} {
		prev := 0
		if step.sent > 100 {
			prev = map[int]int{101: 100, 102: 101, 120: 102}[step.sent]
		}
		sendN(t, m, "trim", prev+1, step.sent)
		if n := queued(t, m, "trim"); n != step.want {
			t.Fatalf("after %d messages queued = %d, want %d", step.sent, n, step.want)
		}
	}
	s := actortest.NewFakeSocket()
	if err := m.Connect(context.Background(), "trim", s); err != nil {
		t.Fatal(err)
	}
	frames := actortest.DecodeFrames(t, s.WaitFrames(t, 1+1+69, wait))
	gap := frames[1]
	if gap.Type != "gap" || gap.FromSeq != 1 || gap.ToSeq != 51 || gap.Reason != "trimmed" {
		t.Fatalf("frame after hello = %+v, want gap 1-51 trimmed", gap)
	}
	seqs := logSeqs(t, frames)
	if len(seqs) != 69 || seqs[0] != 52 || seqs[68] != 120 {
		t.Fatalf("kept seqs = %d from %d to %d, want 69 from 52 to 120", len(seqs), seqs[0], seqs[len(seqs)-1])
	}
}

func TestBatchTrimsAsIfSentOneByOne(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	entries := make([]*v1.LogInput, 120)
	for i := range entries {
		entries[i] = &v1.LogInput{Level: v1.Level_LEVEL_INFO, Message: "x"}
	}
	ack, err := m.Publish(context.Background(), "b", entries)
	if err != nil || ack.FirstSeq != 1 || ack.LastSeq != 120 || !ack.Queued {
		t.Fatalf("ack = %+v, %v", ack, err)
	}
	if n := queued(t, m, "b"); n != 69 {
		t.Fatalf("queued = %d, want 69", n)
	}
}

func TestLiveDeliveryToEveryViewer(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	a, b := connect(t, m, "live"), connect(t, m, "live")
	for i := 1; i <= 20; i++ {
		ack, err := m.SendLog(context.Background(), "live", v1.Level_LEVEL_INFO, fmt.Sprint(i), float64(i), false)
		if err != nil || ack.Queued || ack.LastSeq != uint64(i) {
			t.Fatalf("ack %d = %+v, %v; want seq %d not queued", i, ack, err, i)
		}
	}
	for name, s := range map[string]*actortest.FakeSocket{"a": a, "b": b} {
		frames := actortest.DecodeFrames(t, s.WaitFrames(t, 21, wait))
		if seqs := logSeqs(t, frames); len(seqs) != 20 {
			t.Fatalf("viewer %s got %d log frames, want 20", name, len(seqs))
		}
		for _, f := range frames[1:] { // ParseEvent has checked RFC 3339
			if f.Timestamp.Location() != time.UTC || time.Since(f.Timestamp) > time.Minute {
				t.Fatalf("timestamp %v: want now, in UTC (Z)", f.Timestamp)
			}
		}
	}
}

func TestFailedViewerIsRemovedOthersKeepReceiving(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	good, bad := connect(t, m, "f"), connect(t, m, "f")
	bad.Fail()
	sendN(t, m, "f", 1, 5)
	bad.WaitClosed(t, wait)
	actortest.AwaitCondition(t, wait, "failed viewer removed", func() bool {
		st, err := m.Status(context.Background(), "f")
		return err == nil && st.Subscribers == 1
	})
	sendN(t, m, "f", 6, 10)
	if seqs := logSeqs(t, actortest.DecodeFrames(t, good.WaitFrames(t, 11, wait))); len(seqs) != 10 {
		t.Fatalf("good viewer got %d messages, want 10", len(seqs))
	}
	if got := m.Stats().WriteFailures.Load(); got != 1 {
		t.Fatalf("write failures = %d, want 1", got)
	}
}

func serve(t *testing.T, m *actors.Manager, taskID string, from actors.Resume) *actortest.FakeSocket {
	t.Helper()
	s := actortest.NewFakeSocket()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	a, err := m.Attach(ctx, taskID, from)
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	go func() { done <- a.Run(ctx, s) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

func TestResumeReplaysHistory(t *testing.T) {
	m := newManager(t, actors.Config{QueueLimit: 10, QueueKeep: 5, HistoryLimit: 20}, actors.Options{})
	sendN(t, m, "r", 1, 30) // history keeps 11..30
	st, err := m.Status(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		from      actors.Resume
		wantGap   *client.Event
		wantFirst uint64
	}{
		{"since 0 replays all retained", actors.Resume{Replay: true}, &client.Event{FromSeq: 1, ToSeq: 10, Reason: "history"}, 11},
		{"since inside history", actors.Resume{Replay: true, Since: 25, Epoch: st.Epoch}, nil, 26},
		{"since before history", actors.Resume{Replay: true, Since: 5, Epoch: st.Epoch}, &client.Event{FromSeq: 6, ToSeq: 10, Reason: "history"}, 11},
		{"stale epoch", actors.Resume{Replay: true, Since: 25, Epoch: "old"}, &client.Event{FromSeq: 26, Reason: "epoch"}, 0},
		{"since beyond last seq", actors.Resume{Replay: true, Since: 99}, &client.Event{FromSeq: 100, Reason: "epoch"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, m, "r", tc.from)
			want := 1 + 30 - int(max(tc.wantFirst, 11)) + 1
			if tc.wantGap != nil {
				want++
			}
			if tc.wantFirst == 0 { // an epoch gap, then a history gap, then all retained
				want = 1 + 1 + 1 + 20
			}
			frames := actortest.DecodeFrames(t, s.WaitFrames(t, want, wait))
			if frames[0].Type != "hello" || frames[0].Epoch != st.Epoch {
				t.Fatalf("first frame %+v, want hello of epoch %s", frames[0], st.Epoch)
			}
			if tc.wantGap != nil {
				g := frames[1]
				if g.Type != "gap" || g.FromSeq != tc.wantGap.FromSeq || g.ToSeq != tc.wantGap.ToSeq || g.Reason != tc.wantGap.Reason {
					t.Fatalf("gap = %+v, want %+v", g, *tc.wantGap)
				}
			}
			seqs := logSeqs(t, frames)
			if seqs[0] != max(tc.wantFirst, 11) || seqs[len(seqs)-1] != 30 {
				t.Fatalf("replayed %v, want %d..30", seqs, max(tc.wantFirst, 11))
			}
			if len(frames) != want {
				t.Fatalf("got %d frames, want %d", len(frames), want)
			}
		})
	}
}

func TestDeleteClosesViewersAndStartsNewEpoch(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	ctx := context.Background()
	sendN(t, m, "d", 1, 3)
	s := connect(t, m, "d")
	st, _ := m.Status(ctx, "d")
	if err := m.Disconnect(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if code, reason := s.WaitClosed(t, wait); code != wire.CloseNormal || reason != "task deleted" {
		t.Fatalf("close = %d %q", code, reason)
	}
	if _, err := m.Status(ctx, "d"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("status after delete: %v, want ErrNotFound", err)
	}
	if err := m.Disconnect(ctx, "d"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	ack, err := m.SendLog(ctx, "d", v1.Level_LEVEL_INFO, "again", 0, false)
	if err != nil || ack.LastSeq != 1 || ack.Epoch == st.Epoch {
		t.Fatalf("publish after delete: %+v, %v; want seq 1 in a new epoch", ack, err)
	}
}

func TestFinishedClosesViewersAndRefusesPublishes(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	ctx := context.Background()
	s := connect(t, m, "fin")
	if _, err := m.SendLog(ctx, "fin", v1.Level_LEVEL_SUCCESS, "done", 100, true); err != nil {
		t.Fatal(err)
	}
	if code, reason := s.WaitClosed(t, wait); code != wire.CloseNormal || reason != "task finished" {
		t.Fatalf("close = %d %q", code, reason)
	}
	frames := actortest.DecodeFrames(t, s.Frames())
	if last := frames[len(frames)-1]; !last.Finished || last.Progress != 100 {
		t.Fatalf("last frame %+v, want the finished message", last)
	}
	if _, err := m.SendLog(ctx, "fin", v1.Level_LEVEL_INFO, "late", 0, false); !errors.Is(err, actors.ErrTaskFinished) {
		t.Fatalf("publish after finish: %v, want ErrTaskFinished", err)
	}
	// A late viewer still sees the end, then is closed.
	late := serve(t, m, "fin", actors.Resume{Replay: true})
	if code, _ := late.WaitClosed(t, wait); code != wire.CloseNormal {
		t.Fatalf("late viewer closed with %d", code)
	}
	if f := actortest.DecodeFrames(t, late.Frames()); len(f) != 2 || !f[0].Finished || !f[1].Finished {
		t.Fatalf("late viewer frames %+v, want hello(finished) and the finished message", f)
	}
}

func TestSlowConsumerClosedOthersUnaffected(t *testing.T) {
	const buffer, sent = 1024, 2500
	m := newManager(t, actors.Config{SocketBuffer: buffer}, actors.Options{})
	fast, slow := connect(t, m, "slow"), connect(t, m, "slow")
	slow.Stall()
	sendN(t, m, "slow", 1, sent)
	if seqs := logSeqs(t, actortest.DecodeFrames(t, fast.WaitFrames(t, 1+sent, wait))); len(seqs) != sent {
		t.Fatalf("fast viewer got %d, want %d", len(seqs), sent)
	}
	slow.Release()
	if code, reason := slow.WaitClosed(t, wait); code != wire.CloseTryAgainLater || reason != "slow consumer" {
		t.Fatalf("slow viewer closed with %d %q, want 1013", code, reason)
	}
	// The stalled write plus at most the buffer: nothing beyond the bound was kept for it.
	if got := len(slow.Frames()); got > 1+1+buffer {
		t.Fatalf("slow viewer was written %d frames; its buffer holds %d", got, buffer)
	}
	if got := m.Stats().SlowConsumers.Load(); got != 1 {
		t.Fatalf("slow consumers = %d", got)
	}
}

// panicOnBoom makes a task actor panic on a publish whose first message is "boom": a
// *actors.PublishCall on a single node, a *v1.Publish in a cluster.
func panicOnBoom(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
		first := ""
		switch m := env.Message.(type) {
		case *actors.PublishCall:
			_, first, _, _ = m.Entry(0)
		case *v1.Publish:
			first = m.Entries[0].Message
		}
		if first == "boom" {
			panic("boom")
		}
		next(ctx, env)
	}
}

func TestPanicKeepsQueueAndOtherTasks(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{TaskMiddleware: []actor.ReceiverMiddleware{panicOnBoom}})
	ctx := context.Background()
	sendN(t, m, "p", 1, 3)
	sendN(t, m, "other", 1, 2)
	if _, err := m.SendLog(ctx, "p", v1.Level_LEVEL_INFO, "boom", 0, false); !errors.Is(err, actors.ErrTaskFailed) {
		t.Fatalf("panicking publish: %v, want ErrTaskFailed", err)
	}
	sendN(t, m, "p", 4, 4)
	if n := queued(t, m, "p"); n != 4 {
		t.Fatalf("queued after panic = %d, want 4", n)
	}
	if n := queued(t, m, "other"); n != 2 {
		t.Fatalf("other task queued = %d, want 2", n)
	}
	s := connect(t, m, "p")
	if seqs := logSeqs(t, actortest.DecodeFrames(t, s.WaitFrames(t, 5, wait))); len(seqs) != 4 || seqs[3] != 4 {
		t.Fatalf("flushed %v, want 1..4", seqs)
	}
	if got := m.Stats().TaskPanics.Load(); got != 1 {
		t.Fatalf("panics counted = %d", got)
	}
}

func TestPanicBudgetStopsTask(t *testing.T) {
	m := newManager(t, actors.Config{MaxFailures: 2}, actors.Options{TaskMiddleware: []actor.ReceiverMiddleware{panicOnBoom}})
	ctx := context.Background()
	sendN(t, m, "bad", 1, 1)
	for range 3 {
		if _, err := m.SendLog(ctx, "bad", v1.Level_LEVEL_INFO, "boom", 0, false); !errors.Is(err, actors.ErrTaskFailed) {
			t.Fatalf("publish: %v", err)
		}
	}
	actortest.AwaitCondition(t, wait, "task stopped after its budget", func() bool {
		_, err := m.Status(ctx, "bad")
		return errors.Is(err, actors.ErrNotFound)
	})
	if ack, err := m.SendLog(ctx, "bad", v1.Level_LEVEL_INFO, "fresh", 0, false); err != nil || ack.LastSeq != 1 {
		t.Fatalf("publish to a new incarnation: %+v, %v", ack, err)
	}
}

func TestIdleAndFinishedTasksArePassivated(t *testing.T) {
	m := newManager(t, actors.Config{IdleTTL: 100 * time.Millisecond, FinishedTTL: 150 * time.Millisecond}, actors.Options{})
	ctx := context.Background()
	sendN(t, m, "idle", 1, 1)
	if _, err := m.SendLog(ctx, "done", v1.Level_LEVEL_SUCCESS, "end", 100, true); err != nil {
		t.Fatal(err)
	}
	watched := connect(t, m, "watched")
	sendN(t, m, "watched", 1, 1)
	for _, id := range []string{"idle", "done"} {
		actortest.AwaitCondition(t, wait, id+" passivated", func() bool {
			_, err := m.Status(ctx, id)
			return errors.Is(err, actors.ErrNotFound)
		})
	}
	// A task with a viewer stays, however long it is idle.
	if ok, err := m.ConnectionStatus(ctx, "watched"); !ok || err != nil {
		t.Fatalf("watched task: %v, %v", ok, err)
	}
	if _, _, closed := watched.CloseCode(); closed {
		t.Fatal("viewer of an idle task was closed")
	}
	if got := m.Stats().LiveTasks.Load(); got != 1 {
		t.Fatalf("live tasks = %d, want 1", got)
	}
}

func TestShutdownClosesSocketsGoingAway(t *testing.T) {
	m, err := actors.NewManager(actors.Config{}, actors.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := connect(t, m, "sd")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _, closed := s.CloseCode(); !closed || code != wire.CloseGoingAway {
		t.Fatalf("close = %d (closed %v), want 1001", code, closed)
	}
	if err := m.Connect(context.Background(), "sd", actortest.NewFakeSocket()); !errors.Is(err, actors.ErrShuttingDown) {
		t.Fatalf("connect after shutdown: %v", err)
	}
}

func TestValidation(t *testing.T) {
	m := newManager(t, actors.Config{MaxMessageBytes: 10, MaxBatch: 3, SocketBuffer: 3}, actors.Options{})
	ctx := context.Background()
	cases := []struct {
		name    string
		taskID  string
		entries []*v1.LogInput
		field   string
	}{
		{"empty task id", "", []*v1.LogInput{{Level: 2}}, "task_id"},
		{"long task id", strings.Repeat("a", 129), []*v1.LogInput{{Level: 2}}, "task_id"},
		{"bad char", "a/b", []*v1.LogInput{{Level: 2}}, "task_id"},
		{"no level", "ok", []*v1.LogInput{{}}, "level"},
		{"progress -1", "ok", []*v1.LogInput{{Level: 2, Progress: proto.Float64(-1)}}, "progress"},
		{"progress 101", "ok", []*v1.LogInput{{Level: 2, Progress: proto.Float64(101)}}, "progress"},
		{"invalid utf-8", "ok", []*v1.LogInput{{Level: 2, Message: "\xff"}}, "message"},
		{"too long", "ok", []*v1.LogInput{{Level: 2, Message: "12345678901"}}, "message"},
		{"finished not last", "ok", []*v1.LogInput{{Level: 2, Finished: true}, {Level: 2}}, "[0].finished"},
		{"bad item in batch", "ok", []*v1.LogInput{{Level: 2}, {Level: 9}}, "[1].level"},
		{"empty batch", "ok", nil, "entries"},
		{"batch too large", "ok", []*v1.LogInput{{Level: 2}, {Level: 2}, {Level: 2}, {Level: 2}}, "entries"},
	}
	for _, tc := range cases {
		_, err := m.Publish(ctx, tc.taskID, tc.entries)
		var inv *actors.InvalidError
		if !errors.As(err, &inv) || inv.Field != tc.field {
			t.Errorf("%s: err = %v, want invalid %s", tc.name, err, tc.field)
		}
	}
	if _, err := m.Status(ctx, "ok"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("a refused publish created the task: %v", err)
	}
}

func TestCloseViewersKeepsTaskState(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	s := connect(t, m, "kick")
	sendN(t, m, "kick", 1, 2)
	s.WaitFrames(t, 3, wait)
	m.CloseViewers(wire.CloseGoingAway, "rebalancing")
	if code, reason := s.WaitClosed(t, wait); code != wire.CloseGoingAway || reason != "rebalancing" {
		t.Fatalf("close %d %q", code, reason)
	}
	actortest.AwaitCondition(t, wait, "viewer removed", func() bool {
		ok, _ := m.ConnectionStatus(context.Background(), "kick")
		return !ok
	})
	// The task lives on; a new viewer resumes where the old one stopped.
	sendN(t, m, "kick", 3, 3)
	again := serve(t, m, "kick", actors.Resume{Replay: true, Since: 2})
	if seqs := logSeqs(t, actortest.DecodeFrames(t, again.WaitFrames(t, 2, wait))); len(seqs) != 1 || seqs[0] != 3 {
		t.Fatalf("resumed with %v, want [3]", seqs)
	}
	if _, _, closed := again.CloseCode(); closed {
		t.Fatal("a viewer attached after CloseViewers was closed too")
	}
}

func TestMaxTasksRefusesNewTasksAndKeepsTheOthers(t *testing.T) {
	m := newManager(t, actors.Config{MaxTasks: 2}, actors.Options{})
	ctx := context.Background()
	sendN(t, m, "a", 1, 2)
	sendN(t, m, "b", 1, 1)
	if _, err := m.SendLog(ctx, "c", v1.Level_LEVEL_INFO, "x", 0, false); !errors.Is(err, actors.ErrTooManyTasks) {
		t.Fatalf("third task: %v, want ErrTooManyTasks", err)
	}
	if err := m.Connect(ctx, "c", actortest.NewFakeSocket()); err != nil {
		t.Fatalf("a viewer of a third task waits for it without a task slot: %v", err)
	}
	sendN(t, m, "a", 3, 3) // existing tasks go on
	if n := queued(t, m, "a"); n != 3 {
		t.Fatalf("task a queued %d, want 3", n)
	}
	if _, err := m.Status(ctx, "c"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("refused task exists: %v", err)
	}
	if err := m.Disconnect(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if ack, err := m.SendLog(ctx, "c", v1.Level_LEVEL_INFO, "x", 0, false); err != nil || ack.LastSeq != 1 {
		t.Fatalf("after a delete there is room: %+v %v", ack, err)
	}
}

func TestMaxViewersPerTask(t *testing.T) {
	m := newManager(t, actors.Config{MaxViewersPerTask: 1}, actors.Options{})
	ctx := context.Background()
	first := connect(t, m, "v")
	if err := m.Connect(ctx, "v", actortest.NewFakeSocket()); !errors.Is(err, actors.ErrTooManyViewers) {
		t.Fatalf("second viewer: %v, want ErrTooManyViewers", err)
	}
	sendN(t, m, "v", 1, 1)
	first.WaitFrames(t, 2, wait)
	if st, _ := m.Status(ctx, "v"); st.Subscribers != 1 {
		t.Fatalf("subscribers %d", st.Subscribers)
	}
}

func TestWriteTimeoutClosesAStalledSocket(t *testing.T) {
	m := newManager(t, actors.Config{WriteTimeout: 100 * time.Millisecond}, actors.Options{})
	stalled, other := connect(t, m, "wt"), connect(t, m, "wt")
	stalled.Stall()
	sendN(t, m, "wt", 1, 1)
	if code, reason := stalled.WaitClosed(t, wait); code != wire.CloseInternal || reason != "write failed" {
		t.Fatalf("stalled socket closed with %d %q, want 1011 after its write deadline", code, reason)
	}
	actortest.AwaitCondition(t, wait, "stalled socket removed", func() bool {
		st, _ := m.Status(context.Background(), "wt")
		return st.Subscribers == 1
	})
	other.WaitFrames(t, 2, wait)
	if got := m.Stats().WriteFailures.Load(); got != 1 {
		t.Fatalf("write failures %d", got)
	}
}

func TestAttachmentCloseLeavesTheTaskAtOnce(t *testing.T) {
	m := newManager(t, actors.Config{WriteTimeout: time.Minute}, actors.Options{})
	ctx := context.Background()
	a, err := m.Attach(ctx, "ac", actors.Resume{})
	if err != nil {
		t.Fatal(err)
	}
	s := actortest.NewFakeSocket()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, s) }()
	s.WaitFrames(t, 1, wait) // hello
	s.Stall()
	sendN(t, m, "ac", 1, 1) // the writer now hangs in this write
	a.Close(wire.ClosePolicy, "token expired")
	actortest.AwaitCondition(t, wait, "viewer gone from the task while its write hangs", func() bool {
		ok, _ := m.ConnectionStatus(ctx, "ac")
		return !ok
	})
	s.Release()
	if code, reason := s.WaitClosed(t, wait); code != wire.ClosePolicy || reason != "token expired" {
		t.Fatalf("closed with %d %q", code, reason)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// The task list holds the tasks a publish created, by prefix, with their state; not a
// task only viewed; and, with a journal, a task passivated to it.
func TestListTasks(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	ctx := context.Background()
	sendN(t, m, "import-1", 1, 3)
	if _, err := m.SendLog(ctx, "import-2", v1.Level_LEVEL_ERROR, "boom", 50, true); err != nil {
		t.Fatal(err)
	}
	sendN(t, m, "report-1", 1, 1)
	connect(t, m, "import-3") // waits: nobody published to it
	list, err := m.ListTasks(ctx, "import-")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*v1.Status{}
	for _, st := range list {
		got[st.TaskId] = st
	}
	if len(got) != 2 || got["import-1"].LastSeq != 3 || got["import-1"].Finished || !got["import-2"].Failed || got["import-2"].LastActiveUnixNano == 0 {
		t.Fatalf("list of import-: %v", list)
	}
	if all, err := m.ListTasks(ctx, ""); err != nil || len(all) != 3 {
		t.Fatalf("all: %v %v", all, err)
	}
}

// Listing leaves passivation working (the status it asks counts as routed), and a task
// passivated to the journal is still listed, from its meta.
func TestListTasksAndPassivation(t *testing.T) {
	m := newManager(t, actors.Config{IdleTTL: 100 * time.Millisecond, FinishedTTL: 100 * time.Millisecond}, actors.Options{Journal: journaltest.NewMemory()})
	ctx := context.Background()
	if _, err := m.SendLog(ctx, "kept", v1.Level_LEVEL_ERROR, "failed", 30, true); err != nil {
		t.Fatal(err)
	}
	if list, err := m.ListTasks(ctx, ""); err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	actortest.AwaitCondition(t, wait, "the task passivated after a listing", func() bool { return m.Stats().LiveTasks.Load() == 0 })
	list, err := m.ListTasks(ctx, "")
	if err != nil || len(list) != 1 || list[0].TaskId != "kept" || list[0].LastSeq != 1 || !list[0].Failed || list[0].Progress != 30 {
		t.Fatalf("list from the journal: %v %v", list, err)
	}
}

// Ask asks any operation, but a publish goes through Publish, which checks the field
// rules: a *v1.Publish is a call that crossed members, checked where it was made.
func TestAskRefusesAPublish(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	_, err := actors.Ask[*v1.PublishAck](context.Background(), m, &v1.Publish{TaskId: "t",
		Entries: []*v1.LogInput{{Level: 99, Message: "no level", Progress: proto.Float64(500)}}})
	if err == nil {
		t.Fatal("Ask stored a publish that breaks the field rules")
	}
	if _, err := m.Status(context.Background(), "t"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("the task after the refused publish: %v", err)
	}
}
