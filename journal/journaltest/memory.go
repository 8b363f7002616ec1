// Package journaltest has an in-memory journal.Journal for tests, with failures on demand.
package journaltest

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tasktail/tasktail/journal"
)

// Memory is a journal.Journal in memory. Fail makes every later write fail until it is
// called again with nil.
type Memory struct {
	mu        sync.Mutex
	tasks     map[string]*task
	fail      error
	failLoads error
	held      chan struct{} // loads wait while it is open
	commits   chan struct{} // commits wait while it is open
	waiting   int           // commits waiting on it

	// Commits counts successful commits, for tests of group commit.
	Commits int
}

type task struct {
	meta    journal.Meta
	entries []journal.Entry
	keys    []journal.Key
}

// CommitCount returns Commits, read under the journal's lock.
func (m *Memory) CommitCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Commits
}

// NewMemory returns an empty journal.
func NewMemory() *Memory { return &Memory{tasks: map[string]*task{}} }

// Fail makes writes fail with err (wrapped in journal.ErrUnavailable) from now on; nil
// makes them succeed again.
func (m *Memory) Fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}

// HoldLoads makes every later Load wait until release is called (once or more), as a
// database that is slow to answer does.
func (m *Memory) HoldLoads() (release func()) { return m.hold(&m.held) }

// HoldCommits makes every later Commit wait until release is called (once or more), as a
// database slow to answer does; Waiting tells how many wait.
func (m *Memory) HoldCommits() (release func()) { return m.hold(&m.commits) }

// hold sets the gate that calls wait on, and returns its release.
func (m *Memory) hold(gate *chan struct{}) (release func()) {
	held := make(chan struct{})
	m.mu.Lock()
	*gate = held
	m.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			*gate = nil
			m.mu.Unlock()
			close(held)
		})
	}
}

// Waiting is how many commits wait for HoldCommits' release.
func (m *Memory) Waiting() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.waiting
}

// FailLoads makes every later Load fail with err (wrapped in journal.ErrUnavailable) until
// it is called again with nil.
func (m *Memory) FailLoads(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failLoads = err
}

func (m *Memory) failure() error {
	if m.fail != nil {
		return &unavailable{m.fail}
	}
	return nil
}

type unavailable struct{ err error }

func (u *unavailable) Error() string   { return "journal unavailable: " + u.err.Error() }
func (u *unavailable) Unwrap() []error { return []error{journal.ErrUnavailable, u.err} }

// Commit implements journal.Journal.
func (m *Memory) Commit(appends []journal.Append) error {
	m.mu.Lock()
	if held := m.commits; held != nil {
		m.waiting++
		m.mu.Unlock()
		<-held
		m.mu.Lock()
		m.waiting--
	}
	defer m.mu.Unlock()
	if err := m.failure(); err != nil {
		return err
	}
	for i := range appends {
		a := &appends[i]
		t := m.tasks[a.TaskID]
		var stored journal.Meta
		if t != nil {
			stored = t.meta
		}
		switch a.Admit(stored, t != nil) {
		case journal.Refuse:
			a.Fenced = true
			continue
		case journal.Skip:
			continue
		}
		if t == nil || a.Reset {
			t = &task{}
			m.tasks[a.TaskID] = t
		}
		a.Meta.FirstSeq, a.Meta.Bytes = t.meta.FirstSeq, t.meta.Bytes
		if len(a.Entries) > 0 && a.Meta.FirstSeq == 0 {
			a.Meta.FirstSeq = a.Entries[0].Seq
		}
		t.keys = append(t.keys, a.Keys...)
		if n := len(t.keys) - journal.DefaultKeyWindow; n > 0 {
			t.keys = t.keys[n:]
		}
		a.Meta.Keys = len(t.keys)
		t.meta = a.Meta
		t.entries = append(t.entries, a.Entries...)
	}
	m.Commits++
	return nil
}

// Load implements journal.Journal.
func (m *Memory) Load(taskID string, window int) (journal.Meta, []journal.Entry, bool, error) {
	m.mu.Lock()
	if held := m.held; held != nil {
		m.mu.Unlock()
		<-held
		m.mu.Lock()
	}
	defer m.mu.Unlock()
	if m.failLoads != nil {
		return journal.Meta{}, nil, false, &unavailable{m.failLoads}
	}
	t := m.tasks[taskID]
	if t == nil {
		return journal.Meta{}, nil, false, nil
	}
	from := max(0, len(t.entries)-window)
	return t.meta, append([]journal.Entry(nil), t.entries[from:]...), true, nil
}

// Keys implements journal.Journal.
func (m *Memory) Keys(taskID string, n int) ([]journal.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tasks[taskID]
	if t == nil {
		return nil, nil
	}
	return append([]journal.Key(nil), t.keys[max(0, len(t.keys)-n):]...), nil
}

// Stat implements journal.Journal.
func (m *Memory) Stat(taskID string) (journal.Meta, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.tasks[taskID]; t != nil {
		return t.meta, true, nil
	}
	return journal.Meta{}, false, nil
}

// List implements journal.Journal.
func (m *Memory) List(prefix string, fn func(string, journal.Meta) bool) error {
	m.mu.Lock()
	metas := map[string]journal.Meta{}
	for id, t := range m.tasks {
		if strings.HasPrefix(id, prefix) {
			metas[id] = t.meta
		}
	}
	m.mu.Unlock()
	for id, meta := range metas {
		if !fn(id, meta) {
			break
		}
	}
	return nil
}

// ListActive implements journal.Journal: every task sorted, as a test journal may.
func (m *Memory) ListActive(prefix string, after journal.Position, fn func(journal.Listing) (bool, error)) error {
	type listed struct {
		at   journal.Position
		meta journal.Meta
	}
	var tasks []listed
	m.mu.Lock()
	for id, t := range m.tasks {
		at := journal.Position{Active: t.meta.Active, TaskID: id}
		if strings.HasPrefix(id, prefix) && after.Compare(at) < 0 {
			tasks = append(tasks, listed{at, t.meta})
		}
	}
	m.mu.Unlock()
	slices.SortFunc(tasks, func(a, b listed) int { return a.at.Compare(b.at) })
	for _, t := range tasks {
		if more, err := fn(journal.ListingOf(t.at.TaskID, t.meta)); err != nil || !more {
			return err
		}
	}
	return nil
}

// Read implements journal.Journal.
func (m *Memory) Read(taskID string, from uint64, fn func(journal.Entry) bool) error {
	m.mu.Lock()
	var entries []journal.Entry
	if t := m.tasks[taskID]; t != nil {
		entries = append(entries, t.entries...)
	}
	m.mu.Unlock()
	for _, e := range entries {
		if e.Seq >= from && !fn(e) {
			break
		}
	}
	return nil
}

// Delete implements journal.Journal.
func (m *Memory) Delete(taskID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failure(); err != nil {
		return err
	}
	delete(m.tasks, taskID)
	return nil
}

// Expired implements journal.Journal.
func (m *Memory) Expired(now time.Time, r journal.Retention, fn func(string) bool) error {
	m.mu.Lock()
	var ids []string
	for id, t := range m.tasks {
		if t.meta.Expired(now, r) {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	for _, id := range ids {
		if !fn(id) {
			break
		}
	}
	return nil
}

// DeleteExpired implements journal.Journal.
func (m *Memory) DeleteExpired(ids []string, now time.Time, r journal.Retention) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failure(); err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if t := m.tasks[id]; t != nil && t.meta.Expired(now, r) {
			delete(m.tasks, id)
			n++
		}
	}
	return n, nil
}

// Close implements journal.Journal.
func (m *Memory) Close() error { return nil }
