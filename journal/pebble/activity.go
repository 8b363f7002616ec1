package pebble

// The Pebble journal's activity order: a key per task, 'a' + the activity time inverted
// (big-endian, so that the newest sorts first) + the task_id, whose value is the task's
// state (activityState), so that a list filtered by state reads no meta it leaves out. It
// is written
// in the same batch as the task's meta, so the two never disagree; a journal written
// before the family existed gets it once, when it opens (indexActivity).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	pebbledb "github.com/cockroachdb/pebble/v2"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/record"
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

// activityState is the value of a task's activity key: bit 0 finished, bit 1 failed.
func activityState(m journal.Meta) []byte {
	var v byte
	if m.Finished {
		v |= 1
	}
	if m.Failed {
		v |= 2
	}
	return []byte{v}
}

// putActivity adds to b the move of a task's activity key from where stored had it (if
// found) to where meta has it, with meta's state.
func putActivity(b *pebbledb.Batch, taskID string, stored journal.Meta, found bool, meta journal.Meta) error {
	if found && stored.Active == meta.Active && stored.Finished == meta.Finished && stored.Failed == meta.Failed {
		return nil
	}
	if err := deleteActivity(b, taskID, stored, found); err != nil {
		return err
	}
	return b.Set(activityKey(meta.Active, taskID), activityState(meta), nil)
}

// deleteActivity adds to b the delete of a task's activity key, if found.
func deleteActivity(b *pebbledb.Batch, taskID string, stored journal.Meta, found bool) error {
	if !found {
		return nil
	}
	return b.Delete(activityKey(stored.Active, taskID), nil)
}

// prefixFew is how many tasks of a prefix ListActive reads by task_id, and sorts, before it
// walks the activity order instead: a prefix that few tasks have costs a walk of them, not
// of every task.
const prefixFew = 1024

// ListActive implements Journal: a walk of the activity keys from after; a task's meta is
// read (a lookup) when fn asks for it. A prefix that at most prefixFew tasks have is read
// from the metas, in task_id order, and sorted.
func (p *Journal) ListActive(prefix string, after journal.Position, fn func(journal.Listing) (bool, error)) error {
	if err := p.health.readErr(); err != nil {
		return err
	}
	if prefix != "" {
		few, ok, err := p.fewOfPrefix(prefix)
		if err != nil || ok {
			return listSorted(few, after, fn, err)
		}
	}
	// The least key past after's: task_ids hold no NUL.
	lower := append(activityKey(after.Active, after.TaskID), 0)
	it, err := p.db.NewIter(&pebbledb.IterOptions{LowerBound: lower, UpperBound: []byte{'b'}})
	if err != nil {
		return fmt.Errorf("%w: %v", journal.ErrUnavailable, err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		key := it.Key()
		if len(key)-9 < len(prefix) || string(key[9:9+len(prefix)]) != prefix {
			continue
		}
		taskID := string(key[9:])
		state := byte(0)
		if v := it.Value(); len(v) > 0 {
			state = v[0]
		}
		at := journal.Position{Active: int64(^binary.BigEndian.Uint64(key[1:9]) ^ 1<<63), TaskID: taskID}
		l := journal.ListingRead(at, state&1 != 0, state&2 != 0, func() (journal.Meta, bool, error) { return p.Stat(taskID) })
		if more, err := fn(l); err != nil || !more {
			return err
		}
	}
	return it.Error()
}

// indexActivity writes the activity key of every task of a journal that has none yet (one
// written before the family existed), in one synced batch, and marks it done.
func (p *Journal) indexActivity() error {
	_, closer, err := p.db.Get(activityIndexed)
	if err == nil {
		return closer.Close()
	}
	if !errors.Is(err, pebbledb.ErrNotFound) {
		return err
	}
	b := p.db.NewBatch()
	defer b.Close()
	it, err := p.db.NewIter(&pebbledb.IterOptions{LowerBound: []byte{'m'}, UpperBound: []byte{'n'}})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		meta, err := record.DecodeMeta(it.Value())
		if err != nil {
			it.Close()
			return fmt.Errorf("task %s: %w", it.Key()[1:], err)
		}
		if err := b.Set(activityKey(meta.Active, string(it.Key()[1:])), activityState(meta), nil); err != nil {
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
	return b.Commit(pebbledb.Sync)
}

// fewOfPrefix returns the tasks whose task_id starts with prefix, if there are at most
// prefixFew (ok).
func (p *Journal) fewOfPrefix(prefix string) (few []journal.Listing, ok bool, err error) {
	lower := metaKey(prefix)
	it, err := p.db.NewIter(&pebbledb.IterOptions{LowerBound: lower, UpperBound: successor(lower)})
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", journal.ErrUnavailable, err)
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		if len(few) == prefixFew {
			return nil, false, nil
		}
		meta, err := record.DecodeMeta(it.Value())
		if err != nil {
			return nil, false, err
		}
		few = append(few, journal.ListingOf(string(it.Key()[1:]), meta))
	}
	return few, true, it.Error()
}

// listSorted calls fn with the tasks of few after after, in the activity order.
func listSorted(few []journal.Listing, after journal.Position, fn func(journal.Listing) (bool, error), err error) error {
	if err != nil {
		return err
	}
	slices.SortFunc(few, func(a, b journal.Listing) int { return a.At.Compare(b.At) })
	for _, l := range few {
		if after.Compare(l.At) >= 0 {
			continue
		}
		if more, err := fn(l); err != nil || !more {
			return err
		}
	}
	return nil
}
