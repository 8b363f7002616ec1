package actors

import "time"

// SweepAt runs one retention sweep of the Manager's journal as its own sweep does, at
// now instead of the ticker's time, and returns how many tasks it removed. Without a
// journal it removes none.
func (m *Manager) SweepAt(now time.Time) (int, error) {
	if m.store == nil {
		return 0, nil
	}
	return m.sweepOnce(now)
}

// Listed is how many tasks the Manager's list index holds.
func (m *Manager) Listed() int { return m.index.len() }

// ListWalked is how many index entries the Manager's list pages have read.
func (m *Manager) ListWalked() uint64 { return m.index.walked.Load() }
