package actors

import (
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/taskstate"
	"github.com/tasktail/tasktail/wire"
	"google.golang.org/protobuf/proto"
)

// With a journal a task is durable (docs/design.md, "Durability"): it loads its state when
// it starts, and a publish, a restart or a delete changes the task only once the journal
// has stored it. One write is in flight per task at a time; publishes, restarts and
// deletes that arrive meanwhile wait in the task's stash, in order, while subscribes,
// status and unsubscribes are served at once from what is durable. The journal runs on the
// Writer's goroutine and answers with a message, so the task never blocks.

// store is a Manager's journal, shared by its tasks; nil without one.
type store struct {
	w *journal.Writer
}

// taskJournal is a task's side of the journal.
type taskJournal struct {
	loading bool // the load is in flight: every message waits
	failed  bool // the last load failed: the next message tries again
	writing bool // a write is in flight: publishes, restarts and deletes wait
	reading int  // replays being read: publishes, restarts and deletes wait
	pending pendingWrite
	stash   []stashed
	// dirty: the seen watermark or the activity time moved since the meta was written.
	dirty bool
	// activeWritten is the activity time (TaskActor.lastActive) the last write carried.
	activeWritten time.Duration
	owner         uint64 // this activation's generation in a shared journal
	deleted       bool   // the delete is stored: nothing more is written
	// requeued: a write the journal refused was put back to be handled again after a
	// load (one node); refused again, the task stops.
	requeued bool
}

// pendingWrite is what a task does once its write is stored.
type pendingWrite struct {
	call    *PublishCall
	plan    *taskstate.Plan
	restart string     // the new epoch of a restart
	delete  bool       // a delete
	sender  *actor.PID // who waits for the restart or delete
}

// maxStash bounds the messages that wait for a task's journal: past it, routed messages
// are answered journal_unavailable at once (a delete and an unsubscribe still wait).
const maxStash = 4096

type stashed struct {
	msg    any
	sender *actor.PID
}

// loaded carries a task's state from the journal to the task.
type loaded struct {
	journal.Loaded
	err error
}

// backfilled carries entries older than the history to a subscribe that waits for them.
type backfilled struct {
	subscribe *v1.Subscribe
	sender    *actor.PID
	entries   []journal.Entry
}

// committed tells a task that its write is stored (err nil), with its meta as stored, or
// failed.
type committed struct {
	meta journal.Meta
	err  error
}

// journalUnavailable is the answer to a request the journal could not store.
func (t *TaskActor) journalUnavailable() *v1.Refused {
	return &v1.Refused{TaskId: t.taskID, Reason: v1.RefusedReason_REFUSED_REASON_JOURNAL_UNAVAILABLE}
}

// load asks the journal for the task's state; loaded arrives as a message.
func (t *TaskActor) load(ctx actor.Context) {
	t.j.loading, t.j.failed = true, false
	root, self := ctx.ActorSystem().Root, ctx.Self()
	t.store.w.Load(t.taskID, t.cfg.HistoryLimit, func(l journal.Loaded, err error) {
		root.Send(self, &loaded{Loaded: l, err: err})
	})
}

// waits reports whether msg must wait for the journal.
func (t *TaskActor) waits(msg any) bool {
	if t.j.loading {
		return true
	}
	if !t.j.writing && t.j.reading == 0 {
		return false
	}
	o := operationOf(msg)
	return o != nil && o.journal
}

// onLoaded restores the task, or marks it absent, and handles what waited.
func (t *TaskActor) onLoaded(ctx actor.Context, m *loaded) {
	t.j.loading = false
	if m.err != nil {
		// Nothing is known: answer what waited, and load again on the next message.
		t.j.failed = true
		stash := t.j.stash
		t.j.stash = nil
		forgotten := false // a delete waited: the router has forgotten this actor
		for _, s := range stash {
			if rt, _, ok := routeOf(s.msg); ok {
				answer(func(r any) { respond(ctx, s.sender, r) }, s.msg, t.journalUnavailable())
				forgotten = forgotten || rt.ends
			}
		}
		if forgotten {
			ctx.Stop(ctx.Self())
		}
		return
	}
	t.j.owner = m.Meta.Owner
	switch {
	case m.Found && t.created: // loaded again after an unknown outcome
		epoch, last := t.s.Epoch, t.s.LastSeq
		t.restore(m.Loaded)
		t.caughtUp(ctx, epoch, last)
	case m.Found:
		t.restore(m.Loaded)
		t.create()
		if t.found != nil {
			t.found(ctx)
		}
	case t.created && t.j.requeued:
		// Gone from the journal (swept) under a publish that waits to be handled anew:
		// that publish starts a new incarnation, which the viewers are told of.
		epoch, last := t.s.Epoch, t.s.LastSeq
		t.s.Apply(taskstate.Restarted{Epoch: newEpoch()}, t.cfg.rules())
		t.history = history{}
		t.caughtUp(ctx, epoch, last)
	case t.created: // loaded again, and gone (deleted or swept elsewhere)
		t.fenced(ctx)
		return
	default:
		t.s.Epoch = newEpoch()
	}
	t.unstash(ctx)
}

// caughtUp brings the subscribers of a task loaded again to what the journal has: the
// entries a commit whose outcome was unknown did store, or a new incarnation.
func (t *TaskActor) caughtUp(ctx actor.Context, epoch string, last uint64) {
	if len(t.subs) == 0 {
		return
	}
	switch {
	case t.s.Epoch != epoch:
		t.sendAll(ctx, &v1.Deliver{Frames: [][]byte{
			wire.GapFrame(&v1.Gap{TaskId: t.taskID, FromSeq: last + 1, Reason: v1.GapReason_GAP_REASON_EPOCH}),
			wire.HelloFrame(&v1.Hello{TaskId: t.taskID, Epoch: t.s.Epoch, LastSeq: t.s.LastSeq}),
		}})
	case t.s.LastSeq > last:
		var frames [][]byte
		from := last + 1
		if oldest := t.history.oldest(t.s.LastSeq); oldest > from { // more than the history holds
			frames = append(frames, t.historyGap(from, oldest-1))
			from = oldest
		}
		t.sendAll(ctx, &v1.Deliver{Frames: t.history.appendRange(frames, from, t.s.LastSeq)})
	}
	t.s.Apply(taskstate.Seen{}, t.cfg.rules()) // the subscribers have seen it
	t.markSeen()
	if t.s.Finished {
		t.sendAll(ctx, &v1.Deliver{CloseCode: uint32(wire.CloseNormal), CloseReason: "task finished"})
		t.dropSubscribers(ctx)
	}
}

// restore sets the task's state from what the journal has (taskstate.Loaded): the same
// epoch, seq, progress and finished state, the idempotency keys and the queue as the trim
// rule left it; and the history from the newest entries. What the journal no longer has
// of the queue is a retention gap for the next viewer (appendQueue).
func (t *TaskActor) restore(l journal.Loaded) {
	t.s.Apply(taskstate.Loaded{Meta: l.Meta, Keys: l.Keys}, t.cfg.rules())
	t.history = history{}
	t.history.reserve(len(l.Entries), t.cfg.HistoryLimit)
	var stamp [40]byte
	for _, e := range l.Entries {
		t.history.push(e.Seq, entryFrame(t.taskID, e, stamp[:0]), t.cfg.HistoryLimit, t.cfg.HistoryBytes, t.s.QueueStart())
	}
}

// unstash handles the messages that waited, in order, until one has to wait again.
func (t *TaskActor) unstash(ctx actor.Context) {
	for len(t.j.stash) > 0 && !t.j.loading && !t.j.writing && t.j.reading == 0 {
		s := t.j.stash[0]
		t.j.stash[0] = stashed{}
		t.j.stash = t.j.stash[1:]
		t.handle(ctx, s.msg, s.sender)
	}
	if len(t.j.stash) == 0 {
		t.j.stash = nil
	}
}

// meta is the task's meta as it stands.
func (t *TaskActor) meta() journal.Meta {
	return t.s.Meta(processStart.Add(t.lastActive).UnixNano(), t.j.owner)
}

// write hands the journal one write of the task; committed arrives as a message.
func (t *TaskActor) write(ctx actor.Context, a journal.Append, p pendingWrite) {
	t.j.writing, t.j.pending, t.j.dirty = true, p, false
	t.j.activeWritten = time.Duration(a.Meta.Active - processStart.UnixNano())
	root, self := ctx.ActorSystem().Root, ctx.Self()
	t.store.w.Commit(a, func(m journal.Meta, err error) { root.Send(self, &committed{meta: m, err: err}) })
}

// publishDurably stores a call's planned entries, keys and meta, and applies the plan
// once stored. The seen watermark written is the one before the call: entries that go
// live are recorded as seen by a later write, so a crash can hand them to a new
// connection again, never lose them from the queue.
func (t *TaskActor) publishDurably(ctx actor.Context, c *PublishCall, p *taskstate.Plan) {
	t.write(ctx, journal.Append{TaskID: t.taskID, Meta: p.Onto(t.meta()), Entries: p.Entries, Keys: p.Keys()}, pendingWrite{call: c, plan: p})
}

// restartDurably stores a new incarnation: no entries, a new epoch.
func (t *TaskActor) restartDurably(ctx actor.Context, sender *actor.PID) {
	epoch := newEpoch()
	meta := journal.Meta{Epoch: epoch, Active: time.Now().UnixNano(), Owner: t.j.owner}
	t.write(ctx, journal.Append{TaskID: t.taskID, Reset: true, Meta: meta}, pendingWrite{restart: epoch, sender: sender})
}

// deleteDurably removes the task from the journal, then closes it.
func (t *TaskActor) deleteDurably(ctx actor.Context, sender *actor.PID) {
	t.j.writing, t.j.pending = true, pendingWrite{delete: true, sender: sender}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	t.store.w.Delete(t.taskID, func(err error) { root.Send(self, &committed{err: err}) })
}

// onCommitted finishes what the stored write was for.
func (t *TaskActor) onCommitted(ctx actor.Context, m *committed) {
	// pending stays set until its caller is answered: a panic before that stops the task,
	// which answers it then (answerWaiting).
	p := t.j.pending
	t.j.writing = false
	if m.err == nil {
		t.j.requeued = false
	}
	if m.err == nil && !p.delete {
		t.j.owner = m.meta.Owner
		t.s.Apply(taskstate.Stored{Meta: m.meta}, t.cfg.rules()) // FirstSeq and Bytes, which no other record sets
	}
	if errors.Is(m.err, journal.ErrFenced) {
		if t.member != "" || t.j.requeued || p.call == nil {
			t.fenced(ctx) // in a cluster, another member owns the task now
			return
		}
		// One node: the journal's task is not the one this actor had (swept, or deleted
		// and made again): the task loads it, then handles the publish anew.
		t.j.requeued, t.j.pending = true, pendingWrite{}
		t.j.stash = append([]stashed{{msg: p.call}}, t.j.stash...)
		t.load(ctx)
		return
	}
	if errors.Is(m.err, journal.ErrOutcomeUnknown) && !p.delete {
		// It may be stored: the task loads itself again before it handles anything else,
		// so it neither reuses the seqs nor loses what was stored.
		unknown := &v1.Refused{TaskId: t.taskID, Reason: v1.RefusedReason_REFUSED_REASON_OUTCOME_UNKNOWN}
		if p.call != nil {
			p.call.Refuse(t.s.Epoch, unknown)
		} else {
			respond(ctx, p.sender, unknown)
		}
		t.j.pending = pendingWrite{}
		t.load(ctx)
		return
	}
	switch {
	case p.call != nil && m.err != nil:
		p.call.Refuse(t.s.Epoch, t.journalUnavailable())
	case p.call != nil:
		t.applyPlan(ctx, p.call, p.plan)
	case p.restart != "" && m.err != nil:
		respond(ctx, p.sender, t.journalUnavailable())
	case p.restart != "":
		t.restartTo(ctx, p.restart)
		respond(ctx, p.sender, &v1.RestartAck{TaskId: t.taskID, Found: true, Epoch: t.s.Epoch})
	case p.delete && m.err != nil:
		// The router has forgotten the task already; the journal still has it, and the
		// next message loads it again. Its viewers resume there (1001). The list shows it
		// from the journal, if it is there.
		t.j.pending = pendingWrite{}
		t.unlist()
		respond(ctx, p.sender, t.journalUnavailable())
		ctx.Stop(ctx.Self())
		return
	case p.delete:
		t.j.pending = pendingWrite{}
		t.j.deleted = true
		t.deleteNow(ctx, p.sender)
		return
	case m.err != nil: // a meta write: try again with the next one
		t.j.dirty = true
	}
	t.j.pending = pendingWrite{}
	t.unstash(ctx)
}

// fenced ends an activation that another member has taken the task from (it loaded the
// task after this one did, say after this member was paused past its lease): nothing
// this one writes is stored any more. Its viewers resume on the owner (1001), what waited
// is answered with a failure to retry, and it stops.
func (t *TaskActor) fenced(ctx actor.Context) {
	moved := &v1.TaskFailure{TaskId: t.taskID, Reason: "the task changed in the journal (it moved to another member, or was deleted or swept); retry"}
	t.unlist()
	t.answerWaiting(ctx, moved, moved) // the write in flight, if any, was refused: nothing stored
	t.j.failed = true
	t.sendAll(ctx, &v1.Deliver{CloseCode: uint32(wire.CloseGoingAway), CloseReason: "task moved"})
	t.dropSubscribers(ctx)
	ctx.Stop(ctx.Self())
}

// answerWaiting answers the caller of the write in flight, if any, with written, and every
// routed message that waits for the journal with waiting, and forgets them.
func (t *TaskActor) answerWaiting(ctx actor.Context, written, waiting proto.Message) {
	if t.j == nil {
		return
	}
	if p := t.j.pending; p.call != nil {
		p.call.Refuse(t.s.Epoch, written)
	} else if p.sender != nil {
		respond(ctx, p.sender, written)
	}
	t.j.pending = pendingWrite{}
	for _, s := range t.j.stash {
		if _, _, ok := routeOf(s.msg); ok {
			answer(func(r any) { respond(ctx, s.sender, r) }, s.msg, waiting)
		}
	}
	t.j.stash = nil
}

// writeMeta stores the meta if it moved since the last write, without waiting for it:
// what a crash loses of it is the seen watermark and the activity time, so a queued
// message may be handed again to a new connection, never lost.
func (t *TaskActor) writeMeta(ctx actor.Context) {
	// A task nothing was published to has nothing worth keeping: a viewer alone never
	// makes the journal keep a task.
	if t.j == nil || !t.j.dirty || t.j.writing || t.j.loading || t.j.failed || t.j.deleted || !t.created || t.s.LastSeq == 0 {
		return
	}
	t.j.dirty, t.j.activeWritten = false, t.lastActive
	t.store.w.Commit(journal.Append{TaskID: t.taskID, Meta: t.meta()}, func(journal.Meta, error) {})
}

// markSeen records that the seen watermark or the activity moved.
func (t *TaskActor) markSeen() {
	if t.j != nil {
		t.j.dirty = true
	}
}

// busyWithJournal reports whether the task waits for the journal or has messages waiting.
func (t *TaskActor) busyWithJournal() bool {
	return t.j != nil && (t.j.loading || t.j.writing || t.j.reading > 0 || len(t.j.stash) > 0)
}
