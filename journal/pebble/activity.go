package pebble

// The Pebble journal's activity order: a key per task, 'a' + the activity time inverted
// (big-endian, so that the newest sorts first) + the task_id, whose value is the task's
// state (activityState), so that a list filtered by state reads no meta it leaves out.
// Commits note the moves they owe and write them later (order.go); a journal written
// before the family existed, or left with moves owed, rebuilds it when it opens
// (indexActivity).

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
		few, ok, err := p.fewOfPrefix(prefix, prefixFew)
		if err != nil || ok {
			return listSorted(few, after, fn, err)
		}
	}
	p.order.mu.Lock()
	err := p.putInOrder()
	p.order.mu.Unlock()
	if err != nil {
		// The keys cannot be put where the metas say (the disk is full, say): the metas,
		// read and sorted, are the order.
		all, _, err := p.fewOfPrefix(prefix, -1)
		return listSorted(all, after, fn, err)
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

// indexActivity rebuilds the activity order of a journal that lacks the mark of a complete
// one: one written before the family existed, or one stopped while moves were owed.
func (p *Journal) indexActivity() error {
	p.order.marked = true // found, or written by the rebuild (or it may have been)
	_, closer, err := p.db.Get(activityIndexed)
	if err == nil {
		return closer.Close()
	}
	if !errors.Is(err, pebbledb.ErrNotFound) {
		return err
	}
	if err := p.rebuildOrder(); err != nil {
		if !p.health.fullOnly() {
			return err
		}
		// Refused on a full disk: the journal opens, so that tasks can be read and deleted
		// to free space; lists sort the metas until the order can be rebuilt.
		p.order.stale = true
	}
	return nil
}

// rebuildOrder writes the activity key of every task where its meta puts it, and none
// elsewhere, in one synced batch, and marks the order complete.
func (p *Journal) rebuildOrder() error {
	if err := p.health.err(false); err != nil { // refused before the work of the batch
		return err
	}
	b := p.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange([]byte{'a'}, []byte{'b'}, nil); err != nil {
		return err
	}
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
	return p.commitWith(b, false, pebbledb.Sync)
}

// fewOfPrefix returns the tasks whose task_id starts with prefix, if there are at most
// limit (ok; a negative limit is none).
func (p *Journal) fewOfPrefix(prefix string, limit int) (few []journal.Listing, ok bool, err error) {
	lower := metaKey(prefix)
	it, err := p.db.NewIter(&pebbledb.IterOptions{LowerBound: lower, UpperBound: successor(lower)})
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", journal.ErrUnavailable, err)
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		if len(few) == limit {
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
