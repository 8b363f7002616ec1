package actors

import (
	"errors"
	"fmt"
	"time"

	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/taskstate"
)

// Config holds the settings of tasks and sockets. The zero value of every field means its
// documented default; withDefaults fills them in, and nothing else does.
type Config struct {
	// QueueLimit is how many unseen messages a task queues while nobody watches (default 100).
	QueueLimit int
	// QueueKeep is how many of the most recent messages are kept when a message would push
	// the queue past QueueLimit (default 50).
	QueueKeep int
	// HistoryLimit is how many recent messages a task retains for replay with since
	// (default 1000). It must be at least QueueLimit: the queue is the tail of the history.
	HistoryLimit int
	// HistoryBytes bounds the history's frames in bytes (default 4 MiB): past it the oldest
	// go, except the queue's. With a journal, a replay gets them from there.
	HistoryBytes int
	// MaxMessageBytes is the largest message text accepted, in bytes (default 64 KiB).
	MaxMessageBytes int
	// MaxBatch is the most entries one publish may carry (default 1000).
	MaxBatch int
	// MaxTaskIDLength is the longest task_id accepted (default and most: 128).
	MaxTaskIDLength int
	// FinishedTTL is how long a finished task keeps its state for late viewers (default 10 min).
	FinishedTTL time.Duration
	// IdleTTL is how long a task with no viewers and no new messages lives (default 1 h).
	IdleTTL time.Duration
	// SocketBuffer is how many frames may wait for one socket; a socket that falls further
	// behind is closed with 1013 "slow consumer" (default 4096). It must be at least
	// MaxBatch, or one batch would close every viewer. On a busy 2-core machine a healthy
	// writer was seen to lag a publisher in a tight loop by up to ~400 frames.
	SocketBuffer int
	// WriteTimeout bounds a write to a socket (default 10 s): one frame, or a run of up to
	// 64 frames and 64 KiB written back to back.
	WriteTimeout time.Duration
	// RequestTimeout bounds one request to a task actor (default 5 s).
	RequestTimeout time.Duration
	// MaxTasks is the most live tasks a node keeps (default 100,000); a publish that would
	// create one more is refused with ErrTooManyTasks. Only a publish creates a task.
	MaxTasks int
	// MaxWaitingTasks is the most task_ids a node holds viewers on before anything was
	// published to them (default 10,000); a viewer of one more is refused with
	// ErrTooManyWaiting. Such a task_id holds no task slot and is gone with its last viewer.
	MaxWaitingTasks int
	// MaxViewersPerTask is the most sockets one task serves (default 1,000); one more is
	// refused with ErrTooManyViewers.
	MaxViewersPerTask int
	// MaxFailures is how many panics a task may have within FailureWindow before it is
	// stopped (default 10); below it a panic drops only the failing message.
	MaxFailures int
	// FailureWindow is the window MaxFailures counts over (default 1 min).
	FailureWindow time.Duration
	// ReplayLimit is the most entries a connection resuming with since gets from the
	// journal, beyond what the history holds (default 10,000), and they hold at most
	// HistoryBytes of messages; older ones are a gap with reason history, and the
	// download has them.
	ReplayLimit int
	// Retention is how long a journal keeps a finished task (default 7 days).
	Retention time.Duration
	// IdleRetention is how long a journal keeps an unfinished task nobody published to or
	// watched (default 7 days).
	IdleRetention time.Duration
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	var c Config
	c.fill()
	return c
}

func (c *Config) fill() {
	setDefault(&c.QueueLimit, 100)
	setDefault(&c.QueueKeep, 50)
	setDefault(&c.HistoryLimit, 1000)
	setDefault(&c.HistoryBytes, 4<<20)
	setDefault(&c.MaxMessageBytes, 64<<10)
	setDefault(&c.MaxBatch, 1000)
	setDefault(&c.MaxTaskIDLength, MaxTaskIDLength)
	setDefault(&c.FinishedTTL, 10*time.Minute)
	setDefault(&c.IdleTTL, time.Hour)
	setDefault(&c.SocketBuffer, 4096)
	setDefault(&c.WriteTimeout, 10*time.Second)
	setDefault(&c.RequestTimeout, 5*time.Second)
	setDefault(&c.MaxTasks, 100_000)
	setDefault(&c.MaxViewersPerTask, 1000)
	setDefault(&c.MaxWaitingTasks, 10_000)
	setDefault(&c.MaxFailures, 10)
	setDefault(&c.FailureWindow, time.Minute)
	setDefault(&c.ReplayLimit, 10_000)
	setDefault(&c.Retention, 7*24*time.Hour)
	setDefault(&c.IdleRetention, 7*24*time.Hour)
}

// Validate fills in defaults and reports settings that contradict each other.
func (c *Config) Validate() error {
	c.fill()
	var errs []error
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"queue limit", int64(c.QueueLimit)},
		{"queue keep", int64(c.QueueKeep)},
		{"history limit", int64(c.HistoryLimit)},
		{"history bytes", int64(c.HistoryBytes)},
		{"max message bytes", int64(c.MaxMessageBytes)},
		{"max batch", int64(c.MaxBatch)},
		{"max task id length", int64(c.MaxTaskIDLength)},
		{"finished ttl", int64(c.FinishedTTL)},
		{"idle ttl", int64(c.IdleTTL)},
		{"socket buffer", int64(c.SocketBuffer)},
		{"write timeout", int64(c.WriteTimeout)},
		{"request timeout", int64(c.RequestTimeout)},
		{"max tasks", int64(c.MaxTasks)},
		{"max viewers per task", int64(c.MaxViewersPerTask)},
		{"max waiting tasks", int64(c.MaxWaitingTasks)},
		{"max failures", int64(c.MaxFailures)},
		{"failure window", int64(c.FailureWindow)},
		{"replay limit", int64(c.ReplayLimit)},
		{"retention", int64(c.Retention)},
		{"idle retention", int64(c.IdleRetention)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", f.name))
		}
	}
	if c.QueueKeep > c.QueueLimit {
		errs = append(errs, fmt.Errorf("queue keep %d: must not exceed queue limit %d", c.QueueKeep, c.QueueLimit))
	}
	if c.HistoryLimit < c.QueueLimit {
		errs = append(errs, fmt.Errorf("history limit %d: must be at least queue limit %d", c.HistoryLimit, c.QueueLimit))
	}
	if c.MaxTaskIDLength > MaxTaskIDLength {
		errs = append(errs, fmt.Errorf("max task id length %d: must not exceed %d", c.MaxTaskIDLength, MaxTaskIDLength))
	}
	if c.Retention < c.FinishedTTL {
		errs = append(errs, fmt.Errorf("retention %v: must be at least the finished ttl %v (a task must not leave the journal while it is in memory)", c.Retention, c.FinishedTTL))
	}
	if c.IdleRetention < c.IdleTTL {
		errs = append(errs, fmt.Errorf("idle retention %v: must be at least the idle ttl %v (a task must not leave the journal while it is in memory)", c.IdleRetention, c.IdleTTL))
	}
	if c.SocketBuffer < c.MaxBatch {
		errs = append(errs, fmt.Errorf("socket buffer %d: must be at least max batch %d", c.SocketBuffer, c.MaxBatch))
	}
	return errors.Join(errs...)
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// keyTTL is how long a task remembers an idempotency key.
const keyTTL = 24 * time.Hour

// rules are the settings a task's state applies (package taskstate).
func (c *Config) rules() taskstate.Rules {
	// A task remembers no more keys than a journal keeps, so that a retry is answered
	// the same before and after a reload.
	return taskstate.Rules{QueueLimit: c.QueueLimit, QueueKeep: c.QueueKeep, KeyWindow: min(c.HistoryLimit, journal.DefaultKeyWindow), KeyTTL: keyTTL}
}
