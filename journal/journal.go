package journal

import (
	"errors"
	"fmt"
	"log/slog"
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
	// Key is the idempotency key of the publish this entry ended, whose first entry was
	// KeyFirst: a task reloaded from the journal still knows the keys of its recent
	// publishes. Empty on every other entry.
	Key      string
	KeyFirst uint64
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
	// Commit keeps both: a writer passes the values it was last given.
	FirstSeq uint64
	Bytes    int64
	// Owner is the generation of the activation that writes the task, in a journal that
	// several members share: each Load takes a new one, and a commit from an older one is
	// refused (ErrFenced). A single node's journal leaves it 0.
	Owner uint64
	// Failed: the task finished with an error or critical message.
	Failed bool
}

// Append is one task's part of a commit: its entries (consecutive seqs ending at
// Meta.LastSeq; none for a meta update) and its meta, written together.
type Append struct {
	TaskID  string
	Meta    Meta
	Entries []Entry
	// Reset drops every entry the task had before this append (a restarted task).
	Reset bool
	// Fenced is set by Commit when another activation owns the task: nothing of this
	// append was written.
	Fenced bool
}

// Retention says how long tasks are kept on disk.
type Retention struct {
	// Finished tasks are kept this long after they finished.
	Finished time.Duration
	// Idle unfinished tasks are kept this long after they were last active.
	Idle time.Duration
}

// Journal keeps the entries and meta of tasks. Implementations are safe for concurrent
// use; Commit is called by one goroutine at a time (the Writer's).
type Journal interface {
	// Commit writes every append, all or none, and returns once they are durable. It
	// updates each append's Meta.Bytes and Meta.FirstSeq, dropping a task's oldest
	// entries past its size cap.
	Commit(appends []Append) error
	// Load returns the task's meta and its newest entries, at most window of them, oldest
	// first; found is false for a task the journal does not have. A shared journal makes
	// the caller the task's owner (Meta.Owner).
	Load(taskID string, window int) (meta Meta, recent []Entry, found bool, err error)
	// Stat returns the task's meta, without taking it over; found is false for a task the
	// journal does not have.
	Stat(taskID string) (meta Meta, found bool, err error)
	// Read calls fn with the task's entries from seq from on, in order, until fn returns
	// false or the entries end.
	Read(taskID string, from uint64, fn func(Entry) bool) error
	// List calls fn with the meta of every task whose task_id starts with prefix, in no
	// particular order, until fn returns false.
	List(prefix string, fn func(taskID string, m Meta) bool) error
	// Delete removes the task and all its entries, durably.
	Delete(taskID string) error
	// Sweep removes the tasks that retention has expired at now and returns how many.
	Sweep(now time.Time, r Retention) (int, error)
	// Close releases the journal; nothing may be called after.
	Close() error
}

// ErrFenced is a commit's answer to an activation that no longer owns its task: another
// member has taken it over (it loaded the task after this one did).
var ErrFenced = errors.New("another activation owns the task")

// ErrUnavailable wraps a failure to store: nothing of the failed commit is acknowledged,
// and a later commit may succeed (disk space back, database up again).
var ErrUnavailable = errors.New("journal unavailable")

// Expired reports whether retention r has expired a task with meta m at now.
func (m Meta) Expired(now time.Time, r Retention) bool {
	if m.Finished {
		return m.FinishedAt != 0 && now.UnixNano()-m.FinishedAt > int64(r.Finished)
	}
	return now.UnixNano()-m.Active > int64(r.Idle)
}

// The journals a server can open by name (Open).
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

// OpenOptions say where the journal of each kind is.
type OpenOptions struct {
	Dir          string // pebble
	PostgresURL  string // postgres
	MaxTaskBytes int64
	Logger       *slog.Logger
	// AcceptLoss opens a pebble journal whose write-ahead log is damaged
	// (PebbleOptions.AcceptLoss).
	AcceptLoss bool
}

// Open opens the journal of kind; memory is none (nil).
func Open(kind string, o OpenOptions) (Journal, error) {
	switch kind {
	case KindMemory:
		return nil, nil
	case KindPebble:
		return OpenPebble(o.Dir, PebbleOptions{Logger: o.Logger, MaxTaskBytes: o.MaxTaskBytes, AcceptLoss: o.AcceptLoss})
	case KindPostgres:
		if o.PostgresURL == "" {
			return nil, errors.New("the postgres journal needs a database URL (--postgres-url)")
		}
		return OpenPostgres(o.PostgresURL, PostgresOptions{MaxTaskBytes: o.MaxTaskBytes})
	}
	return nil, fmt.Errorf("journal %q: want %s, %s or %s", kind, KindPebble, KindPostgres, KindMemory)
}
