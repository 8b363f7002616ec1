package actors_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/journal/journaltest"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// TestModel's crashes, faults of one write, and the sweep after a reload.

// crashAndReload crashes the journal (nothing more reaches it), maybe while a publish is
// on its way, shuts the Manager down, and starts a new one on the journal reopened;
// without a journal every task is gone. A sweep may follow at once, before anything
// loads the tasks, with publishes racing it.
func (r *modelRun) crashAndReload() {
	if r.journaled() && r.rng.IntN(3) == 0 {
		t := r.task()
		in, p := r.entries(t, 1+r.rng.IntN(3), false)
		r.note("crash while publishing %d entries to %s", len(in), t.id)
		start := now()
		done := make(chan struct{})
		var ack actors.Ack
		var err error
		go func() {
			defer close(done)
			ack, err = r.m.PublishOnce(context.Background(), t.id, "", in)
		}()
		spin(r.rng.IntN(200))
		r.crash.Crash()
		<-done
		if errors.Is(err, actors.ErrJournalUnavailable) {
			r.note("  the publish failed: %v", err)
			if r.journaled() {
				t.inMemory = true
			}
		} else {
			r.note("  the publish was acknowledged: %+v (err %v)", ack, err)
			r.published(t, p, ack, err, start, now(), false)
		}
	} else {
		r.note("crash")
		if r.crash != nil {
			r.crash.Crash()
		}
	}
	r.reload()
	if r.journaled() && r.rng.IntN(3) == 0 {
		r.sweepAfterReload()
	}
}

// spin lets other goroutines run n times: a random head start, not an order.
func spin(n int) {
	for range n {
		runtime.Gosched()
	}
}

// reload shuts the Manager down and starts a new one on the same journal.
func (r *modelRun) reload() {
	r.shutdown()
	r.check() // every viewer closed with 1001, with all it should have had
	r.model.viewers = nil
	r.open()
	for _, t := range r.model.tasks {
		t.subs, t.inMemory = 0, false
		if !r.journaled() {
			if t.maybeRestart != nil {
				t.epochs = appendNew(t.epochs, t.maybeRestart.old.epoch)
			}
			t.epochs = appendNew(t.epochs, t.epoch)
			t.end()
			continue
		}
		if !t.exists {
			t.epoch = "" // a waiting task's epoch went with its viewers
			continue
		}
		// What the task had seen in memory may be lost: the journal has the watermark
		// of its last write, or a later one.
		t.seenLo = min(t.seenLo, t.diskSeen)
		t.reloaded = true
		t.keysLoose = r.cfg.capped && len(t.keys) > 0
	}
}

// sweepAfterReload sweeps the journal right after a reload, when no task is in memory,
// at a time that splits the tasks into those that expire and those that stay, while
// publishes to some that expire race it.
func (r *modelRun) sweepAfterReload() {
	var cuts []int64
	for _, t := range r.model.tasks {
		if t.exists && !t.uncertain() {
			_, hi := t.expiry()
			cuts = append(cuts, hi+1)
		}
	}
	r.rng.Shuffle(len(cuts), func(i, j int) { cuts[i], cuts[j] = cuts[j], cuts[i] })
	cutoff := int64(0)
	for _, c := range cuts {
		clean := true
		for _, t := range r.model.tasks {
			if !t.exists {
				continue
			}
			lo, hi := t.expiry()
			if t.uncertain() && c > min(lo, t.activeLo) || lo < c && c <= hi {
				clean = false
			}
			if r := t.maybeRestart; r != nil && c > r.old.activeLo {
				clean = false
			}
		}
		if clean {
			cutoff = c
			break
		}
	}
	if cutoff == 0 {
		return
	}
	var expired []*refTask
	for _, id := range r.ids {
		t := r.model.tasks[id]
		if _, hi := t.expiry(); t.exists && !t.uncertain() && hi < cutoff {
			expired = append(expired, t)
		}
	}
	type racing struct {
		t          *refTask
		p          published
		in         []*v1.LogInput
		ack        actors.Ack
		err        error
		start, end int64
		oldEpoch   string
		oldLast    uint64
	}
	var races []*racing
	for _, t := range expired {
		if !t.finished && r.rng.IntN(2) == 0 {
			in, p := r.entries(t, 1, false)
			races = append(races, &racing{t: t, p: p, in: in, oldEpoch: t.epoch, oldLast: t.last})
		}
	}
	names := make([]string, len(expired))
	for i, t := range expired {
		names[i] = t.id
	}
	r.note("sweep at %s after the reload: %v expire, %d publishes race it", time.Unix(0, cutoff).Format(time.StampMicro), names, len(races))
	var wg sync.WaitGroup
	for _, rc := range races {
		wg.Go(func() {
			rc.start = now()
			rc.ack, rc.err = r.m.PublishOnce(context.Background(), rc.t.id, "", rc.in)
			rc.end = now()
		})
	}
	spin(r.rng.IntN(100))
	_, err := r.m.SweepAt(time.Unix(0, cutoff).Add(retention))
	wg.Wait()
	if err != nil {
		r.fatalf("sweep: %v", err)
	}
	raced := map[*refTask]*racing{}
	for _, rc := range races {
		raced[rc.t] = rc
	}
	for _, t := range expired {
		rc := raced[t]
		if rc == nil {
			r.deleted(t)
			continue
		}
		switch {
		case errors.Is(rc.err, actors.ErrTaskFailed):
			// The task was loaded before the sweep removed it, and its write found it
			// gone (PostgreSQL fences it): nothing was stored.
			r.note("  the publish to %s failed: %v", t.id, rc.err)
			r.deleted(t)
		case rc.err != nil:
			r.fatalf("publish to %s racing a sweep: %v", t.id, rc.err)
		case rc.ack.Epoch != rc.oldEpoch:
			r.note("  the publish to %s started a new incarnation: %+v", t.id, rc.ack)
			r.deleted(t)
			r.published(t, rc.p, rc.ack, nil, rc.start, rc.end, false)
		default:
			// Loaded before the sweep removed it: what it had may be gone from the
			// journal, what this publish stored may not.
			r.note("  the publish to %s continued the incarnation: %+v", t.id, rc.ack)
			if rc.oldLast > 0 {
				t.lossy = append(t.lossy, seqRange{rc.oldEpoch, 1, rc.oldLast})
			}
			t.seenLo = 0
			t.keysLoose = len(t.keys) > 0
			r.published(t, rc.p, rc.ack, nil, rc.start, rc.end, false)
		}
	}
}

// fault runs a publish, a restart or a delete whose write is cut before it reaches the
// journal, or stored with its answer lost (ambiguous).
func (r *modelRun) fault() {
	if !r.journaled() {
		r.publish(r.task(), "batch")
		return
	}
	t := r.task()
	if t.uncertain() {
		r.publish(t, "one")
		return
	}
	f := journaltest.Cut
	if r.rng.IntN(2) == 0 {
		f = journaltest.Ambiguous
	}
	ctx := context.Background()
	switch op := r.rng.IntN(5); {
	case op < 3 && t.exists && !t.finished && t.epoch != "":
		how := []string{"one", "batch", "keyed"}[op]
		n := 1
		if how != "one" {
			n = 1 + r.rng.IntN(5)
		}
		in, p := r.entries(t, n, r.rng.IntN(8) == 0)
		if how == "keyed" {
			r.msgs++
			p.key = "key-" + time.Now().Format("150405.000000") + "-" + t.id
			r.keyed = append(r.keyed, keyedPublish{t.id, p, in})
		}
		r.note("publish %s to %s with a %s write: %d entries%s", how, t.id, f, n, finishNote(p))
		r.crash.Arm(f)
		start := now()
		ack, err := r.send(t.id, how, in, p)
		if !r.fired(t) {
			r.published(t, p, ack, err, start, now(), false)
			return
		}
		t.inMemory = true
		if !errors.Is(err, actors.ErrJournalUnavailable) {
			r.fatalf("publish to %s whose write failed (%s): %+v %v, want ErrJournalUnavailable", t.id, f, ack, err)
		}
		if f == journaltest.Ambiguous {
			t.maybe = &maybePublish{epoch: t.epoch, first: t.last + 1, last: t.last + uint64(n), msgs: p.msgs, finished: p.finished, key: p.key,
				start: start, end: now()}
			t.activeHi = max(t.activeHi, now())
			r.settleNow(t)
		}
	case op == 3:
		r.note("restart %s with a %s write", t.id, f)
		r.crash.Arm(f)
		start := now()
		epoch, err := r.m.Restart(ctx, t.id)
		if !r.fired(t) || !t.exists {
			r.restarted(t, epoch, err, start)
			return
		}
		t.inMemory = true
		if !errors.Is(err, actors.ErrJournalUnavailable) {
			r.fatalf("restart of %s whose write failed (%s): %v, want ErrJournalUnavailable", t.id, f, err)
		}
		if f == journaltest.Ambiguous {
			old := *t
			old.maybeRestart = nil
			t.maybeRestart = &maybeRestart{old: old}
			if t.maybe != nil {
				t.skippable = append(t.skippable, seqRange{t.maybe.epoch, t.maybe.first, t.maybe.last})
			}
			t.epoch, t.last, t.finished = "", 0, false
			t.seenLo, t.seenHi, t.diskSeen = 0, 0, 0
			t.keys, t.keyOrder, t.keysLoose, t.maybe, t.lossy = nil, nil, false, nil, nil
			t.activeLo, t.activeHi, t.finishedLo, t.finishedHi = start, now(), 0, 0
			r.settleNow(t)
		}
	default:
		r.note("delete %s with a %s write", t.id, f)
		r.crash.Arm(f)
		err := r.m.Disconnect(ctx, t.id)
		if !r.fired(t) {
			if err != nil {
				r.fatalf("delete %s: %v", t.id, err)
			}
			r.deleted(t)
			return
		}
		if !errors.Is(err, actors.ErrJournalUnavailable) {
			r.fatalf("delete of %s whose write failed (%s): %v, want ErrJournalUnavailable", t.id, f, err)
		}
		// The task's actor stops; its viewers resume where it loads again (1001).
		for _, v := range r.model.viewers {
			if v.task == t && v.closeWant == nil {
				v.stop(v.epoch, v.pos, wire.CloseGoingAway, wire.CloseNormal)
			}
		}
		// The next message loads the task again, as after a crash: the seen watermark
		// may be the one of its last write.
		t.inMemory, t.reloaded = false, t.exists
		t.seenLo = min(t.seenLo, t.diskSeen)
		t.maybeDeleted = f == journaltest.Ambiguous && t.exists
	}
}

// settleNow decides an ambiguous write of t at once: a task whose write's outcome is
// unknown loads itself again before it answers anything else, so its status is the
// journal's word.
func (r *modelRun) settleNow(t *refTask) {
	st, err := r.m.Status(context.Background(), t.id)
	if err != nil {
		r.fatalf("status of %s after a write whose answer was lost: %v", t.id, err)
	}
	r.note("  the task loaded itself again: %s", brief(st))
	r.model.settleByStatus(t, st)
	if t.maybe != nil || t.maybeRestart != nil {
		r.fatalf("status %s of %s after a write whose answer was lost decides nothing", brief(st), t.id)
	}
}

// fired disarms the fault and reports whether it hit t's write.
func (r *modelRun) fired(t *refTask) bool {
	f, hit := r.crash.Fired()
	if f != journaltest.NoFault {
		r.note("  the %s fault hit the write of %v", f, hit)
	}
	return f != journaltest.NoFault && slices.Contains(hit, t.id)
}

// check waits until every viewer has what it should have, then compares every task's
// status and the task list with the model.
func (r *modelRun) check() {
	r.t.Helper()
	for _, v := range r.model.viewers {
		deadline := time.Now().Add(modelWait)
		for wait := 100 * time.Microsecond; ; wait = min(2*wait, 20*time.Millisecond) {
			caught, err := r.model.checkViewer(v)
			if err != nil {
				r.fatalf("%v", err)
			}
			if caught {
				break
			}
			if time.Now().After(deadline) {
				code, reason, closed := v.sock.CloseCode()
				r.fatalf("viewer %s of %s: not caught up within %v: at epoch %s seq %d (first hello %v last_seq %d, queue or replay open %v), task at epoch %s last_seq %v; closed %v %d %q, want close %v",
					v.name, v.task.id, modelWait, v.epoch, v.pos, v.hello, v.helloLast, v.initial, v.task.epoch, v.task.lastSeqs(), closed, code, reason, v.closeWant)
			}
			time.Sleep(wait) // polling with a deadline
		}
	}
	r.model.viewers = slices.DeleteFunc(r.model.viewers, func(v *refViewer) bool { return v.ended })
	if r.m == nil {
		return
	}
	ctx := context.Background()
	for _, id := range r.ids {
		t := r.model.tasks[id]
		st, err := r.m.Status(ctx, id)
		if errors.Is(err, actors.ErrNotFound) {
			st, err = nil, nil
		}
		if err != nil {
			r.fatalf("status of %s: %v", id, err)
		}
		if r.journaled() && st != nil {
			t.inMemory = true
		}
		if err := r.model.checkStatus(t, st); err != nil {
			r.fatalf("%v", err)
		}
		if st == nil {
			connected, err := r.m.ConnectionStatus(ctx, id)
			if err != nil || connected != (t.subs > 0) {
				r.fatalf("connection status of %s (waiting for its first publish): %v %v, want %v", id, connected, err, t.subs > 0)
			}
		}
	}
	list, err := r.m.ListTasks(ctx, "")
	if err != nil {
		r.fatalf("list: %v", err)
	}
	if err := r.model.checkList(list); err != nil {
		r.fatalf("%v", err)
	}
}
