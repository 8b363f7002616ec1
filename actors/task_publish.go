package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/actors/batch"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/taskstate"
	"github.com/tasktail/tasktail/wire"
)

// A publish call is planned once from the task's state (taskstate.State.Plan) and the
// plan is applied as a record (taskstate.Appended): at once without a journal, once
// stored with one. The rules live in package taskstate alone, so the live path and the
// durable one cannot drift (docs/design.md, "One order, one apply").

// plan plans call c at at.
func (t *TaskActor) plan(c *PublishCall, at time.Time) *taskstate.Plan {
	return t.s.Plan(c.Entries(), c.Ends(), c.Key, at, t.cfg.rules())
}

// applyPlan applies a planned call to the task, delivers all it makes live in one
// Deliver, and completes the call.
func (t *TaskActor) applyPlan(ctx actor.Context, c *PublishCall, p *taskstate.Plan) {
	watched := len(t.subs) > 0
	fx := t.s.Apply(taskstate.Appended{Plan: p, Watched: watched}, t.cfg.rules())
	t.stats.Trimmed.Add(fx.Trimmed)
	var live [][]byte
	if n := len(p.Entries); n > 0 {
		t.lastActive = p.At.Sub(processStart)
		t.stats.Published.Add(uint64(n))
		if watched {
			live = make([][]byte, 0, n)
			t.markSeen()
		} else {
			t.stats.Queued.Add(uint64(n))
		}
		var buf [40]byte
		now := newStamp(p.At, buf[:0])
		t.history.reserve(n, t.cfg.HistoryLimit)
		for _, e := range p.Entries {
			frame := wire.LogFrame(&v1.LogEntry{
				TaskId: t.taskID, Seq: e.Seq, TimeUnixNano: e.TimeUnixNano,
				Level: e.Level, Message: e.Message, Progress: e.Progress, Finished: e.Finished, Attrs: e.Attrs,
			}, now.text)
			if watched {
				live = append(live, frame)
			}
			t.history.push(e.Seq, frame, t.cfg.HistoryLimit, t.cfg.HistoryBytes, t.s.QueueStart())
		}
	}
	parts := make([]batch.Part, len(p.Groups))
	for i, g := range p.Groups {
		queued := g.Queued // a retry: as the first time
		if g.Appended {
			queued = !watched
		} else if g.Repeats > 0 {
			queued = parts[g.Repeats-1].Queued
		}
		parts[i] = batch.Part{First: g.First, Last: g.Last, Queued: queued, Finished: g.Finished, Reused: g.KeyReused}
	}
	t.deliverLive(ctx, live, fx.JustFinished)
	t.relist() // before the answer: a list right after it shows the publish
	c.Answer(t.s.Epoch, parts)
}

// stamp is the time of the entries of one call, with its timestamp formatted once.
type stamp struct {
	at   time.Time
	text []byte
}

// newStamp formats at into buf.
func newStamp(at time.Time, buf []byte) stamp {
	return stamp{at: at, text: wire.AppendTimestamp(buf, at.UnixNano())}
}

// deliverLive sends the subscribers the frames of one call, and when that call finished
// the task, closes them and starts the finished TTL.
func (t *TaskActor) deliverLive(ctx actor.Context, live [][]byte, justFinished bool) {
	if len(live) > 0 {
		deliver := &v1.Deliver{Frames: live}
		if justFinished {
			deliver.CloseCode, deliver.CloseReason = uint32(wire.CloseNormal), "task finished"
		}
		t.sendAll(ctx, deliver)
	}
	if justFinished {
		t.dropSubscribers(ctx)
		t.armTimer(ctx, t.cfg.FinishedTTL)
	}
}

// queued is how many messages the queue holds (of those the task still has).
func (t *TaskActor) queued() uint32 {
	return uint32(t.s.Queued(t.history.oldest(t.s.LastSeq)))
}
