package batch

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// A publisher does not ask a task with a request and a future per publish. Publishes to one
// task go through that task's pipe, which has one Call on its way to the task at a
// time: while it is, the publishes that arrive join the next one, which leaves as soon as
// the task has answered (group commit). Each publish stays its own all-or-nothing group
// inside the call, and the task answers by completing the call: no future, no reply
// message, one actor message and one Deliver per call. Pipes' carry takes a call to its
// task: on one node a message to the task's registry shard, in a cluster a request to its
// grain.
//
// The pipe holds only what is on its way to the task, under its own mutex, which only the
// publishing goroutines take. A task answering a call takes no lock: it records the answer
// and closes the call's channel. When calls wait behind the answered one, a goroutine the
// pipes own sends the next (pipe.answered); when none wait, the next publish finds the
// answered call and sends its own. Calls reach the task in the order they were made.

// Pipe is the publish path of one task while anybody publishes to it.
type Pipe struct {
	taskID string
	pipes  *Pipes
	users  int // callers holding the pipe; guarded by the shard's mutex

	// waiting is len(waiting), readable without mu: a task that answers a call looks at it
	// to decide whether the next call needs sending.
	waitingN atomic.Int32

	mu       sync.Mutex
	inflight *Call   // sent, maybe answered
	waiting  []*Call // to send, in order; only the last one takes more publishes
	// last is the size of the last call sent, for the next one's first allocation.
	lastEntries, lastParts int
}

// Add puts entries into the next call as their own group, with idempotency key key (""
// for none), and returns that call and the group's index. maxEntries bounds a call (a
// group larger than it is a call of its own).
func (p *Pipe) Add(entries []Input, key string, maxEntries int) (*Call, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var c *Call
	if n := len(p.waiting); n > 0 && len(p.waiting[n-1].entries)+len(entries) <= maxEntries {
		c = p.waiting[n-1]
	} else {
		c = p.pipes.newCall(p, max(len(entries), p.lastEntries), max(1, p.lastParts))
		p.waiting = append(p.waiting, c)
		p.waitingN.Store(int32(len(p.waiting)))
	}
	c.entries = append(c.entries, entries...)
	c.ends = append(c.ends, len(c.entries))
	c.setKey(key)
	// The answer to the call in flight may have come before waitingN was stored, when its
	// task saw no call waiting: then this publisher sends the next call. (waitingN is
	// stored before the answer is loaded here, and the task stores the answer before it
	// loads waitingN, so at least one of the two sends it; sendNextLocked is idempotent.)
	if p.inflight == nil || p.inflight.state.Load() {
		p.sendNextLocked()
	}
	return c, len(c.ends) - 1
}

// Append adds one entry of a producer: to its group prevPart of call prev when that is
// still the last group of the call waiting to leave (joined), or as a new group like Add.
// prev is nil for a producer's first entry.
func (p *Pipe) Append(e Input, prev *Call, prevPart int, maxEntries int) (c *Call, part int, joined bool) {
	p.mu.Lock()
	if n := len(p.waiting); prev != nil && n > 0 {
		c = p.waiting[n-1]
		if last := len(c.ends) - 1; c == prev && prevPart == last && c.Key(last) == "" && len(c.entries) < maxEntries && !c.entries[len(c.entries)-1].Finished {
			c.entries = append(c.entries, e)
			c.ends[last]++
			p.mu.Unlock()
			return c, last, true
		}
	}
	p.mu.Unlock()
	c, part = p.Add([]Input{e}, "", maxEntries)
	return c, part, false
}

// answered is told, on the goroutine that answered c (an actor's, or a cluster request's),
// that c was answered. It takes no lock: when calls wait, one of the pipes' goroutines
// sends the next.
func (p *Pipe) answered(c *Call) {
	if p.waitingN.Load() > 0 {
		p.pipes.goSend(p, c)
	}
}

// sendAfter sends the next call if c is still the one in flight.
func (p *Pipe) sendAfter(c *Call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inflight == c {
		p.sendNextLocked()
	}
}

// sendNextLocked sends the first waiting call, if any, as the one in flight; and the next
// after it, while carry answers the one it carries at once (Drop).
func (p *Pipe) sendNextLocked() {
	for len(p.waiting) > 0 {
		c := p.waiting[0]
		p.waiting[0] = nil
		p.waiting = p.waiting[1:]
		p.waitingN.Store(int32(len(p.waiting)))
		p.inflight = c
		p.lastEntries, p.lastParts = len(c.entries), len(c.ends)
		p.pipes.carry(c)
		if !c.state.Load() {
			return
		}
	}
	p.inflight = nil
}

// Pipes holds the pipes of the tasks being published to.
type Pipes struct {
	carry      func(*Call)   // to the task, without waiting (a Router's Publish)
	timeout    time.Duration // a call not answered by then fails with timeoutErr
	timeoutErr error
	seed       maphash.Seed
	shards     [pipeShards]pipeShard
	senders    sync.WaitGroup // goroutines sending a next call (goSend)
}

// pipeShards spreads the pipe map over several mutexes.
const pipeShards = 16

type pipeShard struct {
	mu    sync.Mutex
	pipes map[string]*Pipe
}

// NewPipes returns the pipes of a publisher whose calls carry takes to their tasks. A
// call not answered within timeout fails with timeoutErr, so that it does not hold up the
// calls behind it (its task was stopped with the call in its mailbox, say).
func NewPipes(carry func(*Call), timeout time.Duration, timeoutErr error) *Pipes {
	ps := &Pipes{carry: carry, timeout: timeout, timeoutErr: timeoutErr, seed: maphash.MakeSeed()}
	for i := range ps.shards {
		ps.shards[i].pipes = map[string]*Pipe{}
	}
	return ps
}

// goSend sends p's next call after c from a goroutine of the pipes, so that the actor that
// answered c takes no lock. Only what carry reaches (a router's actors, a cluster
// member's request goroutines) answers calls this way, so once the router has stopped
// none starts, and Wait waits for them all.
func (ps *Pipes) goSend(p *Pipe, c *Call) {
	ps.senders.Add(1)
	go func() {
		defer ps.senders.Done()
		p.sendAfter(c)
	}()
}

// Wait waits for the goroutines that sent a next call.
func (ps *Pipes) Wait() { ps.senders.Wait() }

// newCall starts a call with room for the given number of entries and parts.
func (ps *Pipes) newCall(p *Pipe, entries, parts int) *Call {
	c := &Call{
		taskID: p.taskID, pipe: p, done: make(chan struct{}),
		entries: make([]Input, 0, entries), ends: make([]int, 0, parts),
	}
	// A call the task never answers (it was stopped with the call in its mailbox) must
	// not hold up the calls behind it.
	c.expire = time.AfterFunc(ps.timeout, c.timedOut)
	return c
}

// Acquire returns the task's pipe, holding it until Release.
func (ps *Pipes) Acquire(taskID string) *Pipe {
	sh := &ps.shards[maphash.String(ps.seed, taskID)%pipeShards]
	sh.mu.Lock()
	p := sh.pipes[taskID]
	if p == nil {
		p = &Pipe{taskID: taskID, pipes: ps}
		sh.pipes[taskID] = p
	}
	p.users++
	sh.mu.Unlock()
	return p
}

// Release lets go of a pipe; the last user removes it, so idle tasks cost nothing here.
func (ps *Pipes) Release(p *Pipe) {
	sh := &ps.shards[maphash.String(ps.seed, p.taskID)%pipeShards]
	sh.mu.Lock()
	if p.users--; p.users == 0 {
		delete(sh.pipes, p.taskID)
	}
	sh.mu.Unlock()
}
