package actors_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	"github.com/tasktail/tasktail/internal/pgtest"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/journaltest"
	"github.com/tasktail/tasktail/journal/pebble"
	"github.com/tasktail/tasktail/journal/postgres"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// A deleted task stays deleted, also when it was watched since its meta was last written
// (the task's last meta as it stopped used to create it again): not found, not listed,
// not after a restart, and its next publish starts a new incarnation at seq 1.
func TestDeleteOfAWatchedTaskStaysDeleted(t *testing.T) {
	dir := t.TempDir()
	m, stop := durable(t, dir, actors.Config{})
	ctx := context.Background()
	sendN(t, m, "w", 1, 3)
	before := status(t, m, "w")
	v := connect(t, m, "w")
	v.WaitFrames(t, 4, wait)
	if err := m.Disconnect(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	v.WaitClosed(t, wait)
	gone := func(m *actors.Manager, when string) {
		t.Helper()
		if st, err := m.Status(ctx, "w"); !errors.Is(err, actors.ErrNotFound) {
			t.Fatalf("%s: status %+v %v, want not found", when, st, err)
		}
		list, err := m.ListTasks(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range list {
			if st.TaskId == "w" {
				t.Fatalf("%s: listed %+v", when, st)
			}
		}
	}
	gone(m, "after the delete")
	stop()
	m2, _ := durable(t, dir, actors.Config{})
	gone(m2, "after a restart")
	ack, err := m2.SendLog(ctx, "w", v1.Level_LEVEL_INFO, "again", 0, false)
	if err != nil || ack.FirstSeq != 1 || ack.Epoch == before.Epoch {
		t.Fatalf("publish after the delete: %+v %v, want seq 1 in a new epoch (not %s)", ack, err, before.Epoch)
	}
}

// With a size cap below what the queue holds, the queue shrinks to what the journal
// still has and the next viewer is told with a retention gap; a reload never indexes
// entries that are gone.
func TestSizeCapBelowTheQueue(t *testing.T) {
	dir := t.TempDir()
	open := func() *actors.Manager {
		j, err := pebble.Open(dir, pebble.Options{MaxTaskBytes: 4 << 10})
		if err != nil {
			t.Fatal(err)
		}
		return newManager(t, actors.Config{QueueLimit: 100, QueueKeep: 50}, actors.Options{Journal: j})
	}
	m := open()
	ctx := context.Background()
	long := strings.Repeat("x", 200)
	for range 90 { // 90 × ~220 B: the cap keeps the newest ~14
		if _, err := m.SendLog(ctx, "capped", v1.Level_LEVEL_INFO, long, 0, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	m = open()
	st := status(t, m, "capped")
	if st.LastSeq != 90 || st.Queued == 0 || st.Queued >= 90 {
		t.Fatalf("after a reload: %+v, want last_seq 90 and the queue cut to what the journal has", st)
	}
	v := connect(t, m, "capped")
	frames := actortest.DecodeFrames(t, v.WaitFrames(t, 2+int(st.Queued), wait))
	if g := frames[1]; g.Type != "gap" || g.Reason != "retention" || g.FromSeq != 1 || g.ToSeq != 90-uint64(st.Queued) {
		t.Fatalf("first after hello: %+v, want a retention gap 1..%d", g, 90-st.Queued)
	}
	if seqs := logSeqs(t, frames); len(seqs) != int(st.Queued) || seqs[len(seqs)-1] != 90 {
		t.Fatalf("queued frames %v, want the %d newest up to 90", seqs, st.Queued)
	}
}

// A commit whose answer was lost is answered outcome unknown; the task loads itself
// again before anything else, so it neither reuses the seq nor wedges, and its viewer
// gets what the commit stored, once.
func TestAmbiguousCommitReloadsTheTask(t *testing.T) {
	j := journaltest.NewCrash(journaltest.NewMemory())
	m := newManager(t, actors.Config{}, actors.Options{Journal: j})
	ctx := context.Background()
	sendN(t, m, "a", 1, 2)
	v := connect(t, m, "a")
	j.Arm(journaltest.Ambiguous)
	if _, err := m.SendLog(ctx, "a", v1.Level_LEVEL_INFO, "stored, answer lost", 0, false); !errors.Is(err, actors.ErrOutcomeUnknown) {
		t.Fatalf("publish whose answer was lost: %v, want ErrOutcomeUnknown", err)
	}
	ack, err := m.SendLog(ctx, "a", v1.Level_LEVEL_INFO, "next", 0, false)
	if err != nil || ack.FirstSeq != 4 {
		t.Fatalf("the next publish: %+v %v, want seq 4", ack, err)
	}
	frames := actortest.DecodeFrames(t, v.WaitFrames(t, 5, wait))
	if seqs := logSeqs(t, frames); len(seqs) != 4 || seqs[2] != 3 || frames[3].Message != "stored, answer lost" || seqs[3] != 4 {
		t.Fatalf("viewer got %v, want 1..4 with the stored message at 3", seqs)
	}
}

// On PostgreSQL a restart carries the activation's owner: it is stored, not fenced.
func TestRestartOnPostgres(t *testing.T) {
	j, err := postgres.Open(pgtest.ForTest(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, actors.Config{}, actors.Options{Journal: j})
	ctx := context.Background()
	sendN(t, m, "r", 1, 3)
	v := connect(t, m, "r")
	epoch, err := m.Restart(ctx, "r")
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	if st := status(t, m, "r"); st.Epoch != epoch || st.LastSeq != 0 {
		t.Fatalf("after the restart: %+v", st)
	}
	frames := actortest.DecodeFrames(t, v.WaitFrames(t, 6, wait))
	if g := frames[4]; g.Type != "gap" || g.Reason != "epoch" {
		t.Fatalf("viewer after the restart: %+v, want an epoch gap", g)
	}
}

// Idempotency keys are a window of their own: a reload finds the newest keys however many
// entries followed them; a task restart forgets them (a retry is stored in the new
// incarnation, not answered with seqs that hold nothing); the same key with another body
// is refused. In memory and with a journal.
func TestIdempotencyKeysKeepTheirWindow(t *testing.T) {
	in := func(msg string) []*v1.LogInput {
		return []*v1.LogInput{{Level: v1.Level_LEVEL_INFO, Message: msg}}
	}
	big := make([]*v1.LogInput, 1000)
	for i := range big {
		big[i] = &v1.LogInput{Level: v1.Level_LEVEL_INFO, Message: "row"}
	}
	ctx := context.Background()
	dir := t.TempDir()
	m, stop := durable(t, dir, actors.Config{})
	first, err := m.PublishOnce(ctx, "k", "req-1", in("one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Publish(ctx, "k", big); err != nil {
		t.Fatal(err)
	}
	stop()
	m, stop = durable(t, dir, actors.Config{})
	again, err := m.PublishOnce(ctx, "k", "req-1", in("one"))
	if err != nil || again.FirstSeq != first.FirstSeq {
		t.Fatalf("retry after 1,000 entries and a reload: %+v %v, want seq %d again", again, err, first.FirstSeq)
	}
	if _, err := m.PublishOnce(ctx, "k", "req-1", in("another body")); !errors.Is(err, actors.ErrIdempotencyKeyReused) {
		t.Fatalf("the same key with another body: %v, want ErrIdempotencyKeyReused", err)
	}
	if st := status(t, m, "k"); st.LastSeq != 1001 {
		t.Fatalf("last_seq %d, want 1001: nothing stored twice", st.LastSeq)
	}
	for name, m := range map[string]*actors.Manager{"journal": m, "memory": newManager(t, actors.Config{}, actors.Options{})} {
		if _, err := m.PublishOnce(ctx, "r", "req-2", in("before")); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Restart(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		after, err := m.PublishOnce(ctx, "r", "req-2", in("before"))
		if err != nil || after.FirstSeq != 1 {
			t.Fatalf("%s: retry after a task restart: %+v %v, want it stored at seq 1 of the new incarnation", name, after, err)
		}
		if st := status(t, m, "r"); st.LastSeq != 1 {
			t.Fatalf("%s: after the restart last_seq %d, want 1", name, st.LastSeq)
		}
	}
}

// The size cap holds with many writers flooding one task: what stays stored is within the
// cap (plus the newest chunk, which always stays).
func TestSizeCapHoldsUnderConcurrentWriters(t *testing.T) {
	const capBytes = 1 << 20
	j, err := pebble.Open(t.TempDir(), pebble.Options{MaxTaskBytes: capBytes})
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, actors.Config{}, actors.Options{Journal: j})
	ctx := context.Background()
	batch := make([]*v1.LogInput, 50)
	for i := range batch {
		batch[i] = &v1.LogInput{Level: v1.Level_LEVEL_INFO, Message: strings.Repeat("y", 1000)}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 { // 8 × 20 × 50 KB = 8 MB
				if _, err := m.Publish(ctx, "flood", batch); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	stored := 0
	if err := j.Read("flood", 1, func(e journal.Entry) bool { stored += len(e.Message); return true }); err != nil {
		t.Fatal(err)
	}
	if meta, _, _ := j.Stat("flood"); stored > capBytes+capBytes/4 || meta.Bytes > capBytes {
		t.Fatalf("%d bytes of messages stored (meta says %d) under a cap of %d", stored, meta.Bytes, capBytes)
	}
}

// What waits for a task's journal is bounded: while a load hangs, requests past the bound
// are answered journal unavailable at once, and the ones that waited are answered once
// the journal does.
func TestWhatWaitsForTheJournalIsBounded(t *testing.T) {
	mem := journaltest.NewMemory()
	stored := []journal.Append{{TaskID: "slow", Meta: journal.Meta{Epoch: "e", LastSeq: 1}, Entries: []journal.Entry{{Seq: 1, Message: "m"}}}}
	if err := mem.Commit(stored); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, actors.Config{}, actors.Options{Journal: mem})
	ctx := context.Background()
	release := mem.HoldLoads()
	t.Cleanup(release) // before the Manager's shutdown, which waits for the Writer
	const asks = 5000
	errs := make(chan error, asks)
	for range asks {
		go func() { _, err := m.Status(ctx, "slow"); errs <- err }()
	}
	refused := 0
	for refused < asks-4096 {
		if err := <-errs; errors.Is(err, actors.ErrJournalUnavailable) {
			refused++
		} else {
			t.Fatalf("while the load hangs: %v, want ErrJournalUnavailable past the bound", err)
		}
	}
	release()
	for range 4096 {
		if err := <-errs; err != nil {
			t.Fatalf("a request that waited for the load: %v", err)
		}
	}
}

// A task that panics on the journal's answer to its write stops instead of resuming with
// a write that never ends: what waited is answered at once, and the next message loads
// the task again from what is stored.
func TestPanicOnTheJournalsAnswerStopsTheTask(t *testing.T) {
	var armed atomic.Bool
	panicOnCommitted := func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
			if fmt.Sprintf("%T", env.Message) == "*actors.committed" && armed.CompareAndSwap(true, false) {
				panic("boom on the journal's answer")
			}
			next(ctx, env)
		}
	}
	mem := journaltest.NewMemory()
	m := newManager(t, actors.Config{}, actors.Options{Journal: mem, TaskMiddleware: []actor.ReceiverMiddleware{panicOnCommitted}})
	ctx := context.Background()
	sendN(t, m, "p", 1, 2)
	armed.Store(true)
	start := time.Now()
	if _, err := m.SendLog(ctx, "p", v1.Level_LEVEL_INFO, "stored, then the task panicked", 0, false); err == nil {
		t.Fatal("a publish whose answer the task panicked on was acknowledged")
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("the publish waited %v for its answer, want a failure at once", waited)
	}
	ack, err := m.SendLog(ctx, "p", v1.Level_LEVEL_INFO, "next", 0, false)
	if err != nil || ack.FirstSeq != 4 {
		t.Fatalf("the next publish: %+v %v, want seq 4 after the stored 3", ack, err)
	}
}

// A commit whose answer was lost and that stored more than the task's history holds:
// its viewers get a history gap for what the reload did not bring back, never a jump.
func TestAmbiguousCommitBeyondTheHistoryIsAGap(t *testing.T) {
	j := journaltest.NewCrash(journaltest.NewMemory())
	m := newManager(t, actors.Config{HistoryLimit: 20, QueueLimit: 10, QueueKeep: 5}, actors.Options{Journal: j})
	ctx := context.Background()
	sendN(t, m, "big", 1, 2)
	v := connect(t, m, "big")
	v.WaitFrames(t, 3, wait)
	batch := make([]*v1.LogInput, 50)
	for i := range batch {
		batch[i] = &v1.LogInput{Level: v1.Level_LEVEL_INFO, Message: fmt.Sprint("b", i)}
	}
	j.Arm(journaltest.Ambiguous)
	if _, err := m.Publish(ctx, "big", batch); !errors.Is(err, actors.ErrOutcomeUnknown) {
		t.Fatalf("a batch whose answer was lost: %v, want ErrOutcomeUnknown", err)
	}
	frames := actortest.DecodeFrames(t, v.WaitFrames(t, 3+1+20, wait))
	if g := frames[3]; g.Type != "gap" || g.Reason != "history" || g.FromSeq != 3 || g.ToSeq != 32 {
		t.Fatalf("after the reload: %+v, want a history gap 3..32", g)
	}
	if seqs := logSeqs(t, frames); len(seqs) != 22 || seqs[2] != 33 || seqs[21] != 52 {
		t.Fatalf("viewer seqs %v, want 1, 2, then 33..52", seqs)
	}
}

// A publish whose write is still with the journal when the task stops (a shutdown) may
// yet be stored: its caller is told the outcome is unknown, never to simply retry.
func TestStopWithAWriteInFlightIsOutcomeUnknown(t *testing.T) {
	mem := journaltest.NewMemory()
	m, err := actors.NewManager(actors.Config{}, actors.Options{Journal: mem})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sendN(t, m, "s", 1, 1)
	release := mem.HoldCommits()
	t.Cleanup(release)
	answered := make(chan error, 1)
	go func() { _, err := m.SendLog(ctx, "s", v1.Level_LEVEL_INFO, "in flight", 0, false); answered <- err }()
	actortest.AwaitCondition(t, wait, "the commit reached the journal", func() bool { return mem.Waiting() == 1 })
	stopped := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		stopped <- m.Shutdown(sctx)
	}()
	if err := <-answered; !errors.Is(err, actors.ErrOutcomeUnknown) {
		t.Fatalf("a publish in flight when its task stopped: %v, want ErrOutcomeUnknown", err)
	}
	release()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if meta, _, _ := mem.Stat("s"); meta.LastSeq != 2 {
		t.Fatalf("stored last_seq %d: the write in flight was stored after all, want 2", meta.LastSeq)
	}
}

// On one node, a publish to a task the sweep removed from the journal while its actor was
// in memory starts a new incarnation at seq 1: the journal refuses the stale write, the
// task loads itself again and handles the publish anew, and its viewer is told of the new
// epoch. (It used to fail with "retry" and stop the actor, which the router could still
// route to for a moment.)
func TestPublishToASweptTaskStartsANewIncarnation(t *testing.T) {
	mem := journaltest.NewMemory()
	m := newManager(t, actors.Config{}, actors.Options{Journal: mem})
	ctx := context.Background()
	sendN(t, m, "swept", 1, 3)
	before := status(t, m, "swept")
	v := connect(t, m, "swept")
	v.WaitFrames(t, 4, wait)
	if err := mem.Delete("swept"); err != nil { // what a sweep does to the journal
		t.Fatal(err)
	}
	ack, err := m.SendLog(ctx, "swept", v1.Level_LEVEL_INFO, "after the sweep", 0, false)
	if err != nil || ack.FirstSeq != 1 || ack.Epoch == before.Epoch {
		t.Fatalf("publish after the sweep: %+v %v, want seq 1 in a new epoch", ack, err)
	}
	if st := status(t, m, "swept"); st.LastSeq != 1 || st.Epoch != ack.Epoch {
		t.Fatalf("status after: %+v", st)
	}
	frames := actortest.DecodeFrames(t, v.WaitFrames(t, 4+3, wait))
	if g, h, l := frames[4], frames[5], frames[6]; g.Type != "gap" || g.Reason != "epoch" || h.Type != "hello" || l.Seq != 1 || l.Message != "after the sweep" {
		t.Fatalf("viewer after the sweep: %+v %+v %+v, want an epoch gap, a hello and seq 1", g, h, l)
	}
}
