package taskstate

import (
	"time"

	"github.com/tasktail/tasktail/journal"
)

// Rules are the settings the state's rules depend on.
type Rules struct {
	QueueLimit, QueueKeep int // rule 4
	// KeyWindow is how many idempotency keys a task remembers, and KeyTTL for how long.
	KeyWindow int
	KeyTTL    time.Duration
}

// State is one incarnation of a task, as its task actor holds it and the journal keeps
// it. The zero State is a task nothing was published to, in no epoch yet.
type State struct {
	Epoch    string
	LastSeq  uint64
	Progress float64
	Finished bool
	Failed   bool // finished with an error or critical message
	// FinishedAt is when the task finished (unix nanoseconds; 0 while it runs).
	FinishedAt int64
	// FirstSeq is the oldest seq the journal still has (0: from 1) and Bytes what the
	// task's entries take there: the journal's, from its answer to each commit.
	FirstSeq uint64
	Bytes    int64
	// Streams are the stream names the task's messages used, at most MaxStreams.
	Streams []string
	queue
	keys *keys // nil until a keyed publish
}

// A Record is one change of a task: Appended, Restarted, Seen, Stored, Loaded.
type Record interface{ record() }

// Appended is a publish call's planned entries, applied; Watched says whether a viewer
// was connected (then they are live and nothing is queued, else they are queued).
type Appended struct {
	Plan    *Plan
	Watched bool
}

// Restarted starts a new incarnation: Epoch, seq from 1, nothing queued or remembered.
type Restarted struct{ Epoch string }

// Seen records that a viewer was handed the queue: nothing is queued any more.
type Seen struct{}

// Stored is the journal's answer to a commit: what it keeps of the task.
type Stored struct{ Meta journal.Meta }

// Loaded replaces the state with what the journal had of the task.
type Loaded struct {
	Meta journal.Meta
	Keys []journal.Key
}

func (Appended) record()  {}
func (Restarted) record() {}
func (Seen) record()      {}
func (Stored) record()    {}
func (Loaded) record()    {}

// Effects is what applying a record means beyond the state.
type Effects struct {
	// Trimmed counts the queued messages the trim rule dropped.
	Trimmed uint64
	// JustFinished: the record finished the task.
	JustFinished bool
}

// Apply applies one record to the state. It is the only way the state changes.
func (s *State) Apply(rec Record, r Rules) Effects {
	var fx Effects
	switch rec := rec.(type) {
	case Appended:
		p := rec.Plan
		wasFinished := s.Finished
		if rec.Watched {
			s.queue = queue{} // a viewer has everything up to now
		}
		for _, g := range p.Groups {
			if !g.Appended {
				continue
			}
			for _, e := range p.Entries[g.From:g.To] {
				s.LastSeq = e.Seq
				if !rec.Watched {
					fx.Trimmed += s.enqueue(s.LastSeq, r)
				}
			}
			if g.Key.Key != "" {
				s.remember(g.Key, !rec.Watched, r)
			}
		}
		if len(p.Entries) > 0 {
			s.Progress, s.Finished, s.Failed, s.FinishedAt = p.Progress, p.Finished, p.Failed, p.FinishedAt
			s.Streams = p.Streams
			fx.JustFinished = s.Finished && !wasFinished
		}
	case Restarted:
		*s = State{Epoch: rec.Epoch, FirstSeq: 0}
	case Seen:
		s.queue = queue{}
	case Stored:
		s.FirstSeq, s.Bytes = rec.Meta.FirstSeq, rec.Meta.Bytes
	case Loaded:
		m := rec.Meta
		*s = State{Epoch: m.Epoch, LastSeq: m.LastSeq, Progress: m.Progress, Finished: m.Finished, Failed: m.Failed,
			FinishedAt: m.FinishedAt, FirstSeq: m.FirstSeq, Bytes: m.Bytes, Streams: m.Streams}
		if m.LastSeq > m.Seen {
			s.unseenFrom = m.Seen + 1
			s.queuedFrom = m.LastSeq - QueueLength(m.LastSeq-m.Seen, uint64(r.QueueLimit), uint64(r.QueueKeep)) + 1
		}
		for _, k := range rec.Keys {
			s.remember(k, false, r)
		}
	}
	return fx
}

// Meta is the state as the journal keeps it, with the task's last activity (unix
// nanoseconds) and its owner generation.
func (s *State) Meta(active int64, owner uint64) journal.Meta {
	return journal.Meta{
		Epoch: s.Epoch, LastSeq: s.LastSeq, Seen: s.Seen(), Progress: s.Progress, Finished: s.Finished,
		Active: active, FinishedAt: s.FinishedAt, FirstSeq: s.FirstSeq, Bytes: s.Bytes, Owner: owner, Failed: s.Failed,
		Streams: s.Streams,
	}
}
