package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/conn"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// publishAt appends the groups of a call in order, each all or nothing, stamped at, and
// delivers all they make live in one Deliver.
func (t *TaskActor) publishAt(ctx actor.Context, c *PublishCall, at time.Time) {
	wasFinished := t.finished
	var live [][]byte
	if len(t.subs) > 0 {
		live = make([][]byte, 0, len(c.entries))
		t.markSeen()
	}
	var buf [40]byte
	now := newStamp(at, buf[:0])
	from := 0
	for i, end := range c.ends {
		key := c.key(i)
		if ack, ok := t.keyed(key); ok { // a retry: answered as the first time
			c.acks[i] = ack
		} else {
			c.acks[i], live = t.appendEntries(c.entries[from:end], live, now)
			if !c.acks[i].finished {
				t.remember(key, c.acks[i])
			}
		}
		from = end
	}
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

// appendEntries stores one all-or-nothing group of entries, appends the frames to deliver
// now (there are subscribers) to live, and applies the queue rules otherwise.
func (t *TaskActor) appendEntries(entries []logEntry, live [][]byte, now stamp) (partAck, [][]byte) {
	if t.finished {
		return partAck{last: t.lastSeq, finished: true}, live
	}
	t.lastActive = now.at.Sub(processStart)
	ack := partAck{first: t.lastSeq + 1, queued: len(t.subs) == 0}
	t.history.reserve(len(entries), t.cfg.HistoryLimit)
	for _, in := range entries {
		if in.progress == KeepProgress {
			in.progress = t.progress
		}
		t.lastSeq++
		frame := conn.LogFrame(&v1.LogEntry{
			TaskId: t.taskID, Seq: t.lastSeq, TimeUnixNano: now.at.UnixNano(),
			Level: in.level, Message: in.message, Progress: in.progress, Finished: in.finished,
		}, now.text)
		t.progress = in.progress
		if in.finished && !t.finished {
			t.failed = failing(in.level)
		}
		t.finished = t.finished || in.finished
		if ack.queued {
			t.enqueue()
		} else {
			live = append(live, frame)
		}
		t.history.push(t.lastSeq, frame, t.cfg.HistoryLimit, t.cfg.HistoryBytes, t.queueStart())
	}
	t.stats.Published.Add(uint64(len(entries)))
	if ack.queued {
		t.stats.Queued.Add(uint64(len(entries)))
	}
	ack.last = t.lastSeq
	return ack, live
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
// it joins the queue, and when it would make the queue longer than QueueLimit only the
// most recent QueueKeep stay.
func (t *TaskActor) enqueue() {
	if t.unseenFrom == 0 {
		t.unseenFrom, t.queuedFrom = t.lastSeq, t.lastSeq
	}
	if t.lastSeq-t.queuedFrom+1 > uint64(t.cfg.QueueLimit) {
		keepFrom := t.lastSeq - uint64(t.cfg.QueueKeep) + 1
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
