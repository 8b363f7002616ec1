package journaltest

import (
	"fmt"
	"sync"
	"time"

	"github.com/tasktail/tasktail/journal"
)

// ErrAnswerLost is what an ambiguous write returns: the write reached the journal, and
// its answer was lost on the way back (a connection that dropped after the database
// committed), which a journal reports as journal.ErrOutcomeUnknown.
var ErrAnswerLost = fmt.Errorf("%w: the write was stored, its answer lost", journal.ErrOutcomeUnknown)

// ErrCrashed is what every call to a crashed journal returns, and a write cut before it
// reached the journal.
var ErrCrashed = fmt.Errorf("%w: crashed", journal.ErrUnavailable)

// Fault is what Crash does to the next write (a Commit or a Delete).
type Fault int

// The faults of one write.
const (
	NoFault Fault = iota
	// Cut fails the write before it reaches the journal: nothing of it is stored.
	Cut
	// Ambiguous stores the write, then fails it with ErrAnswerLost.
	Ambiguous
)

func (f Fault) String() string {
	switch f {
	case Cut:
		return "cut"
	case Ambiguous:
		return "ambiguous"
	}
	return "none"
}

// Crash wraps a journal for crash tests: after Crash every call fails, so nothing more
// reaches the store, as if the process had died at that instant (the journal itself is
// closed by Close, which still reaches it). Arm makes the next write fail once, before or
// after it is stored.
type Crash struct {
	j journal.Journal

	mu      sync.Mutex
	crashed bool
	armed   Fault
	fired   Fault
	hit     []string // the task_ids of the write the armed fault hit
}

// NewCrash wraps j.
func NewCrash(j journal.Journal) *Crash { return &Crash{j: j} }

// Crash makes every later call fail with ErrCrashed; a call already inside the journal
// completes there.
func (c *Crash) Crash() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.crashed = true
}

// Arm makes the next write (a Commit or a Delete) fail with f, once.
func (c *Crash) Arm(f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed, c.fired, c.hit = f, NoFault, nil
}

// Fired disarms the fault and reports whether it hit a write since Arm, and the task_ids
// of that write.
func (c *Crash) Fired() (Fault, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = NoFault
	return c.fired, c.hit
}

// enter decides the fate of a call: the error to return without calling the journal, or
// the fault to apply after a write that does (Ambiguous).
func (c *Crash) enter(write bool, tasks func() []string) (Fault, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return NoFault, ErrCrashed
	}
	if !write || c.armed == NoFault {
		return NoFault, nil
	}
	f := c.armed
	c.armed, c.fired, c.hit = NoFault, f, tasks()
	if f == Cut {
		return NoFault, ErrCrashed
	}
	return f, nil
}

// Commit implements journal.Journal.
func (c *Crash) Commit(appends []journal.Append) error {
	f, err := c.enter(true, func() []string {
		ids := make([]string, len(appends))
		for i, a := range appends {
			ids[i] = a.TaskID
		}
		return ids
	})
	if err != nil {
		return err
	}
	if err := c.j.Commit(appends); err != nil || f != Ambiguous {
		return err
	}
	return ErrAnswerLost
}

// Delete implements journal.Journal.
func (c *Crash) Delete(taskID string) error {
	f, err := c.enter(true, func() []string { return []string{taskID} })
	if err != nil {
		return err
	}
	if err := c.j.Delete(taskID); err != nil || f != Ambiguous {
		return err
	}
	return ErrAnswerLost
}

// Load implements journal.Journal.
func (c *Crash) Load(taskID string, window int) (journal.Meta, []journal.Entry, bool, error) {
	if _, err := c.enter(false, nil); err != nil {
		return journal.Meta{}, nil, false, err
	}
	return c.j.Load(taskID, window)
}

// Stat implements journal.Journal.
func (c *Crash) Stat(taskID string) (journal.Meta, bool, error) {
	if _, err := c.enter(false, nil); err != nil {
		return journal.Meta{}, false, err
	}
	return c.j.Stat(taskID)
}

// Read implements journal.Journal.
func (c *Crash) Read(taskID string, from uint64, fn func(journal.Entry) bool) error {
	if _, err := c.enter(false, nil); err != nil {
		return err
	}
	return c.j.Read(taskID, from, fn)
}

// List implements journal.Journal.
func (c *Crash) List(prefix string, fn func(string, journal.Meta) bool) error {
	if _, err := c.enter(false, nil); err != nil {
		return err
	}
	return c.j.List(prefix, fn)
}

// ListActive implements journal.Journal.
func (c *Crash) ListActive(prefix string, after journal.Position, fn func(journal.Listing) (bool, error)) error {
	if _, err := c.enter(false, nil); err != nil {
		return err
	}
	return c.j.ListActive(prefix, after, fn)
}

// Keys implements journal.Journal.
func (c *Crash) Keys(taskID string, n int) ([]journal.Key, error) {
	if _, err := c.enter(false, nil); err != nil {
		return nil, err
	}
	return c.j.Keys(taskID, n)
}

// Expired implements journal.Journal.
func (c *Crash) Expired(now time.Time, r journal.Retention, fn func(string) bool) error {
	if _, err := c.enter(false, nil); err != nil {
		return err
	}
	return c.j.Expired(now, r, fn)
}

// DeleteExpired implements journal.Journal. An armed fault leaves it alone: it is for
// the write the test armed it for.
func (c *Crash) DeleteExpired(taskIDs []string, now time.Time, r journal.Retention) (int, error) {
	if _, err := c.enter(false, nil); err != nil {
		return 0, err
	}
	return c.j.DeleteExpired(taskIDs, now, r)
}

// Close implements journal.Journal: it closes the wrapped journal, crashed or not.
func (c *Crash) Close() error { return c.j.Close() }
