package actors

import (
	"math"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/taskstate"
	"github.com/tasktail/tasktail/wire"
)

func (t *TaskActor) subscribe(ctx actor.Context, m *v1.Subscribe, sender *actor.PID) {
	if len(t.subs) >= t.cfg.MaxViewersPerTask {
		respond(ctx, sender, &v1.Refused{TaskId: t.taskID, Reason: v1.RefusedReason_REFUSED_REASON_TOO_MANY_VIEWERS})
		return
	}
	if t.subscribed(pidOf(m.Subscriber)) {
		// A retried request (cluster mode) that reached the task twice: the first one
		// already delivered the hello and the replay.
		respond(ctx, sender, t.subscribeAck(ctx))
		return
	}
	if t.store != nil && m.Resume && t.backfill(ctx, m, sender) {
		return // registered once the journal has answered (onBackfilled)
	}
	t.register(ctx, m, sender, nil)
}

// register adds a subscriber and sends it hello, then the replay or the queue; older are
// entries read from the journal for a replay, older than the history.
func (t *TaskActor) register(ctx actor.Context, m *v1.Subscribe, sender *actor.PID, older []journal.Entry) {
	t.lastActive = time.Since(processStart)
	t.markSeen()
	frames := [][]byte{wire.HelloFrame(&v1.Hello{TaskId: t.taskID, Epoch: t.s.Epoch, LastSeq: t.s.LastSeq, Finished: t.s.Finished})}
	if m.Resume {
		frames = t.appendReplay(frames, m.Since, m.Epoch, older)
	} else {
		frames = t.appendQueue(frames)
	}
	// Whatever was queued has now been handed to a subscriber.
	t.s.Apply(taskstate.Seen{}, t.cfg.rules())
	deliver, sub := &v1.Deliver{Frames: frames}, pidOf(m.Subscriber)
	if t.s.Finished {
		deliver.CloseCode, deliver.CloseReason = uint32(wire.CloseNormal), "task finished"
	} else {
		ctx.Watch(sub)
		t.subs = append(t.subs, sub)
	}
	ctx.Send(sub, deliver)
	respond(ctx, sender, t.subscribeAck(ctx))
}

// lostTries bounds how often a subscriber whose address ended is told to go (watchEnded);
// the n-th try waits lostDelay << n.
const (
	lostTries = 5
	lostDelay = 100 * time.Millisecond
)

// tellLost is a task's note to itself to tell a lost subscriber to go (watchEnded).
type tellLost struct{ pid *actor.PID }

// watchEnded handles the end of a subscriber's watch. One that ends with its address may
// be a viewer that is alive: the library ends every watch of an address when its
// connection there ends, and when a member at that address leaves the topology, even when
// a new process already serves the address and the viewer lives on it (with a provider
// that lets a member's successor join before the member has left). Such a viewer may
// have missed frames and would be sent nothing more, so it is told to go (1001: it
// resumes with since) and watched again until it is gone.
//
// The close is tried again, after a doubling wait, each time the connection it travels on
// drops before the viewer is gone. A viewer that is gone ends the watch with NotFound (the
// process at its address has no actor by its id: NewActorSystem), or with its address
// again while nobody serves it; one that got the close unsubscribes.
func (t *TaskActor) watchEnded(ctx actor.Context, m *actor.Terminated) {
	key := lostKey(m.Who)
	tries, told := t.lost[key]
	subscribed := t.subscribed(m.Who)
	t.removeSubscriber(ctx, m.Who)
	if m.Why != actor.TerminatedReason_AddressTerminated || tries == lostTries || !(told || subscribed) {
		t.forgetLost(m.Who)
		return
	}
	if t.lost == nil {
		t.lost = map[string]int{}
	}
	t.lost[key] = tries + 1
	root, self, pid := ctx.ActorSystem().Root, ctx.Self(), m.Who
	time.AfterFunc(lostDelay<<tries, func() { root.Send(self, tellLost{pid: pid}) })
}

// tellLostSubscriber sends a lost subscriber the close and watches it (watchEnded).
func (t *TaskActor) tellLostSubscriber(ctx actor.Context, pid *actor.PID) {
	if _, told := t.lost[lostKey(pid)]; told {
		ctx.Send(pid, &v1.Deliver{CloseCode: uint32(wire.CloseGoingAway), CloseReason: "connection to the task's member lost"})
		ctx.Watch(pid)
	}
}

// lostKey names a subscriber in TaskActor.lost.
func lostKey(pid *actor.PID) string { return pid.Address + "/" + pid.Id }

// forgetLost stops telling pid to go.
func (t *TaskActor) forgetLost(pid *actor.PID) {
	if t.lost == nil {
		return
	}
	delete(t.lost, lostKey(pid))
	if len(t.lost) == 0 {
		t.lost = nil
	}
}

func (t *TaskActor) subscribeAck(ctx actor.Context) *v1.SubscribeAck {
	return &v1.SubscribeAck{TaskId: t.taskID, Epoch: t.s.Epoch, LastSeq: t.s.LastSeq, Finished: t.s.Finished, Task: refOf(ctx.Self())}
}

// appendQueue appends the flush of rule 1 (docs/design.md): a gap for what the trim rule
// dropped, then the queue.
func (t *TaskActor) appendQueue(frames [][]byte) [][]byte {
	unseen, from := t.s.UnseenFrom(), t.s.QueueStart()
	if unseen == 0 {
		return frames
	}
	if unseen < from {
		frames = append(frames, wire.GapFrame(&v1.Gap{TaskId: t.taskID, FromSeq: unseen, ToSeq: from - 1, Reason: v1.GapReason_GAP_REASON_TRIMMED}))
	}
	if oldest := t.history.oldest(t.s.LastSeq); oldest > from {
		// Loaded again after the journal's size cap dropped part of the queue.
		frames = append(frames, wire.GapFrame(&v1.Gap{TaskId: t.taskID, FromSeq: from, ToSeq: oldest - 1, Reason: v1.GapReason_GAP_REASON_RETENTION}))
		from = oldest
	}
	return t.history.appendRange(frames, from, t.s.LastSeq)
}

// appendReplay appends every retained message after since: the entries older than the
// history that the journal gave (older), then the history. A client that resumes from
// another incarnation (a different epoch, or a since this one never reached) first gets a
// gap for what it missed there, then this incarnation from its start. What neither holds
// is a gap with reason history.
func (t *TaskActor) appendReplay(frames [][]byte, since uint64, epoch string, older []journal.Entry) [][]byte {
	from, epochGap := t.replayFrom(since, epoch)
	if epochGap {
		frames = append(frames, wire.GapFrame(&v1.Gap{TaskId: t.taskID, FromSeq: min(since, math.MaxUint64-1) + 1, Reason: v1.GapReason_GAP_REASON_EPOCH}))
	}
	oldest := t.history.oldest(t.s.LastSeq)
	if t.j != nil && from < t.s.FirstSeq && from < oldest {
		// The journal's size cap dropped these.
		end := min(t.s.FirstSeq, oldest) - 1
		frames = append(frames, wire.GapFrame(&v1.Gap{TaskId: t.taskID, FromSeq: from, ToSeq: end, Reason: v1.GapReason_GAP_REASON_RETENTION}))
		from = end + 1
	}
	var stamp [40]byte
	for _, e := range older {
		if e.Seq < from || e.Seq >= oldest {
			continue
		}
		if e.Seq > from {
			frames = append(frames, t.historyGap(from, e.Seq-1))
		}
		frames = append(frames, entryFrame(t.taskID, e, stamp[:0]))
		from = e.Seq + 1
	}
	if from < oldest {
		frames = append(frames, t.historyGap(from, oldest-1))
		from = oldest
	}
	return t.history.appendRange(frames, from, t.s.LastSeq)
}

// replayFrom is the first seq a replay after since should hold, and whether the client
// comes from another incarnation (then from is 1).
func (t *TaskActor) replayFrom(since uint64, epoch string) (from uint64, epochGap bool) {
	if (epoch != "" && epoch != t.s.Epoch) || since > t.s.LastSeq {
		return 1, true
	}
	return since + 1, false
}

func (t *TaskActor) historyGap(from, to uint64) []byte {
	return wire.GapFrame(&v1.Gap{TaskId: t.taskID, FromSeq: from, ToSeq: to, Reason: v1.GapReason_GAP_REASON_HISTORY})
}

// backfill starts reading from the journal what a resuming subscriber needs beyond the
// history, at most Config.ReplayLimit entries back from the last, and reports whether it
// did; the subscriber is registered when the entries arrive. Publishes wait meanwhile, so
// the subscriber misses nothing between the replay and the live messages.
func (t *TaskActor) backfill(ctx actor.Context, m *v1.Subscribe, sender *actor.PID) bool {
	from, _ := t.replayFrom(m.Since, m.Epoch)
	if limit := uint64(t.cfg.ReplayLimit); t.s.LastSeq >= limit {
		from = max(from, t.s.LastSeq-limit+1)
	}
	from = max(from, t.s.FirstSeq) // older ones the size cap dropped
	oldest := t.history.oldest(t.s.LastSeq)
	if from >= oldest {
		return false
	}
	// A replay holds at most HistoryBytes of messages from the journal besides the
	// history: start where, at the task's average message size, that many end at the
	// history; what is older is a gap (the download has it).
	if stored := t.s.LastSeq - max(t.s.FirstSeq, 1) + 1; t.s.Bytes > 0 && stored > 0 {
		average := max(uint64(t.s.Bytes)/stored, 1)
		if fit := uint64(t.cfg.HistoryBytes) / average; oldest > fit {
			from = max(from, oldest-fit)
		}
	}
	if from >= oldest {
		return false
	}
	t.j.reading++
	root, self := ctx.ActorSystem().Root, ctx.Self()
	t.store.w.Read(t.taskID, from, int(oldest-from), t.cfg.HistoryBytes, func(entries []journal.Entry, err error) {
		// A failed read replays what the history holds, after a gap.
		root.Send(self, &backfilled{subscribe: m, sender: sender, entries: entries})
	})
	return true
}

// onBackfilled registers the subscriber that waited for entries from the journal.
func (t *TaskActor) onBackfilled(ctx actor.Context, b *backfilled) {
	t.j.reading--
	if len(t.subs) >= t.cfg.MaxViewersPerTask {
		respond(ctx, b.sender, &v1.Refused{TaskId: t.taskID, Reason: v1.RefusedReason_REFUSED_REASON_TOO_MANY_VIEWERS})
	} else if t.subscribed(pidOf(b.subscribe.Subscriber)) {
		respond(ctx, b.sender, t.subscribeAck(ctx))
	} else {
		t.register(ctx, b.subscribe, b.sender, b.entries)
	}
	t.unstash(ctx)
}
