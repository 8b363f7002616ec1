package taskstate

import (
	"math"
	"time"

	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// KeepProgress as an Input's progress leaves the task's progress as it is.
const KeepProgress = -math.MaxFloat64

// Input is one message as a publisher sent it.
type Input struct {
	Level    v1.Level
	Message  string
	Progress float64 // KeepProgress: the task's
	Finished bool
	Attrs    *v1.LineAttrs // nil for a plain message
}

// Plan is what a publish call does to its task, decided once from the task's state:
// the entries it appends, as they are stored, each group's outcome, and the task's
// progress and finished state after it. Applied as Appended, it changes the state; with a
// journal it is what is stored, and it is applied once stored.
type Plan struct {
	Entries []journal.Entry
	Groups  []PlannedGroup // one per group of the call, in order
	At      time.Time
	// The task's state after the call.
	LastSeq    uint64
	Progress   float64
	Finished   bool
	Failed     bool
	FinishedAt int64 // unix nanoseconds: At when the call finishes the task
	Streams    []string
}

// Onto returns m, a task's meta before the call, as the call leaves it: what a journal
// stores with the call's entries. (The seen watermark stays the one from before.)
func (p *Plan) Onto(m journal.Meta) journal.Meta {
	m.LastSeq, m.Progress, m.Finished, m.Failed, m.FinishedAt = p.LastSeq, p.Progress, p.Finished, p.Failed, p.FinishedAt
	m.Active, m.Streams = p.At.UnixNano(), p.Streams
	return m
}

// PlannedGroup is one group's outcome: appended as Entries[From:To] (First..Last), or
// answered without appending: a retry of a stored publish with its first answer, a
// refusal because the task had finished, or because the key was used for another body.
type PlannedGroup struct {
	From, To    int
	First, Last uint64
	Appended    bool
	Queued      bool // of a retry of a stored publish: the first answer's
	Repeats     int  // of a retry within the call: 1 + the index of the group it repeats
	Finished    bool // refused: the task had finished
	KeyReused   bool // refused: the key was stored with another body
	Key         journal.Key
}

// Keys returns the idempotency keys the plan stores.
func (p *Plan) Keys() []journal.Key {
	var keys []journal.Key
	for _, g := range p.Groups {
		if g.Appended && g.Key.Key != "" {
			keys = append(keys, g.Key)
		}
	}
	return keys
}

// Plan decides what a publish call does at at: entries[ends[i-1]:ends[i]] is group i,
// all or nothing, with idempotency key key(i) ("" for none). It changes nothing.
func (s *State) Plan(entries []Input, ends []int, key func(int) string, at time.Time, r Rules) *Plan {
	p := &Plan{Groups: make([]PlannedGroup, len(ends)), At: at,
		LastSeq: s.LastSeq, Progress: s.Progress, Finished: s.Finished, Failed: s.Failed, FinishedAt: s.FinishedAt,
		Streams: s.Streams}
	var inCall map[string]int // keys of earlier groups of this call: their index
	from := 0
	for i, end := range ends {
		g, k, group := &p.Groups[i], key(i), entries[from:end]
		from = end
		var hash uint64
		if k != "" {
			hash = BodyHash(group)
		}
		if j, ok := inCall[k]; ok && k != "" { // a retry within the call
			earlier := p.Groups[j]
			g.First, g.Last, g.KeyReused = earlier.First, earlier.Last, earlier.Key.Hash != hash
			g.Repeats = j + 1
			continue
		}
		if stored, ok := s.key(k, at.UnixNano(), r); ok {
			g.First, g.Last, g.KeyReused, g.Queued = stored.First, stored.Last, stored.Hash != hash, stored.queued
			continue
		}
		if p.Finished {
			g.Last, g.Finished = p.LastSeq, true
			continue
		}
		g.Appended, g.From, g.First = true, len(p.Entries), p.LastSeq+1
		for _, in := range group {
			if in.Progress == KeepProgress {
				in.Progress = p.Progress
			}
			p.LastSeq++
			attrs := in.Attrs
			attrs, p.Streams = streamOf(p.Streams, attrs)
			p.Entries = append(p.Entries, journal.Entry{Seq: p.LastSeq, TimeUnixNano: at.UnixNano(),
				Level: in.Level, Message: in.Message, Progress: in.Progress, Finished: in.Finished, Attrs: attrs})
			p.Progress = in.Progress
			if in.Finished && !p.Finished {
				p.Failed, p.FinishedAt = Failing(in.Level), at.UnixNano()
			}
			p.Finished = p.Finished || in.Finished
		}
		g.To, g.Last = len(p.Entries), p.LastSeq
		if k != "" {
			g.Key = journal.Key{Key: k, Hash: hash, First: g.First, Last: g.Last, At: at.UnixNano()}
			if inCall == nil {
				inCall = map[string]int{}
			}
			inCall[k] = i
		}
	}
	return p
}

// Failing reports whether a task that finishes with a message of level failed.
func Failing(level v1.Level) bool {
	return level == v1.Level_LEVEL_ERROR || level == v1.Level_LEVEL_CRITICAL
}

// BodyHash fingerprints the entries of one publish, for its idempotency key (FNV-1a over
// each entry's level, progress, finished flag, length and message, and its attributes).
func BodyHash(entries []Input) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		for range 8 {
			h = (h ^ (v & 0xff)) * prime
			v >>= 8
		}
	}
	for _, e := range entries {
		mix(uint64(e.Level))
		mix(math.Float64bits(e.Progress))
		if e.Finished {
			mix(1)
		} else {
			mix(0)
		}
		mix(uint64(len(e.Message)))
		for i := 0; i < len(e.Message); i++ {
			h = (h ^ uint64(e.Message[i])) * prime
		}
		if a := e.Attrs; a != nil { // a plain message hashes as before attributes existed
			flags := uint64(a.Section) << 1
			if a.Update {
				flags |= 1
			}
			mix(flags)
			mix(uint64(a.ProducedUnixNano))
			mix(uint64(len(a.Stream)))
			for i := 0; i < len(a.Stream); i++ {
				h = (h ^ uint64(a.Stream[i])) * prime
			}
		}
	}
	return h
}
