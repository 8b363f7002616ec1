package actors

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/taskstate"
)

// logEntry is one message of a PublishCall, held by value.
type logEntry = taskstate.Input

func entryOf(in *v1.LogInput) logEntry {
	return logEntry{Level: in.Level, Message: in.Message, Progress: in.Progress, Finished: in.Finished, Attrs: in.Attrs}
}

// PublishCall is the one publish message a task actor handles: the publishes of one or
// more callers to one task, each its own all-or-nothing group, in order. On a single node
// a task's pipe builds it (pipe.go); in a cluster the pipe's call travels as a *v1.Publish
// and the task's grain turns it back into a PublishCall. Task middleware sees it; Len and
// Entry show its contents. A task that panics on it fails every publish it carries.
type PublishCall struct {
	taskID  string
	entries []logEntry
	ends    []int // the groups: entries[ends[i-1]:ends[i]] is caller i's publish
	// keys are the groups' idempotency keys, parallel to ends; nil when none has one.
	keys []string

	// Set by complete before the call is answered, read by the callers after.
	acks    []partAck
	epoch   string
	failure any // *v1.Refused or *v1.TaskFailure when the call as a whole failed
	err     error
	state   atomic.Bool // answered
	// done is closed when the call is answered. A call made from a *v1.Publish has none:
	// its grain answers the request itself once the task has handled it.
	done   chan struct{}
	expire *time.Timer
	pipe   *pipe
	// answered, for a call answered in place, replies to whoever sent the *v1.Publish it
	// was made from, once the task has completed it (after its write, with a journal).
	answered func(*PublishCall)
}

// partAck is the outcome of one all-or-nothing group of entries.
type partAck struct {
	first, last uint64
	queued      bool
	finished    bool // refused: the task had finished before this group
	reused      bool // refused: its idempotency key was used before for another body
}

// key returns group i's idempotency key, or "".
func (c *PublishCall) key(i int) string {
	if i < len(c.keys) {
		return c.keys[i]
	}
	return ""
}

// setKey gives the group just added (the last) key k.
func (c *PublishCall) setKey(k string) {
	if k == "" && c.keys == nil {
		return
	}
	for len(c.keys) < len(c.ends)-1 {
		c.keys = append(c.keys, "")
	}
	c.keys = append(c.keys, k)
}

// GetTaskId names the call's task.
func (c *PublishCall) GetTaskId() string { return c.taskID }

// Len is the number of messages the call carries.
func (c *PublishCall) Len() int { return len(c.entries) }

// Entry returns message i of the call.
func (c *PublishCall) Entry(i int) (level v1.Level, message string, progress float64, finished bool) {
	e := c.entries[i]
	return e.Level, e.Message, e.Progress, e.Finished
}

// complete answers every caller of c, from whoever handled or refused it (the task, a
// router, the supervisor); failure is nil when the task handled it. It takes no lock: on a
// task's goroutine it only records the answer and wakes the callers.
func (c *PublishCall) complete(epoch string, failure any) {
	if c.done == nil {
		c.epoch, c.failure = epoch, failure
		if !c.state.Swap(true) && c.answered != nil {
			c.answered(c)
		}
		return
	}
	if c.finish(epoch, failure, nil) {
		c.expire.Stop()
		c.pipe.answered(c)
	}
}

// fail answers c with err from a goroutine that is no actor's (a cluster request), which
// sends the pipe's next call itself.
func (c *PublishCall) fail(err error) {
	if c.finish("", nil, err) {
		c.expire.Stop()
		c.pipe.sendAfter(c)
	}
}

// timedOut is fail from c's own timer: the timer has fired, and may have fired before
// newCall stored it in c.expire (a timeout shorter than that step), so it is not touched.
func (c *PublishCall) timedOut() {
	if c.finish("", nil, ErrTimeout) {
		c.pipe.sendAfter(c)
	}
}

// finish answers every caller of c and reports whether this was the answer: a call is
// answered once, by its task or by its timer, whichever comes first.
func (c *PublishCall) finish(epoch string, failure any, err error) bool {
	if !c.state.CompareAndSwap(false, true) {
		return false
	}
	c.epoch, c.failure, c.err = epoch, failure, err
	close(c.done)
	return true
}

// result is caller part's outcome.
func (c *PublishCall) result(part int) (Ack, error) {
	switch {
	case c.err != nil:
		return Ack{}, c.err
	case c.failure != nil:
		return Ack{}, replyError(c.failure)
	case c.acks[part].reused:
		return Ack{}, ErrIdempotencyKeyReused
	case c.acks[part].finished:
		return Ack{}, ErrTaskFinished
	}
	a := c.acks[part]
	return Ack{TaskID: c.taskID, FirstSeq: a.first, LastSeq: a.last, Queued: a.queued, Epoch: c.epoch}, nil
}

// publishOf is c as it travels to another cluster member.
func publishOf(c *PublishCall) *v1.Publish {
	p := &v1.Publish{TaskId: c.taskID, Entries: make([]*v1.LogInput, len(c.entries)), Ends: make([]uint32, len(c.ends)), Keys: c.keys}
	for i, e := range c.entries {
		p.Entries[i] = &v1.LogInput{Level: e.Level, Message: e.Message, Progress: e.Progress, Finished: e.Finished, Attrs: e.Attrs}
	}
	for i, end := range c.ends {
		p.Ends[i] = uint32(end)
	}
	return p
}

// callOf turns a *v1.Publish that reached a task (in a cluster, a call that travelled
// between members) back into a call, answered in place: ackOf reads the answer.
func callOf(p *v1.Publish) *PublishCall {
	c := &PublishCall{taskID: p.TaskId, entries: make([]logEntry, len(p.Entries))}
	for i, in := range p.Entries {
		c.entries[i] = entryOf(in)
	}
	if len(p.Ends) == 0 {
		c.ends = []int{len(c.entries)}
	} else {
		c.ends = make([]int, len(p.Ends))
		for i, end := range p.Ends {
			c.ends[i] = min(int(end), len(c.entries))
		}
	}
	c.acks = make([]partAck, len(c.ends))
	if len(p.Keys) > 0 {
		c.keys = p.Keys[:min(len(p.Keys), len(c.ends))]
	}
	return c
}

// ackOf is the answer to the *v1.Publish that c was made from: a PublishAck, or the
// refusal or failure that answered the whole call.
func ackOf(c *PublishCall) any {
	if c.failure != nil {
		return c.failure
	}
	ack := &v1.PublishAck{TaskId: c.taskID, Epoch: c.epoch, Groups: make([]*v1.GroupAck, len(c.acks))}
	for i, a := range c.acks {
		ack.Groups[i] = &v1.GroupAck{FirstSeq: a.first, LastSeq: a.last, Queued: a.queued}
		switch {
		case a.reused:
			ack.Groups[i].Status = v1.PublishStatus_PUBLISH_STATUS_KEY_REUSED
		case a.finished:
			ack.Groups[i].Status = v1.PublishStatus_PUBLISH_STATUS_FINISHED
		}
	}
	return ack
}

// completeFrom answers a call that travelled as a *v1.Publish with its grain's reply or
// the error of the request. It runs on the goroutine that made the request.
func (c *PublishCall) completeFrom(reply any, err error) {
	ack, ok := reply.(*v1.PublishAck)
	switch {
	case errors.Is(err, actor.ErrTimeout):
		err = ErrTimeout // no attempt reached the task's member in time: 503, never 500
	case err != nil:
	case ok && len(ack.Groups) == len(c.acks):
		for i, g := range ack.Groups {
			c.acks[i] = partAck{first: g.FirstSeq, last: g.LastSeq, queued: g.Queued,
				finished: g.Status == v1.PublishStatus_PUBLISH_STATUS_FINISHED, reused: g.Status == v1.PublishStatus_PUBLISH_STATUS_KEY_REUSED}
		}
		c.complete(ack.Epoch, nil)
		return
	case replyError(reply) != nil:
		c.complete("", reply)
		return
	default:
		err = unexpected(reply)
	}
	c.fail(err)
}
