package actors

import (
	"context"
	"errors"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// Ack is the answer to a publish.
type Ack struct {
	TaskID   string
	FirstSeq uint64
	LastSeq  uint64
	Queued   bool // no viewer was connected: the messages wait in the queue
	Epoch    string
}

// Publish appends entries to a task, all or nothing, after checking the field rules.
func (m *Manager) Publish(ctx context.Context, taskID string, entries []*v1.LogInput) (Ack, error) {
	return m.PublishOnce(ctx, taskID, "", entries)
}

// PublishOnce is Publish with an idempotency key: a publish retried with the key of one
// the task has stored (it remembers the last HistoryLimit keys, across restarts with a
// journal) is answered as the first was, and stored once. An empty key is none.
func (m *Manager) PublishOnce(ctx context.Context, taskID, key string, entries []*v1.LogInput) (Ack, error) {
	if err := ValidateKey(key); err != nil {
		return Ack{}, err
	}
	values := make([]logEntry, len(entries))
	for i, in := range entries {
		values[i] = entryOf(in)
	}
	if err := validateEntries(&m.cfg, values); err != nil {
		return Ack{}, err
	}
	return m.send(ctx, taskID, key, values)
}

// publish checks entries and publishes them.
func (m *Manager) publish(ctx context.Context, taskID string, entries []logEntry) (Ack, error) {
	if err := validateEntries(&m.cfg, entries); err != nil {
		return Ack{}, err
	}
	return m.send(ctx, taskID, "", entries)
}

// send sends checked entries through the task's pipe, where publishes made at the same
// time travel to the task together, and waits for the answer. The pipe keeps its own
// copy of the entries.
func (m *Manager) send(ctx context.Context, taskID, key string, entries []logEntry) (Ack, error) {
	if err := m.cfg.ValidateTaskID(taskID); err != nil {
		return Ack{}, err
	}
	if err := ctx.Err(); err != nil {
		return Ack{}, err
	}
	p := m.pipes.Acquire(taskID)
	defer m.pipes.Release(p)
	c, part := p.Add(entries, key, m.cfg.MaxBatch)
	select {
	case <-c.Done():
		return resultOf(c, part)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Ack{}, ErrTimeout
		}
		return Ack{}, ctx.Err()
	}
}

// Entries are log entries already checked against the field rules, for a publisher that
// checks each as it arrives (a streaming publish names the line that broke a rule) and
// publishes them later with PublishEntries, so that nothing is checked twice. The zero
// value is not usable; make one with Manager.NewEntries.
type Entries struct {
	cfg  *Config
	list []logEntry
}

// NewEntries returns an empty set of entries under the Manager's rules.
func (m *Manager) NewEntries() *Entries { return &Entries{cfg: &m.cfg} }

// Add checks in against the field rules and appends it. An entry may not follow one that
// finishes the task, and at most Config.MaxBatch fit.
func (e *Entries) Add(in *v1.LogInput) error {
	entry := entryOf(in)
	if len(e.list) == e.cfg.MaxBatch {
		return tooLarge("entries", "more than %d in one batch", e.cfg.MaxBatch)
	}
	if n := len(e.list); n > 0 && e.list[n-1].Finished {
		return invalid("finished", "only the last entry of a batch may finish the task")
	}
	if err := checkEntry(e.cfg, entry, true); err != nil {
		return err
	}
	e.list = append(e.list, entry)
	return nil
}

// Len is how many entries e holds.
func (e *Entries) Len() int { return len(e.list) }

// Reset empties e for reuse.
func (e *Entries) Reset() {
	clear(e.list)
	e.list = e.list[:0]
}

// PublishEntries publishes e, all or nothing, like Publish; e may be reset after.
func (m *Manager) PublishEntries(ctx context.Context, taskID string, e *Entries) (Ack, error) {
	if len(e.list) == 0 {
		return Ack{}, invalid("entries", "must not be empty")
	}
	return m.send(ctx, taskID, "", e.list)
}
