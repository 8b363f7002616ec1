package actors

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// A Manager does not ask a task with a request and a future per publish. Publishes to one
// task go through that task's pipe, which has one PublishCall on its way to the task at a
// time: while it is, the publishes that arrive join the next one, which leaves as soon as
// the task has answered (group commit). Each publish stays its own all-or-nothing group
// inside the call, and the task answers by completing the call: no future, no reply
// message, one actor message and one Deliver per call. The Router carries a call: on one
// node a message to the task's registry shard, in a cluster a request to its grain.
//
// The pipe holds only what is on its way to the task, under its own mutex, which only the
// publishing goroutines take. A task answering a call takes no lock: it records the answer
// and closes the call's channel. When calls wait behind the answered one, a goroutine the
// pipes own sends the next (pipe.answered); when none wait, the next publish finds the
// answered call and sends its own. Calls reach the task in the order they were made.

// pipe is the publish path of one task while anybody publishes to it.
type pipe struct {
	taskID string
	pipes  *pipes
	users  int // callers holding the pipe; guarded by the shard's mutex

	// waiting is len(waiting), readable without mu: a task that answers a call looks at it
	// to decide whether the next call needs sending.
	waitingN atomic.Int32

	mu       sync.Mutex
	inflight *PublishCall   // sent, maybe answered
	waiting  []*PublishCall // to send, in order; only the last one takes more publishes
	// last is the size of the last call sent, for the next one's first allocation.
	lastEntries, lastParts int
}

// add puts entries into the next call as their own group and returns that call and the
// group's index. maxEntries bounds a call, so one Deliver never holds more frames than one
// batch may (Config.SocketBuffer is at least MaxBatch).
func (p *pipe) add(entries []logEntry, key string, maxEntries int) (*PublishCall, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var c *PublishCall
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
	c.acks = append(c.acks, partAck{})
	// The answer to the call in flight may have come before waitingN was stored, when its
	// task saw no call waiting: then this publisher sends the next call. (waitingN is
	// stored before the answer is loaded here, and the task stores the answer before it
	// loads waitingN, so at least one of the two sends it; sendNextLocked is idempotent.)
	if p.inflight == nil || p.inflight.state.Load() {
		p.sendNextLocked()
	}
	return c, len(c.ends) - 1
}

// append adds one entry of a Producer: to its group prev when that is still the last
// group of the call waiting to leave (joined), or as a new group like add.
func (p *pipe) append(e logEntry, prev *producerPart, maxEntries int) (c *PublishCall, part int, joined bool) {
	p.mu.Lock()
	if n := len(p.waiting); prev != nil && n > 0 {
		c = p.waiting[n-1]
		if last := len(c.ends) - 1; c == prev.call && prev.part == last && c.key(last) == "" && len(c.entries) < maxEntries && !c.entries[len(c.entries)-1].Finished {
			c.entries = append(c.entries, e)
			c.ends[last]++
			p.mu.Unlock()
			return c, last, true
		}
	}
	p.mu.Unlock()
	c, part = p.add([]logEntry{e}, "", maxEntries)
	return c, part, false
}

// answered is told, on the goroutine that answered c (an actor's, or a cluster request's),
// that c was answered. It takes no lock: when calls wait, one of the pipes' goroutines
// sends the next.
func (p *pipe) answered(c *PublishCall) {
	if p.waitingN.Load() > 0 {
		p.pipes.goSend(p, c)
	}
}

// sendAfter sends the next call if c is still the one in flight.
func (p *pipe) sendAfter(c *PublishCall) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inflight == c {
		p.sendNextLocked()
	}
}

// sendNextLocked sends the first waiting call, if any, as the one in flight.
func (p *pipe) sendNextLocked() {
	if len(p.waiting) == 0 {
		p.inflight = nil
		return
	}
	c := p.waiting[0]
	p.waiting[0] = nil
	p.waiting = p.waiting[1:]
	p.waitingN.Store(int32(len(p.waiting)))
	p.inflight = c
	p.lastEntries, p.lastParts = len(c.entries), len(c.ends)
	p.pipes.carry(c)
}

// pipes holds the pipes of the tasks being published to.
type pipes struct {
	carry   func(*PublishCall) // to the task's actor, without waiting (Router.Publish)
	timeout time.Duration      // a call not answered by then fails with ErrTimeout
	seed    maphash.Seed
	shards  [pipeShards]pipeShard
	senders sync.WaitGroup // goroutines sending a next call (goSend)
}

// pipeShards spreads the pipe map over several mutexes.
const pipeShards = 16

type pipeShard struct {
	mu    sync.Mutex
	pipes map[string]*pipe
}

func newPipes(carry func(*PublishCall), timeout time.Duration) *pipes {
	ps := &pipes{carry: carry, timeout: timeout, seed: maphash.MakeSeed()}
	for i := range ps.shards {
		ps.shards[i].pipes = map[string]*pipe{}
	}
	return ps
}

// goSend sends p's next call after c from a goroutine of the pipes, so that the actor that
// answered c takes no lock. Only what the router runs (its actors, the cluster router's
// request goroutines) answers calls this way, so once Router.Shutdown has returned none
// starts, and wait waits for them all.
func (ps *pipes) goSend(p *pipe, c *PublishCall) {
	ps.senders.Add(1)
	go func() {
		defer ps.senders.Done()
		p.sendAfter(c)
	}()
}

// wait waits for the goroutines goSend started.
func (ps *pipes) wait() { ps.senders.Wait() }

// newCall starts a call with room for the given number of entries and parts.
func (ps *pipes) newCall(p *pipe, entries, parts int) *PublishCall {
	c := &PublishCall{
		taskID: p.taskID, pipe: p, done: make(chan struct{}),
		entries: make([]logEntry, 0, entries), ends: make([]int, 0, parts), acks: make([]partAck, 0, parts),
	}
	// A call the task never answers (it was stopped with the call in its mailbox) must
	// not hold up the calls behind it.
	c.expire = time.AfterFunc(ps.timeout, c.timedOut)
	return c
}

// acquire returns the task's pipe, holding it until release.
func (ps *pipes) acquire(taskID string) *pipe {
	sh := &ps.shards[maphash.String(ps.seed, taskID)%pipeShards]
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
	sh := &ps.shards[maphash.String(ps.seed, p.taskID)%pipeShards]
	sh.mu.Lock()
	if p.users--; p.users == 0 {
		delete(sh.pipes, p.taskID)
	}
	sh.mu.Unlock()
}
