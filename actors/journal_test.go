package actors_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	"github.com/tasktail/tasktail/journal/journaltest"
	"github.com/tasktail/tasktail/journal/pebble"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// durable starts a Manager on the Pebble journal in dir; stop shuts it down (a restart
// is stop, then durable on the same dir).
func durable(t *testing.T, dir string, cfg actors.Config) (m *actors.Manager, stop func()) {
	t.Helper()
	j, err := pebble.Open(dir, pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err = actors.NewManager(cfg, actors.Options{Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
	t.Cleanup(stop)
	return m, stop
}

func status(t *testing.T, m *actors.Manager, taskID string) *v1.Status {
	t.Helper()
	st, err := m.Status(context.Background(), taskID)
	if err != nil {
		t.Fatalf("status %s: %v", taskID, err)
	}
	return st
}

// A restarted Manager continues every task where it was: the same epoch, seq, progress,
// and the queue exactly as the trim rule left it, with its gap.
func TestJournalKeepsTasksAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	m, stop := durable(t, dir, actors.Config{})
	sendN(t, m, "q", 1, 120) // nobody watched: 69 queued, 1-51 trimmed
	v := connect(t, m, "seen")
	sendN(t, m, "seen", 1, 5) // watched: delivered, not queued
	v.WaitFrames(t, 6, wait)
	sendN(t, m, "seen", 6, 8) // queued again? no: the viewer is still there
	v.WaitFrames(t, 9, wait)
	before := status(t, m, "q")
	seenBefore := status(t, m, "seen")
	stop()
	if code, _ := v.WaitClosed(t, wait); code != wire.CloseGoingAway {
		t.Fatalf("viewer closed with %d on shutdown, want 1001", code)
	}

	m2, _ := durable(t, dir, actors.Config{})
	after := status(t, m2, "q")
	if after.Epoch != before.Epoch || after.LastSeq != 120 || after.Queued != 69 {
		t.Fatalf("after restart %+v, want epoch %s, last_seq 120, 69 queued", after, before.Epoch)
	}
	if st := status(t, m2, "seen"); st.Epoch != seenBefore.Epoch || st.LastSeq != 8 || st.Queued != 0 {
		t.Fatalf("watched task after restart %+v, want nothing queued", st)
	}
	s := connect(t, m2, "q")
	frames := actortest.DecodeFrames(t, s.WaitFrames(t, 1+1+69, wait))
	if g := frames[1]; g.Type != "gap" || g.FromSeq != 1 || g.ToSeq != 51 || g.Reason != "trimmed" {
		t.Fatalf("after hello %+v, want the trim gap 1-51", g)
	}
	if seqs := logSeqs(t, frames); len(seqs) != 69 || seqs[0] != 52 || seqs[68] != 120 {
		t.Fatalf("flushed %d messages %v…, want 52..120", len(seqs), seqs[:1])
	}
	ack, err := m2.SendLog(context.Background(), "q", v1.Level_LEVEL_INFO, "next", 0, false)
	if err != nil || ack.FirstSeq != 121 || ack.Epoch != before.Epoch {
		t.Fatalf("publish after restart: %+v %v, want seq 121 in the same epoch", ack, err)
	}
}

// A finished task survives a restart: it refuses publishes and a late viewer gets its
// log and the close.
func TestJournalKeepsFinishedTasks(t *testing.T) {
	dir := t.TempDir()
	m, stop := durable(t, dir, actors.Config{})
	sendN(t, m, "f", 1, 3)
	if _, err := m.SendLog(context.Background(), "f", v1.Level_LEVEL_SUCCESS, "done", 100, true); err != nil {
		t.Fatal(err)
	}
	stop()
	m2, _ := durable(t, dir, actors.Config{})
	if st := status(t, m2, "f"); !st.Finished || st.Progress != 100 || st.LastSeq != 4 {
		t.Fatalf("finished task after restart: %+v", st)
	}
	if _, err := m2.SendLog(context.Background(), "f", v1.Level_LEVEL_INFO, "late", 0, false); !errors.Is(err, actors.ErrTaskFinished) {
		t.Fatalf("publish to a finished task after restart: %v", err)
	}
	a, err := m2.Attach(context.Background(), "f", actors.Resume{Replay: true})
	if err != nil {
		t.Fatal(err)
	}
	s := actortest.NewFakeSocket()
	a.Start(context.Background(), s, nil)
	if code, reason := s.WaitClosed(t, wait); code != wire.CloseNormal || reason != "task finished" {
		t.Fatalf("late viewer closed %d %q", code, reason)
	}
	if seqs := logSeqs(t, actortest.DecodeFrames(t, s.Frames())); len(seqs) != 4 {
		t.Fatalf("late viewer got %v, want 1..4", seqs)
	}
}

// Passivation frees memory only: the task loads from the journal when touched.
func TestJournalPassivationKeepsTheTask(t *testing.T) {
	m, _ := durable(t, t.TempDir(), actors.Config{IdleTTL: 50 * time.Millisecond, FinishedTTL: time.Hour})
	sendN(t, m, "p", 1, 10)
	before := status(t, m, "p")
	actortest.AwaitCondition(t, wait, "task passivated", func() bool { return m.Stats().LiveTasks.Load() == 0 })
	if after := status(t, m, "p"); after.Epoch != before.Epoch || after.LastSeq != 10 || after.Queued != 10 {
		t.Fatalf("after passivation %+v, want it as before %+v", after, before)
	}
}

// Delete and restart are durable; a task nobody created is not found and leaves nothing.
func TestJournalDeleteRestartAndAbsentTasks(t *testing.T) {
	dir := t.TempDir()
	m, stop := durable(t, dir, actors.Config{})
	ctx := context.Background()
	sendN(t, m, "d", 1, 3)
	sendN(t, m, "r", 1, 3)
	if err := m.Disconnect(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	epoch, err := m.Restart(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Status(ctx, "nobody"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("status of an unknown task: %v", err)
	}
	if _, err := m.Restart(ctx, "nobody"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("restart of an unknown task: %v", err)
	}
	stop()
	m2, _ := durable(t, dir, actors.Config{})
	if _, err := m2.Status(ctx, "d"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("deleted task after restart: %v", err)
	}
	if st := status(t, m2, "r"); st.Epoch != epoch || st.LastSeq != 0 {
		t.Fatalf("restarted task after restart: %+v, want epoch %s and nothing published", st, epoch)
	}
	actortest.AwaitCondition(t, wait, "status of an unknown task leaves no task", func() bool {
		_, err := m2.Status(ctx, "nobody")
		return errors.Is(err, actors.ErrNotFound) && m2.Stats().LiveTasks.Load() <= 2
	})
}

// When the journal cannot store, nothing is acknowledged, viewers and status keep working
// from what is there, and publishing works again once the journal does, with no seq lost.
func TestJournalFailureIsNotAcknowledged(t *testing.T) {
	mem := journaltest.NewMemory()
	m := newManager(t, actors.Config{}, actors.Options{Journal: mem})
	ctx := context.Background()
	sendN(t, m, "x", 1, 2)
	v := connect(t, m, "x")
	v.WaitFrames(t, 3, wait)
	mem.Fail(errors.New("disk full"))
	if _, err := m.SendLog(ctx, "x", v1.Level_LEVEL_INFO, "lost?", 0, false); !errors.Is(err, actors.ErrJournalUnavailable) {
		t.Fatalf("publish on a failing journal: %v, want ErrJournalUnavailable", err)
	}
	if st := status(t, m, "x"); st.LastSeq != 2 || !st.Connected {
		t.Fatalf("status while the journal fails: %+v", st)
	}
	mem.Fail(nil)
	ack, err := m.SendLog(ctx, "x", v1.Level_LEVEL_INFO, "stored", 0, false)
	if err != nil || ack.FirstSeq != 3 {
		t.Fatalf("publish after recovery: %+v %v, want seq 3", ack, err)
	}
	frames := actortest.DecodeFrames(t, v.WaitFrames(t, 4, wait))
	if f := frames[3]; f.Seq != 3 || f.Message != "stored" {
		t.Fatalf("viewer got %+v, want seq 3 \"stored\" and never the refused message", f)
	}
}

// A resuming connection gets from the journal what the history no longer holds, up to
// the replay limit; older entries are a gap with reason history.
func TestJournalReplaysOlderThanTheHistory(t *testing.T) {
	cfg := actors.Config{QueueLimit: 10, QueueKeep: 5, HistoryLimit: 100, ReplayLimit: 150}
	m, _ := durable(t, t.TempDir(), cfg)
	sendN(t, m, "old", 1, 300) // the history holds 201..300
	s := actortest.NewFakeSocket()
	a, err := m.Attach(context.Background(), "old", actors.Resume{Replay: true, Since: 180})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(context.Background(), s, nil)
	frames := actortest.DecodeFrames(t, s.WaitFrames(t, 1+120, wait))
	if seqs := logSeqs(t, frames); len(seqs) != 120 || seqs[0] != 181 || seqs[119] != 300 {
		t.Fatalf("since=180: %d messages from %v, want 181..300 without a gap", len(seqs), seqs[:1])
	}
	sendN(t, m, "old", 301, 301)
	if f := actortest.DecodeFrames(t, s.WaitFrames(t, 1+120+1, wait)); f[len(f)-1].Seq != 301 {
		t.Fatalf("live after the replay: %+v", f[len(f)-1])
	}
	s2 := actortest.NewFakeSocket()
	a2, err := m.Attach(context.Background(), "old", actors.Resume{Replay: true, Since: 10})
	if err != nil {
		t.Fatal(err)
	}
	a2.Start(context.Background(), s2, nil)
	frames = actortest.DecodeFrames(t, s2.WaitFrames(t, 1+1+150, wait))
	if g := frames[1]; g.Type != "gap" || g.Reason != "history" || g.FromSeq != 11 || g.ToSeq != 151 {
		t.Fatalf("since=10 past the replay limit: %+v, want a history gap 11-151", g)
	}
	if seqs := logSeqs(t, frames); len(seqs) != 150 || seqs[0] != 152 || seqs[149] != 301 {
		t.Fatalf("since=10: %d messages from %v, want the last 150", len(seqs), seqs[:1])
	}
}

// What a task's size cap dropped from the journal is a gap with reason retention.
func TestJournalSizeCapIsARetentionGap(t *testing.T) {
	j, err := pebble.Open(t.TempDir(), pebble.Options{MaxTaskBytes: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, actors.Config{QueueLimit: 10, QueueKeep: 5, HistoryLimit: 10}, actors.Options{Journal: j})
	sendN(t, m, "capped", 1, 400) // ~40 bytes each: the journal keeps the newest ~150
	a, err := m.Attach(context.Background(), "capped", actors.Resume{Replay: true, Since: 0})
	if err != nil {
		t.Fatal(err)
	}
	s := actortest.NewFakeSocket()
	a.Start(context.Background(), s, nil)
	frames := actortest.DecodeFrames(t, s.WaitFrames(t, 2, wait))
	g := frames[1]
	if g.Type != "gap" || g.Reason != "retention" || g.FromSeq != 1 || g.ToSeq < 100 || g.ToSeq >= 390 {
		t.Fatalf("since=0 on a capped task: %+v, want a retention gap from 1", g)
	}
	want := 400 - int(g.ToSeq)
	frames = actortest.DecodeFrames(t, s.WaitFrames(t, 2+want, wait))
	if seqs := logSeqs(t, frames); len(seqs) != want || seqs[0] != g.ToSeq+1 || seqs[len(seqs)-1] != 400 {
		t.Fatalf("after the gap %d messages, want %d up to 400", len(seqs), want)
	}
}

// A publish retried with its idempotency key is answered as the first was and stored
// once, also after a restart (the key is stored with the entries).
func TestIdempotencyKeyStoresOnce(t *testing.T) {
	dir := t.TempDir()
	m, stop := durable(t, dir, actors.Config{})
	ctx := context.Background()
	in := []*v1.LogInput{{Level: v1.Level_LEVEL_INFO, Message: "a"}, {Level: v1.Level_LEVEL_INFO, Message: "b"}}
	first, err := m.PublishOnce(ctx, "idem", "req-1", in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.PublishOnce(ctx, "idem", "req-1", in)
	if err != nil || again.FirstSeq != first.FirstSeq || again.LastSeq != first.LastSeq {
		t.Fatalf("retry: %+v %v, want the first answer %+v", again, err, first)
	}
	if _, err := m.PublishOnce(ctx, "idem", "req-2", in[:1]); err != nil {
		t.Fatal(err)
	}
	stop()
	m2, _ := durable(t, dir, actors.Config{})
	after, err := m2.PublishOnce(ctx, "idem", "req-1", in)
	if err != nil || after.FirstSeq != 1 || after.LastSeq != 2 {
		t.Fatalf("retry after a restart: %+v %v, want seqs 1-2", after, err)
	}
	if st := status(t, m2, "idem"); st.LastSeq != 3 {
		t.Fatalf("last_seq %d after three publishes of which two were retries, want 3", st.LastSeq)
	}
	if _, err := m2.PublishOnce(ctx, "idem", "has space", in); err == nil {
		t.Fatal("a key with a space was accepted")
	}
	// Without a journal the task remembers keys while it lives.
	mem := newManager(t, actors.Config{}, actors.Options{})
	a1, _ := mem.PublishOnce(ctx, "m", "k", in[:1])
	a2, _ := mem.PublishOnce(ctx, "m", "k", in[:1])
	if a1.LastSeq != 1 || a2.LastSeq != 1 {
		t.Fatalf("in memory: %+v then %+v, want seq 1 twice", a1, a2)
	}
}

// The history is bounded in bytes, but never drops the queue: a viewer that connects
// without since gets the whole queue, and one that replays from 0 gets what the bound
// kept after a history gap (without a journal).
func TestHistoryBytesKeepTheQueue(t *testing.T) {
	m := newManager(t, actors.Config{HistoryBytes: 4 << 10}, actors.Options{})
	ctx := context.Background()
	big := strings.Repeat("x", 1000)
	for i := 1; i <= 60; i++ { // queued: 60 frames of ~1.2 KB, past the 4 KiB bound
		if _, err := m.SendLog(ctx, "big", v1.Level_LEVEL_INFO, big, 0, false); err != nil {
			t.Fatal(err)
		}
	}
	s := connect(t, m, "big")
	if seqs := logSeqs(t, actortest.DecodeFrames(t, s.WaitFrames(t, 61, wait))); len(seqs) != 60 {
		t.Fatalf("flushed %d of 60 queued messages", len(seqs))
	}
	sendN(t, m, "big", 61, 61) // live: the queue is gone, and the bound applies
	a, err := m.Attach(ctx, "big", actors.Resume{Replay: true})
	if err != nil {
		t.Fatal(err)
	}
	r := actortest.NewFakeSocket()
	a.Start(ctx, r, nil)
	frames := actortest.DecodeFrames(t, r.WaitFrames(t, 2, wait))
	if g := frames[1]; g.Type != "gap" || g.Reason != "history" || g.FromSeq != 1 || g.ToSeq < 50 {
		t.Fatalf("replay from 0 under a 4 KiB bound: %+v, want a history gap from 1", g)
	}
}

// A viewer alone never makes the journal keep a task: after a restart, a task that was
// only watched is not found.
func TestJournalKeepsNoTaskOnlyWatched(t *testing.T) {
	dir := t.TempDir()
	m, stop := durable(t, dir, actors.Config{})
	v := connect(t, m, "watched-only")
	stop()
	v.WaitClosed(t, wait)
	m2, _ := durable(t, dir, actors.Config{})
	if _, err := m2.Status(context.Background(), "watched-only"); !errors.Is(err, actors.ErrNotFound) {
		t.Fatalf("status of a task that was only watched, after a restart: %v, want ErrNotFound", err)
	}
}

// A watched task counts as active for the journal's idle retention: its activity time is
// written as it is watched, and the sweep leaves it.
func TestJournalKeepsWatchedTasksActive(t *testing.T) {
	mem := journaltest.NewMemory()
	m := newManager(t, actors.Config{IdleTTL: 80 * time.Millisecond, IdleRetention: 400 * time.Millisecond, FinishedTTL: 80 * time.Millisecond},
		actors.Options{Journal: mem})
	sendN(t, m, "watched", 1, 1)
	connect(t, m, "watched")
	first, _, _ := mem.Stat("watched")
	actortest.AwaitCondition(t, wait, "activity written again while watched", func() bool {
		meta, found, _ := mem.Stat("watched")
		return found && meta.Active > first.Active+int64(1500*time.Millisecond) // past a sweep (every second here)
	})
	if _, found, _ := mem.Stat("watched"); !found {
		t.Fatal("the sweep removed a watched task")
	}
}

// With a journal, a delete of a task that does not exist leaves no actor behind (the
// router forgot it before it was loaded, so it stops itself).
func TestJournalDeleteOfAnUnknownTaskLeavesNothing(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{Journal: journaltest.NewMemory()})
	for i := range 20 {
		if err := m.Disconnect(context.Background(), fmt.Sprintf("nobody-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	actortest.AwaitCondition(t, wait, "no task actor left", func() bool { return m.Stats().LiveTasks.Load() == 0 })
}

// A delete while the journal cannot load the task is refused, and leaves no actor behind.
func TestJournalDeleteWhileTheJournalFailsLeavesNothing(t *testing.T) {
	mem := journaltest.NewMemory()
	m := newManager(t, actors.Config{}, actors.Options{Journal: mem})
	mem.FailLoads(errors.New("database down"))
	if err := m.Disconnect(context.Background(), "x"); !errors.Is(err, actors.ErrJournalUnavailable) {
		t.Fatalf("delete while loads fail: %v, want ErrJournalUnavailable", err)
	}
	actortest.AwaitCondition(t, wait, "no task actor left", func() bool { return m.Stats().LiveTasks.Load() == 0 })
}

// An idle viewer costs the journal no write: a watched task writes its activity time an
// eighth of the idle retention after the last write that carried it, not on every idle
// check, and that keeps the retention sweep away from it.
func TestIdleViewersCostNoJournalWrites(t *testing.T) {
	for _, tc := range []struct {
		name      string
		retention time.Duration
		writes    func(n int) bool
	}{
		{"a week's retention: none", 7 * 24 * time.Hour, func(n int) bool { return n == 0 }},
		{"a retention of 400 ms: every 50 ms or so", 400 * time.Millisecond, func(n int) bool { return n >= 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := journaltest.NewMemory()
			m := newManager(t, actors.Config{IdleTTL: 20 * time.Millisecond, IdleRetention: tc.retention}, actors.Options{Journal: j})
			sendN(t, m, "idle", 1, 1)
			v := connect(t, m, "idle")
			v.WaitFrames(t, 2, wait)           // hello and the message
			time.Sleep(100 * time.Millisecond) // the delivery's seen watermark is written first
			before := j.CommitCount()
			time.Sleep(500 * time.Millisecond) // the window counted: about 25 idle checks
			n := j.CommitCount() - before
			if !tc.writes(n) {
				t.Fatalf("%d journal writes in 500 ms of an idle viewer", n)
			}
			if swept, err := m.SweepAt(time.Now()); err != nil || swept != 0 {
				t.Fatalf("the sweep removed %d tasks (%v): a watched task must stay", swept, err)
			}
		})
	}
}
