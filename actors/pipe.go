package actors

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// A local Manager does not ask a task with a request and a future per publish. Publishes
// to one task go through that task's pipe, which sends the task one PublishCall at a
// time: while a call is on its way, the publishes that arrive join the next one, which
// leaves as soon as the task has answered (group commit). Each publish stays its own
// all-or-nothing group inside the call, and the task answers by closing the call's done
// channel: no future, no reply message, one actor message and one Deliver per call.
//
// The pipe holds only what is on its way to the task, under its own mutex; the task's
// state stays the actor's alone. Calls reach the task in the order they were made, because
// each one passes the same two mailboxes (registry shard, then task) in turn.

// logEntry is one message of a PublishCall, held by value.
type logEntry struct {
	level    v1.Level
	message  string
	progress float64
	finished bool
}

func (e logEntry) GetLevel() v1.Level   { return e.level }
func (e logEntry) GetMessage() string   { return e.message }
func (e logEntry) GetProgress() float64 { return e.progress }
func (e logEntry) GetFinished() bool    { return e.finished }

func entryOf(in *v1.LogInput) logEntry {
	return logEntry{level: in.Level, message: in.Message, progress: in.Progress, finished: in.Finished}
}

// PublishCall is how a single node's Manager publishes: one message to a task carrying
// the publishes of several callers, each its own all-or-nothing group. (In a cluster a
// publish is a *v1.Publish.) Task middleware sees it; Len and Entry show its contents. A
// task that panics on it fails every publish it carries.
type PublishCall struct {
	taskID  string
	entries []logEntry
	ends    []int // the groups: entries[ends[i-1]:ends[i]] is caller i's publish
	pipe    *pipe

	// Set by complete before done is closed, read by the callers after.
	acks    []partAck
	epoch   string
	failure any // *v1.Refused or *v1.TaskFailure when the call as a whole failed
	err     error
	state   atomic.Bool // answered
	done    chan struct{}
	expire  *time.Timer
}

// GetTaskId names the call's task.
func (c *PublishCall) GetTaskId() string { return c.taskID }

// Len is the number of messages the call carries.
func (c *PublishCall) Len() int { return len(c.entries) }

// Entry returns message i of the call.
func (c *PublishCall) Entry(i int) (level v1.Level, message string, progress float64, finished bool) {
	e := c.entries[i]
	return e.level, e.message, e.progress, e.finished
}

// complete answers every caller of c, from the actor that handled or refused it; failure
// is nil when the task handled it.
func (c *PublishCall) complete(epoch string, failure any) {
	if c.finish(epoch, failure, nil) {
		c.expire.Stop()
	}
}

// finish answers every caller of c and reports whether this was the answer: a call is
// answered once, by its actor or by its timer, whichever comes first.
func (c *PublishCall) finish(epoch string, failure any, err error) bool {
	if !c.state.CompareAndSwap(false, true) {
		return false
	}
	c.epoch, c.failure, c.err = epoch, failure, err
	close(c.done)
	c.pipe.sent(c)
	return true
}

// result is caller part's outcome.
func (c *PublishCall) result(part int) (Ack, error) {
	switch {
	case c.err != nil:
		return Ack{}, c.err
	case c.failure != nil:
		return Ack{}, replyError(c.failure)
	case c.acks[part].finished:
		return Ack{}, ErrTaskFinished
	}
	a := c.acks[part]
	return Ack{TaskID: c.taskID, FirstSeq: a.first, LastSeq: a.last, Queued: a.queued, Epoch: c.epoch}, nil
}

// pipe is the publish path of one task while anybody publishes to it.
type pipe struct {
	taskID string
	pipes  *pipes
	users  int // callers holding the pipe; guarded by the shard's mutex

	mu       sync.Mutex
	inflight *PublishCall   // sent, not yet answered
	waiting  []*PublishCall // to send, in order; only the last one takes more publishes
	// last is the size of the last call sent, for the next one's first allocation.
	lastEntries, lastParts int
}

// add puts entries into the next call as their own group and returns that call and the
// group's index. maxEntries bounds a call, so one Deliver never holds more frames than one
// batch may (Config.SocketBuffer is at least MaxBatch).
func (p *pipe) add(entries []logEntry, maxEntries int) (*PublishCall, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var c *PublishCall
	if n := len(p.waiting); n > 0 && len(p.waiting[n-1].entries)+len(entries) <= maxEntries {
		c = p.waiting[n-1]
	} else {
		c = p.pipes.newCall(p, max(len(entries), p.lastEntries), max(1, p.lastParts))
		p.waiting = append(p.waiting, c)
	}
	c.entries = append(c.entries, entries...)
	c.ends = append(c.ends, len(c.entries))
	c.acks = append(c.acks, partAck{})
	if p.inflight == nil {
		p.sendNext()
	}
	return c, len(c.ends) - 1
}

// append adds one entry of a Producer: to its group prev when that is still the last
// group of the call waiting to leave (joined), or as a new group like add.
func (p *pipe) append(e logEntry, prev *producerPart, maxEntries int) (c *PublishCall, part int, joined bool) {
	p.mu.Lock()
	if n := len(p.waiting); prev != nil && n > 0 {
		c = p.waiting[n-1]
		if last := len(c.ends) - 1; c == prev.call && prev.part == last && len(c.entries) < maxEntries && !c.entries[len(c.entries)-1].finished {
			c.entries = append(c.entries, e)
			c.ends[last]++
			p.mu.Unlock()
			return c, last, true
		}
	}
	p.mu.Unlock()
	c, part = p.add([]logEntry{e}, maxEntries)
	return c, part, false
}

// sent is told that c was answered (or given up on), and sends the next call.
func (p *pipe) sent(c *PublishCall) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inflight == c {
		p.inflight = nil
		p.sendNext()
	}
}

func (p *pipe) sendNext() {
	if len(p.waiting) == 0 {
		return
	}
	c := p.waiting[0]
	p.waiting[0] = nil
	p.waiting = p.waiting[1:]
	p.inflight = c
	p.lastEntries, p.lastParts = len(c.entries), len(c.ends)
	p.pipes.send(c)
}

// pipes holds the pipes of the tasks being published to.
type pipes struct {
	send    func(*PublishCall) // to the task's actor, without waiting
	timeout time.Duration      // a call not answered by then fails with ErrTimeout
	seed    maphash.Seed
	shards  [registryShards]pipeShard
}

type pipeShard struct {
	mu    sync.Mutex
	pipes map[string]*pipe
}

func newPipes(send func(*PublishCall), timeout time.Duration) *pipes {
	ps := &pipes{send: send, timeout: timeout, seed: maphash.MakeSeed()}
	for i := range ps.shards {
		ps.shards[i].pipes = map[string]*pipe{}
	}
	return ps
}

// newCall starts a call with room for the given number of entries and parts.
func (ps *pipes) newCall(p *pipe, entries, parts int) *PublishCall {
	c := &PublishCall{
		taskID: p.taskID, pipe: p, done: make(chan struct{}),
		entries: make([]logEntry, 0, entries), ends: make([]int, 0, parts), acks: make([]partAck, 0, parts),
	}
	// A call the task never answers (it was stopped with the call in its mailbox) must
	// not hold up the calls behind it.
	c.expire = time.AfterFunc(ps.timeout, func() { c.finish("", nil, ErrTimeout) })
	return c
}

// acquire returns the task's pipe, holding it until release.
func (ps *pipes) acquire(taskID string) *pipe {
	sh := &ps.shards[maphash.String(ps.seed, taskID)%registryShards]
	sh.mu.Lock()
	p := sh.pipes[taskID]
	if p == nil {
		p = &pipe{taskID: taskID, pipes: ps}
		sh.pipes[taskID] = p
	}
	p.users++
	sh.mu.Unlock()
	return p
}

// release lets go of a pipe; the last user removes it, so idle tasks cost nothing here.
func (ps *pipes) release(p *pipe) {
	sh := &ps.shards[maphash.String(ps.seed, p.taskID)%registryShards]
	sh.mu.Lock()
	if p.users--; p.users == 0 {
		delete(sh.pipes, p.taskID)
	}
	sh.mu.Unlock()
}
