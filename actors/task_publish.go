package actors

import (
	"time"

	"github.com/tasktail/tasktail/journal"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/conn"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// A publish call is planned once from the task's state (plan), and the plan is applied
// (applyPlan): at once without a journal, once stored with one. The rules of appending
// (seqs, progress kept, finished, failed, idempotency keys) live in plan alone, and the
// queue and history follow from applyPlan alone, so the live path and the durable one
// cannot drift (docs/design.md, "One apply").

// plan is what a publish call does to its task: the entries it appends, as they are
// stored, the idempotency keys it stores, each group's outcome, and the task's state after.
type plan struct {
	entries []journal.Entry
	keys    []journal.Key
	groups  []plannedGroup // parallel to the call's ends
	at      time.Time
	// The task's state after the call.
	lastSeq  uint64
	progress float64
	finished bool
	failed   bool
}

// plannedGroup is one group's outcome: appended as entries[from:to], or answered with ack
// (a retry, a refusal).
type plannedGroup struct {
	from, to int
	ack      partAck
	appended bool
	hash     uint64 // of a keyed group's body
}

// plan decides what call c does to the task at at. It changes nothing.
func (t *TaskActor) plan(c *PublishCall, at time.Time) *plan {
	p := &plan{groups: make([]plannedGroup, len(c.ends)), at: at,
		lastSeq: t.lastSeq, progress: t.progress, finished: t.finished, failed: t.failed}
	var inCall map[string]int // keys of earlier groups of this call: their index
	from := 0
	for i, end := range c.ends {
		g, key, group := &p.groups[i], c.key(i), c.entries[from:end]
		from = end
		if key != "" {
			g.hash = bodyHash(group)
		}
		if j, ok := inCall[key]; ok && key != "" { // a retry within the call
			earlier := p.groups[j]
			g.ack = earlier.ack
			g.ack.reused = earlier.hash != g.hash
			continue
		}
		if ack, ok, reused := t.keyed(key, g.hash, at); ok {
			g.ack, g.ack.reused = ack, reused
			continue
		}
		if p.finished {
			g.ack = partAck{last: p.lastSeq, finished: true}
			continue
		}
		g.appended, g.from = true, len(p.entries)
		g.ack.first = p.lastSeq + 1
		for _, in := range group {
			if in.progress == KeepProgress {
				in.progress = p.progress
			}
			p.lastSeq++
			p.entries = append(p.entries, journal.Entry{Seq: p.lastSeq, TimeUnixNano: at.UnixNano(),
				Level: in.level, Message: in.message, Progress: in.progress, Finished: in.finished})
			p.progress = in.progress
			if in.finished && !p.finished {
				p.failed = failing(in.level)
			}
			p.finished = p.finished || in.finished
		}
		g.to, g.ack.last = len(p.entries), p.lastSeq
		if key != "" {
			p.keys = append(p.keys, journal.Key{Key: key, Hash: g.hash, First: g.ack.first, Last: g.ack.last, At: at.UnixNano()})
			if inCall == nil {
				inCall = map[string]int{}
			}
			inCall[key] = i
		}
	}
	return p
}

// applyPlan applies a planned call to the task, delivers all it makes live in one
// Deliver, and completes the call.
func (t *TaskActor) applyPlan(ctx actor.Context, c *PublishCall, p *plan) {
	wasFinished := t.finished
	var live [][]byte
	if len(t.subs) > 0 {
		live = make([][]byte, 0, len(p.entries))
		t.markSeen()
	}
	var buf [40]byte
	now := newStamp(p.at, buf[:0])
	for i := range p.groups {
		g := &p.groups[i]
		if g.appended {
			g.ack.queued = len(t.subs) == 0
			live = t.appendEntries(p.entries[g.from:g.to], g.ack.queued, live, now)
			t.remember(c.key(i), g.hash, p.at.UnixNano(), g.ack)
		}
		c.acks[i] = g.ack
	}
	t.progress, t.finished, t.failed = p.progress, p.finished, p.failed
	t.deliverLive(ctx, live, wasFinished)
	c.complete(t.epoch, nil)
}

// stamp is the time of the entries of one call, with its timestamp formatted once.
type stamp struct {
	at   time.Time
	text []byte
}

// newStamp formats at into buf.
func newStamp(at time.Time, buf []byte) stamp {
	return stamp{at: at, text: conn.AppendTimestamp(buf, at.UnixNano())}
}

// appendEntries appends one group's planned entries to the task: their frames go to live
// (there are subscribers) or join the queue (rules 3 and 4), and to the history.
func (t *TaskActor) appendEntries(entries []journal.Entry, queued bool, live [][]byte, now stamp) [][]byte {
	t.lastActive = now.at.Sub(processStart)
	t.history.reserve(len(entries), t.cfg.HistoryLimit)
	for _, e := range entries {
		t.lastSeq = e.Seq
		frame := conn.LogFrame(&v1.LogEntry{
			TaskId: t.taskID, Seq: e.Seq, TimeUnixNano: e.TimeUnixNano,
			Level: e.Level, Message: e.Message, Progress: e.Progress, Finished: e.Finished,
		}, now.text)
		if queued {
			t.enqueue()
		} else {
			live = append(live, frame)
		}
		t.history.push(t.lastSeq, frame, t.cfg.HistoryLimit, t.cfg.HistoryBytes, t.queueStart())
	}
	t.stats.Published.Add(uint64(len(entries)))
	if queued {
		t.stats.Queued.Add(uint64(len(entries)))
	}
	return live
}

// deliverLive sends the subscribers the frames of one call, and when that call finished
// the task, closes them and starts the finished TTL.
func (t *TaskActor) deliverLive(ctx actor.Context, live [][]byte, wasFinished bool) {
	justFinished := t.finished && !wasFinished
	if len(live) > 0 {
		deliver := &v1.Deliver{Frames: live}
		if justFinished {
			deliver.CloseCode, deliver.CloseReason = uint32(conn.CloseNormal), "task finished"
		}
		t.sendAll(ctx, deliver)
	}
	if justFinished {
		t.dropSubscribers(ctx)
		t.armTimer(ctx, t.cfg.FinishedTTL)
	}
}

// enqueue applies rules 3 and 4 of docs/design.md to the message just appended at lastSeq:
// it joins the queue, and the queue is what the trim rule leaves of the messages nobody
// has seen (queueLength, the one statement of rule 4).
func (t *TaskActor) enqueue() {
	if t.unseenFrom == 0 {
		t.unseenFrom, t.queuedFrom = t.lastSeq, t.lastSeq
	}
	keepFrom := t.lastSeq - queueLength(t.lastSeq-t.unseenFrom+1, uint64(t.cfg.QueueLimit), uint64(t.cfg.QueueKeep)) + 1
	if keepFrom > t.queuedFrom {
		t.stats.Trimmed.Add(keepFrom - t.queuedFrom)
		t.queuedFrom = keepFrom
	}
}

// queueStart is the first seq of the queue, or 0 when nothing is queued.
func (t *TaskActor) queueStart() uint64 {
	if t.unseenFrom == 0 {
		return 0
	}
	return t.queuedFrom
}

// queued is how many messages the queue holds: those of the trim rule's queue that the
// task still has (a task loaded again after the journal's size cap dropped part of its
// queue has fewer).
func (t *TaskActor) queued() uint32 {
	if t.unseenFrom == 0 {
		return 0
	}
	return uint32(t.lastSeq - max(t.queuedFrom, t.history.oldest(t.lastSeq)) + 1)
}

// failing reports whether a task that finishes with a message of level failed.
func failing(level v1.Level) bool {
	return level == v1.Level_LEVEL_ERROR || level == v1.Level_LEVEL_CRITICAL
}
