package taskstate

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// QueueLength gives what the trim rule leaves after n unseen messages, as applying the
// rule message by message does.
func TestQueueLengthMatchesTheTrimRule(t *testing.T) {
	for _, lk := range [][2]uint64{{100, 50}, {10, 5}, {5, 5}, {7, 1}, {1, 1}} {
		limit, keep := lk[0], lk[1]
		var queue uint64
		for n := uint64(1); n <= 1000; n++ {
			if queue++; queue > limit {
				queue = keep
			}
			if got := QueueLength(n, limit, keep); got != queue {
				t.Fatalf("limit %d keep %d: after %d messages QueueLength = %d, the rule leaves %d", limit, keep, n, got, queue)
			}
		}
	}
}

// model is the contract written as plainly as possible: the task's messages, the queue as
// a list, the keys as a map; it is what State must agree with.
type model struct {
	epoch    string
	msgs     []Input // msgs[i] has seq i+1
	queue    []uint64
	trimmed  []uint64 // unseen seqs the trim rule dropped since the queue was last seen
	progress float64
	finished bool
	failed   bool
	keys     map[string]modelKey
}

type modelKey struct {
	first, last uint64
	body        string
}

func (m *model) publish(groups [][]Input, keys []string, watched bool, r Rules) []PlannedGroup {
	out := make([]PlannedGroup, len(groups))
	for i, g := range groups {
		body := fmt.Sprint(g)
		if k, ok := m.keys[keys[i]]; ok && keys[i] != "" {
			out[i] = PlannedGroup{First: k.first, Last: k.last, KeyReused: k.body != body}
			continue
		}
		if m.finished {
			out[i] = PlannedGroup{Last: uint64(len(m.msgs)), Finished: true}
			continue
		}
		first := uint64(len(m.msgs)) + 1
		for _, in := range g {
			if in.Progress == KeepProgress {
				in.Progress = m.progress
			}
			m.msgs = append(m.msgs, in)
			m.progress = in.Progress
			if in.Finished && !m.finished {
				m.failed = Failing(in.Level)
			}
			m.finished = m.finished || in.Finished
			if !watched {
				m.queue = append(m.queue, uint64(len(m.msgs)))
				if len(m.queue) > r.QueueLimit {
					drop := len(m.queue) - r.QueueKeep
					m.trimmed = append(m.trimmed, m.queue[:drop]...)
					m.queue = append([]uint64(nil), m.queue[drop:]...)
				}
			}
		}
		out[i] = PlannedGroup{First: first, Last: uint64(len(m.msgs)), Appended: true}
		if keys[i] != "" {
			if m.keys == nil {
				m.keys = map[string]modelKey{}
			}
			m.keys[keys[i]] = modelKey{first: first, last: uint64(len(m.msgs)), body: body}
		}
	}
	return out
}

// The state agrees with the model under random publishes (batches, keyed retries, reused
// keys, finishing), viewers, restarts and reloads from the meta the journal would keep:
// the same seqs, answers, progress, finished state, queue and gap, and a reload changes
// none of them.
func TestStateAgreesWithTheModel(t *testing.T) {
	r := Rules{QueueLimit: 10, QueueKeep: 5, KeyWindow: 1000, KeyTTL: time.Hour}
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		var s State
		m := model{}
		at := time.Unix(1_800_000_000, 0)
		for step := range 300 {
			at = at.Add(time.Millisecond)
			where := fmt.Sprintf("seed %d step %d", seed, step)
			switch op := rnd.IntN(20); {
			case op < 12: // a call of 1-3 groups
				var groups [][]Input
				var keys []string
				var flat []Input
				var ends []int
				for range 1 + rnd.IntN(3) {
					var g []Input
					for j := range 1 + rnd.IntN(4) {
						in := Input{Level: v1.Level(1 + rnd.IntN(6)), Message: fmt.Sprint("m", rnd.IntN(3)), Progress: KeepProgress}
						if rnd.IntN(3) == 0 {
							in.Progress = float64(rnd.IntN(101))
						}
						if rnd.IntN(60) == 0 {
							in.Finished = j == 0 // only the last may finish: a group of one
							g = []Input{in}
							break
						}
						g = append(g, in)
					}
					groups = append(groups, g)
					k := ""
					if rnd.IntN(3) == 0 {
						k = fmt.Sprint("k", rnd.IntN(8))
					}
					keys = append(keys, k)
					flat = append(flat, g...)
					ends = append(ends, len(flat))
				}
				watched := rnd.IntN(3) == 0
				if watched { // a viewer is connected: it was handed the queue
					m.queue, m.trimmed = nil, nil
				}
				p := s.Plan(flat, ends, func(i int) string { return keys[i] }, at, r)
				want := m.publish(groups, keys, watched, r)
				s.Apply(Appended{Plan: p, Watched: watched}, r)
				for i, g := range p.Groups {
					w := want[i]
					if g.First != w.First || g.Last != w.Last || g.Appended != w.Appended || g.Finished != w.Finished || g.KeyReused != w.KeyReused {
						t.Fatalf("%s: group %d planned %+v, the model answers %+v", where, i, g, w)
					}
				}
			case op < 15: // a viewer takes the queue
				s.Apply(Seen{}, r)
				m.queue, m.trimmed = nil, nil
			case op < 16:
				s.Apply(Restarted{Epoch: fmt.Sprint("e", step)}, r)
				m = model{epoch: fmt.Sprint("e", step)}
			default: // a reload from what the journal keeps
				meta := s.Meta(0, 0)
				var keys []journal.Key
				keys = append(keys, s.keysInOrder()...)
				var again State
				again.Apply(Loaded{Meta: meta, Keys: keys}, r)
				s = again
			}
			if s.LastSeq != uint64(len(m.msgs)) || s.Finished != m.finished || s.Failed != m.failed || s.Progress != m.progress {
				t.Fatalf("%s: state %+v, the model has %d messages, finished %v failed %v progress %v", where, s, len(m.msgs), m.finished, m.failed, m.progress)
			}
			if got := s.Queued(0); got != uint64(len(m.queue)) {
				t.Fatalf("%s: %d queued, the model queues %v", where, got, m.queue)
			}
			if len(m.queue) > 0 && s.QueueStart() != m.queue[0] {
				t.Fatalf("%s: the queue starts at %d, the model's at %d", where, s.QueueStart(), m.queue[0])
			}
			unseen := uint64(0)
			if len(m.trimmed) > 0 {
				unseen = m.trimmed[0]
			} else if len(m.queue) > 0 {
				unseen = m.queue[0]
			}
			if s.UnseenFrom() != unseen {
				t.Fatalf("%s: unseen from %d, the model's from %d (trimmed %v)", where, s.UnseenFrom(), unseen, m.trimmed)
			}
		}
	}
}

// keysInOrder returns the remembered keys, oldest first, as the journal would return them.
func (s *State) keysInOrder() []journal.Key {
	if s.keys == nil {
		return nil
	}
	var out []journal.Key
	for _, k := range s.keys.order {
		out = append(out, s.keys.byKey[k].Key)
	}
	return out
}
