package batch

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// The pipes against a model of their rules, under random publishers and a task that
// answers late, fails calls, or never answers (so that calls time out):
//   - one call at a time is on its way to a task: a call is carried only once the one
//     before it was answered;
//   - calls reach the task in the order they were made, so each publisher's publishes
//     reach it in its order;
//   - a publish is one group of one call: all of it or none;
//   - every publish is answered once, with what the task said of its group, the failure
//     of its whole call, the timeout, or the refusal of a router that drops it inside
//     carry (which must not hold up the calls behind it);
//   - a pipe goes when its last user lets go of it.

var (
	errTimedOut = errors.New("timed out")
	errDropped  = errors.New("dropped by carry")
)

// task is the model's task: it numbers the messages of each call it takes, and answers.
type task struct {
	mu     sync.Mutex
	t      *testing.T
	last   map[string]*Call    // by task_id: the call carried last
	stored map[string][]string // by task_id: the message of each seq, from seq 1
	calls  chan *Call
	rng    *rand.Rand
}

// carry is Pipes' carry: it checks the first rule and hands the call to the task.
func (m *task) carry(c *Call) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev := m.last[c.GetTaskId()]; prev != nil && !prev.state.Load() {
		m.t.Errorf("task %s: a call was carried while the one before it was not answered", c.GetTaskId())
	}
	m.last[c.GetTaskId()] = c
	if m.rng.IntN(30) == 0 {
		c.Drop(errDropped) // a router that cannot take it (shutting down), inside carry
		return
	}
	m.calls <- c
}

// run answers the calls: most at once or a little later, some with a failure of the
// whole call, some never (their timer answers them).
func (m *task) run(done <-chan struct{}) {
	for {
		select {
		case c := <-m.calls:
			m.mu.Lock()
			roll := m.rng.IntN(20)
			m.mu.Unlock()
			switch {
			case roll == 0: // never answered
			case roll == 1:
				c.Refuse("e", "refused")
			case roll < 4: // late, as a busy task is; still in the order they came, as a mailbox is
				time.Sleep(time.Millisecond)
				m.answer(c)
			default:
				m.answer(c)
			}
		case <-done:
			return
		}
	}
}

func (m *task) answer(c *Call) {
	m.mu.Lock()
	id := c.GetTaskId()
	start := 0
	parts := make([]Part, c.Parts())
	for i, end := range c.Ends() {
		first := uint64(len(m.stored[id])) + 1
		for _, e := range c.Entries()[start:end] {
			m.stored[id] = append(m.stored[id], e.Message)
		}
		parts[i] = Part{First: first, Last: uint64(len(m.stored[id]))}
		start = end
	}
	m.mu.Unlock()
	c.Answer("e", parts)
}

func TestPipesKeepTheirRules(t *testing.T) {
	for round := range 20 {
		t.Run(fmt.Sprint(round), func(t *testing.T) { pipesRound(t, uint64(round)) })
	}
}

func pipesRound(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	m := &task{t: t, last: map[string]*Call{}, stored: map[string][]string{},
		calls: make(chan *Call, 1<<16), rng: rand.New(rand.NewPCG(seed, 2))}
	ps := NewPipes(m.carry, 30*time.Millisecond, errTimedOut)
	stop := make(chan struct{})
	var answering sync.WaitGroup
	answering.Go(func() { m.run(stop) })

	tasks := []string{"a", "b", "c"}
	type outcome struct {
		task     string
		messages []string
		part     Part
		failure  any
		err      error
	}
	var mu sync.Mutex
	var outcomes []outcome
	var publishers sync.WaitGroup
	for w := range 6 {
		publishes := 20 + rng.IntN(40)
		producer := w == 0 // publishes one message at a time, joining its last group (Append)
		wseed := rng.Uint64()
		publishers.Go(func() {
			rng := rand.New(rand.NewPCG(wseed, 3))
			id := tasks[rng.IntN(len(tasks))]
			p := ps.Acquire(id)
			defer ps.Release(p)
			var prev *Call
			prevPart := 0
			var mine []outcome
			var calls []*Call
			var parts []int
			for i := range publishes {
				var c *Call
				var part int
				if producer {
					msg := fmt.Sprintf("w%d-%d", w, i)
					var joined bool
					c, part, joined = p.Append(Input{Message: msg}, prev, prevPart, 8)
					if joined {
						mine[len(mine)-1].messages = append(mine[len(mine)-1].messages, msg)
						continue
					}
					prev, prevPart = c, part
					mine = append(mine, outcome{task: id, messages: []string{msg}})
				} else {
					n := 1 + rng.IntN(5)
					var msgs []string
					var entries []Input
					for j := range n {
						msg := fmt.Sprintf("w%d-%d-%d", w, i, j)
						msgs, entries = append(msgs, msg), append(entries, Input{Message: msg})
					}
					c, part = p.Add(entries, "", 8)
					mine = append(mine, outcome{task: id, messages: msgs})
				}
				calls, parts = append(calls, c), append(parts, part)
				if !producer && rng.IntN(3) == 0 { // most publishers wait for each answer
					continue
				}
				if !producer {
					waitAnswered(t, c)
				}
			}
			for i, c := range calls {
				waitAnswered(t, c)
				mine[i].part, _, mine[i].failure, mine[i].err = c.Result(parts[i])
			}
			mu.Lock()
			outcomes = append(outcomes, mine...)
			mu.Unlock()
		})
	}
	publishers.Wait()
	close(stop)
	answering.Wait()
	ps.Wait()

	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range outcomes {
		switch {
		case o.err != nil:
			if !errors.Is(o.err, errTimedOut) && !errors.Is(o.err, errDropped) {
				t.Errorf("%v: failed with %v", o.messages, o.err)
			}
		case o.failure != nil:
		default:
			if got := int(o.part.Last - o.part.First + 1); got != len(o.messages) {
				t.Fatalf("%v: answered with seqs %d..%d", o.messages, o.part.First, o.part.Last)
			}
			for i, msg := range o.messages { // the group is whole, in order, where its answer says
				if stored := m.stored[o.task][o.part.First-1+uint64(i)]; stored != msg {
					t.Fatalf("%v: seq %d holds %q", o.messages, o.part.First+uint64(i), stored)
				}
			}
		}
	}
	// Each publisher's messages reached its task in its order.
	for _, id := range tasks {
		last := map[int]int{} // publisher → position of its last message seen
		for seq, msg := range m.stored[id] {
			var w, i, j int
			if n, _ := fmt.Sscanf(msg, "w%d-%d-%d", &w, &i, &j); n < 2 {
				t.Fatalf("seq %d of %s holds %q", seq+1, id, msg)
			}
			if prev, seen := last[w]; seen && i*100+j <= prev {
				t.Fatalf("task %s: publisher %d's %q reached it after a later one", id, w, msg)
			}
			last[w] = i*100 + j
		}
	}
	for i := range ps.shards {
		if n := len(ps.shards[i].pipes); n != 0 {
			t.Errorf("%d pipes left after every user let go", n)
		}
	}
}

// waitAnswered waits for c's answer, which its timer guarantees.
func waitAnswered(t *testing.T, c *Call) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("a call to %s was never answered", c.GetTaskId())
	}
}
