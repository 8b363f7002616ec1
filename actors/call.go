package actors

import (
	"errors"
	"math"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/actors/batch"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/taskstate"
)

// logEntry is one message of a PublishCall, held by value.
type logEntry = taskstate.Input

func entryOf(in *v1.LogInput) logEntry {
	progress := KeepProgress
	if in.Progress != nil {
		progress = *in.Progress
		if progress == KeepProgress {
			// Only an absent progress keeps the task's. This value is out of range, and NaN
			// is refused by the range rule as it is.
			progress = math.NaN()
		}
	}
	return logEntry{Level: in.Level, Message: in.Message, Progress: progress, Finished: in.Finished, Attrs: in.Attrs}
}

// inputOf is e as a publish carries it: without a progress when it keeps the task's.
func inputOf(e logEntry) *v1.LogInput {
	in := &v1.LogInput{Level: e.Level, Message: e.Message, Finished: e.Finished, Attrs: e.Attrs}
	if e.Progress != KeepProgress {
		in.Progress = &e.Progress
	}
	return in
}

// PublishCall is the one publish message a task actor handles: the publishes of one or
// more callers to one task, each its own all-or-nothing group, in order (package batch).
// On a single node a task's pipe builds it; in a cluster the pipe's call travels as a
// *v1.Publish and the task's grain turns it back into a PublishCall. Task middleware sees
// it; Len and Entry show its contents. A task that panics on it fails every publish it
// carries.
type PublishCall = batch.Call

// resultOf is caller part's outcome of the answered call c.
func resultOf(c *PublishCall, part int) (Ack, error) {
	p, epoch, failure, err := c.Result(part)
	switch {
	case err != nil:
		return Ack{}, err
	case failure != nil:
		return Ack{}, replyError(failure)
	case p.Reused:
		return Ack{}, ErrIdempotencyKeyReused
	case p.Finished:
		return Ack{}, ErrTaskFinished
	}
	return Ack{TaskID: c.GetTaskId(), FirstSeq: p.First, LastSeq: p.Last, Queued: p.Queued, Epoch: epoch}, nil
}

// publishOf is c as it travels to another cluster member.
func publishOf(c *PublishCall) *v1.Publish {
	entries, ends := c.Entries(), c.Ends()
	p := &v1.Publish{TaskId: c.GetTaskId(), Entries: make([]*v1.LogInput, len(entries)), Ends: make([]uint32, len(ends)), Keys: c.Keys()}
	for i, e := range entries {
		p.Entries[i] = inputOf(e)
	}
	for i, end := range ends {
		p.Ends[i] = uint32(end)
	}
	return p
}

// callOf turns a *v1.Publish that reached a task (in a cluster, a call that travelled
// between members) back into a call, answered in place: answered replies with ackOf.
func callOf(p *v1.Publish, answered func(*PublishCall)) *PublishCall {
	entries := make([]logEntry, len(p.Entries))
	for i, in := range p.Entries {
		entries[i] = entryOf(in)
	}
	var ends []int
	if len(p.Ends) == 0 {
		ends = []int{len(entries)}
	} else {
		ends = make([]int, len(p.Ends))
		for i, end := range p.Ends {
			ends[i] = min(int(end), len(entries))
		}
	}
	var keys []string
	if len(p.Keys) > 0 {
		keys = p.Keys[:min(len(p.Keys), len(ends))]
	}
	return batch.New(p.TaskId, entries, ends, keys, answered)
}

// ackOf is the answer to the *v1.Publish that c was made from: a PublishAck, or the
// refusal or failure that answered the whole call.
func ackOf(c *PublishCall) any {
	epoch, failure := c.Outcome()
	if failure != nil {
		return failure
	}
	ack := &v1.PublishAck{TaskId: c.GetTaskId(), Epoch: epoch, Groups: make([]*v1.GroupAck, c.Parts())}
	for i := range ack.Groups {
		a := c.Part(i)
		ack.Groups[i] = &v1.GroupAck{FirstSeq: a.First, LastSeq: a.Last, Queued: a.Queued}
		switch {
		case a.Reused:
			ack.Groups[i].Status = v1.PublishStatus_PUBLISH_STATUS_KEY_REUSED
		case a.Finished:
			ack.Groups[i].Status = v1.PublishStatus_PUBLISH_STATUS_FINISHED
		}
	}
	return ack
}

// completeFrom answers call c that travelled as a *v1.Publish with its grain's reply or
// the error of the request. It runs on the goroutine that made the request.
func completeFrom(c *PublishCall, reply any, err error) {
	ack, ok := reply.(*v1.PublishAck)
	switch {
	case errors.Is(err, actor.ErrTimeout):
		err = ErrTimeout // no attempt reached the task's member in time: 503, never 500
	case err != nil:
	case ok && len(ack.Groups) == c.Parts():
		parts := make([]batch.Part, len(ack.Groups))
		for i, g := range ack.Groups {
			parts[i] = batch.Part{First: g.FirstSeq, Last: g.LastSeq, Queued: g.Queued,
				Finished: g.Status == v1.PublishStatus_PUBLISH_STATUS_FINISHED, Reused: g.Status == v1.PublishStatus_PUBLISH_STATUS_KEY_REUSED}
		}
		c.Answer(ack.Epoch, parts)
		return
	case replyError(reply) != nil:
		c.Refuse("", reply)
		return
	default:
		err = unexpected(reply)
	}
	c.Fail(err)
}
