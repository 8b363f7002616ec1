// Package batch carries publishes to a task in batches: a task's pipe, which has one call
// on its way to the task at a time while the publishes that arrive meanwhile join the
// next (group commit), and the call itself, which the task answers once. It knows nothing
// of actors: whoever routes a call to its task is given as a function (Pipes' carry).
package batch

import (
	"sync/atomic"
	"time"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/taskstate"
)

// Input is one message of a call, held by value.
type Input = taskstate.Input

// Call is the publishes of one or more callers to one task, each its own all-or-nothing
// group, in order. A task's pipe builds it; a call that crossed cluster members is made
// again with New. The task reads it (Entries, Ends, Key: it changes none of them) and
// answers it once, with every group's outcome (Answer) or for the whole call (Refuse);
// its callers wait on Done and read Result.
type Call struct {
	taskID  string
	entries []Input
	ends    []int // the groups: entries[ends[i-1]:ends[i]] is caller i's publish
	// keys are the groups' idempotency keys, parallel to ends; nil when none has one.
	keys []string

	// Set by the answer before the call is answered, read by the callers after.
	parts   []Part
	epoch   string
	failure any // what answered the call as a whole (a refusal, a failure), or nil
	err     error
	state   atomic.Bool // answered
	// done is closed when the call is answered. A call made with New has none: whoever
	// made it answers in answered, once the task has completed it.
	done     chan struct{}
	expire   *time.Timer
	pipe     *Pipe
	answered func(*Call)
}

// Part is the outcome of one all-or-nothing group of a call.
type Part struct {
	First, Last uint64
	Queued      bool
	Finished    bool // refused: the task had finished before this group
	Reused      bool // refused: its idempotency key was used before for another body
}

// New makes a call that is answered in place: answered is called once, on the goroutine
// that completes it. A call that travelled between cluster members is made again so.
func New(taskID string, entries []Input, ends []int, keys []string, answered func(*Call)) *Call {
	return &Call{taskID: taskID, entries: entries, ends: ends, keys: keys, answered: answered}
}

// GetTaskId names the call's task.
func (c *Call) GetTaskId() string { return c.taskID }

// Len is the number of messages the call carries.
func (c *Call) Len() int { return len(c.entries) }

// Entry returns message i of the call.
func (c *Call) Entry(i int) (level v1.Level, message string, progress float64, finished bool) {
	e := c.entries[i]
	return e.Level, e.Message, e.Progress, e.Finished
}

// Entries are the call's messages, and Ends its groups: entries[Ends()[i-1]:Ends()[i]]
// is group i. The task reads them and does not change them.
func (c *Call) Entries() []Input { return c.entries }
func (c *Call) Ends() []int      { return c.ends }

// Key returns group i's idempotency key, or "".
func (c *Call) Key(i int) string {
	if i < len(c.keys) {
		return c.keys[i]
	}
	return ""
}

// Keys are the groups' idempotency keys; nil when none has one.
func (c *Call) Keys() []string { return c.keys }

// Parts is the number of groups.
func (c *Call) Parts() int { return len(c.ends) }

// Part is group i's outcome once the call is answered (Answer).
func (c *Call) Part(i int) Part { return c.parts[i] }

// Outcome is the call's answer once answered: the task's epoch, and what answered the
// call as a whole instead of its groups (nil when the task handled it).
func (c *Call) Outcome() (epoch string, failure any) { return c.epoch, c.failure }

// Answer answers every caller of c for the task that handled it: parts holds each group's
// outcome, in order. Refuse answers the call as a whole instead (a refusal, a failure),
// from whoever refused it: the task, a router, the supervisor. A call is answered once;
// an answer after its timer's is dropped. Neither takes a lock: on a task's goroutine
// they only record the answer and wake the callers.
func (c *Call) Answer(epoch string, parts []Part) { c.complete(epoch, parts, nil) }
func (c *Call) Refuse(epoch string, failure any)  { c.complete(epoch, nil, failure) }

func (c *Call) complete(epoch string, parts []Part, failure any) {
	if c.done == nil {
		if !c.state.Swap(true) {
			c.epoch, c.parts, c.failure = epoch, parts, failure
			if c.answered != nil {
				c.answered(c)
			}
		}
		return
	}
	if c.finish(epoch, parts, failure, nil) {
		c.expire.Stop()
		c.pipe.answered(c)
	}
}

// Drop answers c with err from inside the pipes' carry (a router that cannot take it now,
// shutting down): the pipe, which holds its lock there, sends its next call itself.
func (c *Call) Drop(err error) {
	if c.finish("", nil, nil, err) {
		c.expire.Stop()
	}
}

// Fail answers c with err from a goroutine that is no actor's and not inside carry (a
// cluster request), which sends the pipe's next call itself.
func (c *Call) Fail(err error) {
	if c.finish("", nil, nil, err) {
		c.expire.Stop()
		c.pipe.sendAfter(c)
	}
}

// timedOut is Fail from c's own timer: the timer has fired, and may have fired before
// newCall stored it in c.expire (a timeout shorter than that step), so it is not touched.
func (c *Call) timedOut() {
	if c.finish("", nil, nil, c.pipe.pipes.timeoutErr) {
		c.pipe.sendAfter(c)
	}
}

// finish answers every caller of c and reports whether this was the answer: a call is
// answered once, by its task or by its timer, whichever comes first.
func (c *Call) finish(epoch string, parts []Part, failure any, err error) bool {
	if !c.state.CompareAndSwap(false, true) {
		return false
	}
	c.epoch, c.failure, c.err = epoch, failure, err
	if parts != nil {
		c.parts = parts
	}
	close(c.done)
	return true
}

// Done is closed when the call has been answered (a call made by a pipe).
func (c *Call) Done() <-chan struct{} { return c.done }

// Result is group part's outcome once the call is answered: its Part, the task's epoch,
// what answered the whole call (failure), or the error it failed with (a timeout, Fail's).
func (c *Call) Result(part int) (p Part, epoch string, failure any, err error) {
	if c.err != nil || c.failure != nil {
		return Part{}, c.epoch, c.failure, c.err
	}
	return c.parts[part], c.epoch, nil, nil
}

// setKey gives the group just added (the last) key k.
func (c *Call) setKey(k string) {
	if k == "" && c.keys == nil {
		return
	}
	for len(c.keys) < len(c.ends)-1 {
		c.keys = append(c.keys, "")
	}
	c.keys = append(c.keys, k)
}
