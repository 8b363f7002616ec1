package journal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// Entry is one published log message as the journal keeps it.
type Entry struct {
	Seq          uint64
	TimeUnixNano int64
	Level        v1.Level
	Message      string
	Progress     float64
	Finished     bool
	Attrs        *v1.LineAttrs // nil for a plain message
}

// Meta is a task's state besides its entries: what a task needs to continue where it was.
type Meta struct {
	Epoch   string
	LastSeq uint64
	// Seen is the queue's watermark: every seq up to Seen was handed to a subscriber, so
	// the queue (rule 1 of docs/design.md) is what comes after it.
	Seen     uint64
	Progress float64
	Finished bool
	// Active is when the task was last published to or watched (unix nanoseconds), and
	// FinishedAt when it finished (0 while it runs): retention counts from them.
	Active     int64
	FinishedAt int64
	// FirstSeq is the oldest seq the journal still has (0: from 1); older entries were
	// dropped by the size cap. Bytes is what the task's entries take in the journal.
	// Commit keeps both from what it stores; a writer's values are not used.
	FirstSeq uint64
	Bytes    int64
	// Owner is the generation of the activation that writes the task, in a journal that
	// several members share: each Load takes a new one, and a commit from an older one is
	// refused (ErrFenced). A single node's journal leaves it 0.
	Owner uint64
	// Failed: the task finished with an error or critical message.
	Failed bool
	// Keys is how many idempotency keys the journal holds for the task (at most its key
	// window). Commit keeps it.
	Keys int
	// Streams are the stream names the task's messages used (taskstate.MaxStreams).
	Streams []string
}

// Key is the idempotency key of one stored publish: its entries were First..Last, at At
// (unix nanoseconds), and Hash fingerprints their contents, so that the same key with
// another body is told apart from a retry.
type Key struct {
	Key         string
	Hash        uint64
	First, Last uint64
	At          int64
}

// DefaultKeyWindow is how many idempotency keys a journal keeps per task, newest first.
const DefaultKeyWindow = 1000

// Append is one task's part of a commit: its entries (consecutive seqs ending at
// Meta.LastSeq; none for a meta update) and its meta, written together.
type Append struct {
	TaskID  string
	Meta    Meta
	Entries []Entry
	// Keys are the idempotency keys of the publishes whose entries this append carries.
	Keys []Key
	// Reset drops every entry and key the task had before this append (a restarted task).
	Reset bool
	// Skipped is set by a commit that leaves out a meta-only append (Admit: Skip): nothing
	// of it was written, and nothing needed to be.
	Skipped bool
	// Fenced is set by Commit when the append was not written because the journal's task
	// is not the one its writer had (Admit): another activation owns it, or it was deleted,
	// swept or written since. The writer must load the task again.
	Fenced bool
}

// A Verdict is what a commit does with one append, given the task as the journal has it.
type Verdict int

const (
	// Write: the append follows the stored task; it is written.
	Write Verdict = iota
	// Skip: a meta-only append of a state the journal has moved past (or of a task it no
	// longer has) is left out, silently: it carried only the seen watermark and the
	// activity time, which a later write carries again.
	Skip
	// Refuse: the append's writer had another state of the task than the journal has; it
	// is left out and marked Fenced.
	Refuse
)

// Admit is the one rule every journal applies to an append before writing it, so that
// every change of a task is ordered after the one it was made from (compare and append):
//   - entries must follow the stored task in its epoch (the first seq is last_seq+1), or
//     start at 1 for a task the journal does not have, from a writer that never loaded it;
//   - a restart (Reset) needs the task to exist: a deleted task stays deleted;
//   - a meta-only append applies only to the same epoch and last seq: it never creates a
//     task and never moves last_seq;
//   - in a shared journal the append's owner must be the task's (Meta.Owner).
//
// stored is the task's meta as the journal has it, found whether it has it.
func (a *Append) Admit(stored Meta, found bool) Verdict {
	switch {
	case a.Reset:
		if !found || stored.Owner != a.Meta.Owner {
			return Refuse
		}
	case len(a.Entries) > 0:
		first := a.Entries[0].Seq
		if !found {
			if first != 1 || a.Meta.Owner != 0 { // an owner means the writer loaded a task since gone
				return Refuse
			}
		} else if stored.Owner != a.Meta.Owner || stored.Epoch != a.Meta.Epoch || stored.LastSeq+1 != first {
			return Refuse
		}
	default:
		if !found || stored.Owner != a.Meta.Owner || stored.Epoch != a.Meta.Epoch || stored.LastSeq != a.Meta.LastSeq {
			return Skip
		}
	}
	return Write
}

// Retention says how long tasks are kept on disk.
type Retention struct {
	// Finished tasks are kept this long after they finished.
	Finished time.Duration
	// Idle unfinished tasks are kept this long after they were last active.
	Idle time.Duration
}

// Journal keeps the entries and meta of tasks. Implementations are safe for concurrent
// use; Commit, Delete and DeleteExpired are called by one goroutine at a time, in order
// (the Writer's), so a journal may keep what it last wrote.
type Journal interface {
	// Commit writes every append, all or none, and returns once they are durable. It
	// updates each append's Meta.Bytes and Meta.FirstSeq, dropping a task's oldest
	// entries past its size cap.
	Commit(appends []Append) error
	// Load returns the task's meta and its newest entries, at most window of them, oldest
	// first; found is false for a task the journal does not have. A shared journal makes
	// the caller the task's owner (Meta.Owner).
	Load(taskID string, window int) (meta Meta, recent []Entry, found bool, err error)
	// Keys returns the task's newest idempotency keys, at most n, oldest first. A delete
	// and a restart (Reset) remove them; the journal keeps at most its key window.
	Keys(taskID string, n int) ([]Key, error)
	// Stat returns the task's meta, without taking it over; found is false for a task the
	// journal does not have.
	Stat(taskID string) (meta Meta, found bool, err error)
	// Read calls fn with the task's entries from seq from on, in order, until fn returns
	// false or the entries end. The stored journals read a page at a time and hold
	// nothing of the store while fn runs: a slow fn costs a page of memory, and a commit
	// between pages may show (a restart or delete; the caller checks the meta after).
	// The strings of the entries of one stored chunk point into one copy of it: an entry
	// fn keeps keeps that chunk reachable.
	Read(taskID string, from uint64, fn func(Entry) bool) error
	// List calls fn with the meta of every task whose task_id starts with prefix, in no
	// particular order, until fn returns false.
	List(prefix string, fn func(taskID string, m Meta) bool) error
	// ListActive calls fn with every task whose task_id starts with prefix and whose
	// position (Meta.Active, task_id) comes after after, in the activity order (Position),
	// until fn returns false or an error, which ListActive returns. It reads about as many
	// tasks as fn is called for, plus those it passes over for not matching prefix; a
	// task's meta is read when fn asks for it (Listing.Meta).
	ListActive(prefix string, after Position, fn func(Listing) (bool, error)) error
	// Delete removes the task and all its entries, durably.
	Delete(taskID string) error
	// Expired calls fn with the task_id of every task that retention has expired at now,
	// until fn returns false. It only reads: the Writer's Sweep deletes them
	// (DeleteExpired), in order with commits.
	Expired(now time.Time, r Retention, fn func(taskID string) bool) error
	// DeleteExpired removes those of taskIDs that retention has still expired at now, as
	// stored when it runs, durably, and returns how many. It is called by one goroutine
	// at a time (the Writer's), so a commit that made a task active again is either
	// before it (the task stays) or after it (the commit is refused: Admit).
	DeleteExpired(taskIDs []string, now time.Time, r Retention) (int, error)
	// Close releases the journal; nothing may be called after.
	Close() error
}

// NewEpoch returns a new random epoch: a task's incarnation, which the journal stores in
// its meta.
func NewEpoch() string { return strconv.FormatUint(rand.Uint64(), 36) }

// ErrFenced is a commit's answer to a writer whose task the journal no longer has as the
// writer had it (Admit): another member took it over (it loaded the task after this one
// did), or it was deleted, swept or written since.
var ErrFenced = errors.New("the journal's task is not the one the writer had")

// ErrUnavailable wraps a failure to store: nothing of the failed commit is acknowledged,
// and a later commit may succeed (disk space back, database up again).
var ErrUnavailable = errors.New("journal unavailable")

// ErrOutcomeUnknown wraps a commit whose answer was lost (the connection dropped after the
// commit was sent, or it timed out then): it may or may not be stored. It also wraps
// ErrUnavailable. A writer must load its task again before it writes anything else.
var ErrOutcomeUnknown = fmt.Errorf("%w: the commit's outcome is unknown", ErrUnavailable)

// Expired reports whether retention r has expired a task with meta m at now.
func (m Meta) Expired(now time.Time, r Retention) bool {
	if m.Finished {
		return m.FinishedAt != 0 && now.UnixNano()-m.FinishedAt > int64(r.Finished)
	}
	return now.UnixNano()-m.Active > int64(r.Idle)
}

// The journals a server can open by name (backends.Open).
const (
	KindMemory   = "memory"   // no journal: tasks live in memory only
	KindPebble   = "pebble"   // the embedded journal in a directory
	KindPostgres = "postgres" // one PostgreSQL database that cluster members share
	// DefaultKind and DefaultDir are where a server keeps tasks unless told otherwise.
	DefaultKind = KindPebble
	DefaultDir  = "./tasktail-data"
)

// DefaultMaxTaskBytes is the size cap of one task's entries unless told otherwise.
const DefaultMaxTaskBytes = 64 << 20

// Fencer is implemented by a journal that every process shares and that refuses the
// writes of an activation another process has since taken the task from (PostgreSQL's
// owner generations): with it, a cluster member may serve on while its membership
// provider is away, since a wrong guess about who owns a task cannot store anything.
type Fencer interface {
	FencesStaleOwners()
}

// HealthChecker is implemented by a journal that can tell whether it can store writes now
// (readiness).
type HealthChecker interface {
	// Healthy returns why writes fail now, or nil.
	Healthy() error
}
