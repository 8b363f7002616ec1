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
