package journal

// The Pebble journal's activity order: a key per task, 'a' + the activity time inverted
// (big-endian, so that the newest sorts first) + the task_id, with no value. It is written
// in the same batch as the task's meta, so the two never disagree; a journal written
// before the family existed gets it once, when it opens (indexActivity).

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// activityIndexed marks a journal whose every task has its activity key.
var activityIndexed = []byte("\x00activity-order")

// activityKey is the key of a task active at active in the activity order.
func activityKey(active int64, taskID string) []byte {
	k := make([]byte, 0, 9+len(taskID))
	k = append(k, 'a')
	k = binary.BigEndian.AppendUint64(k, ^(uint64(active) ^ 1<<63)) // order-preserving, inverted
	return append(k, taskID...)
}

// putActivity adds to b the move of a task's activity key from where stored had it (if
// found) to where meta has it.
func putActivity(b *pebble.Batch, taskID string, stored Meta, found bool, meta Meta) error {
	if found && stored.Active == meta.Active {
		return nil
	}
	if err := deleteActivity(b, taskID, stored, found); err != nil {
		return err
	}
	return b.Set(activityKey(meta.Active, taskID), nil, nil)
}

// deleteActivity adds to b the delete of a task's activity key, if found.
func deleteActivity(b *pebble.Batch, taskID string, stored Meta, found bool) error {
	if !found {
		return nil
	}
	return b.Delete(activityKey(stored.Active, taskID), nil)
}

// ListActive implements Journal: a walk of the activity keys from after, reading the meta
// of each task whose task_id matches prefix.
func (p *Pebble) ListActive(prefix string, after Position, fn func(string, Meta) bool) error {
	if err := p.health.readErr(); err != nil {
		return err
	}
	// The least key past after's: task_ids hold no NUL.
	lower := append(activityKey(after.Active, after.TaskID), 0)
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: []byte{'b'}})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		taskID := string(it.Key()[9:])
		if len(taskID) < len(prefix) || taskID[:len(prefix)] != prefix {
			continue
		}
		meta, found, err := p.Stat(taskID)
		if err != nil {
			return err
		}
		if found && !fn(taskID, meta) {
			break
		}
	}
	return it.Error()
}

// indexActivity writes the activity key of every task of a journal that has none yet (one
// written before the family existed), in one synced batch, and marks it done.
func (p *Pebble) indexActivity() error {
	_, closer, err := p.db.Get(activityIndexed)
	if err == nil {
		return closer.Close()
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return err
	}
	b := p.db.NewBatch()
	defer b.Close()
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'m'}, UpperBound: []byte{'n'}})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		meta, err := decodeMeta(it.Value())
		if err != nil {
			it.Close()
			return fmt.Errorf("task %s: %w", it.Key()[1:], err)
		}
		if err := b.Set(activityKey(meta.Active, string(it.Key()[1:])), nil, nil); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	if err := b.Set(activityIndexed, nil, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}
