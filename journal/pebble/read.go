package pebble

// The Pebble journal's reads: a task's meta, its keys, the task list, a load, a range of
// entries, and which tasks retention has expired.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	pebbledb "github.com/cockroachdb/pebble/v2"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/record"
)

// Keys implements Journal.
func (p *Journal) Keys(taskID string, n int) ([]journal.Key, error) {
	if err := p.health.readErr(); err != nil {
		return nil, err
	}
	start, end := seqBounds('k', taskID)
	it, err := p.db.NewIter(&pebbledb.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", journal.ErrUnavailable, err)
	}
	defer it.Close()
	var keys []journal.Key
	for ok := it.Last(); ok && len(keys) < n; ok = it.Prev() {
		k, err := record.DecodeKey(it.Value(), chunkFirst(it.Key()))
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	slices.Reverse(keys)
	return keys, it.Error()
}

// Stat implements Journal.
func (p *Journal) Stat(taskID string) (journal.Meta, bool, error) {
	if err := p.health.readErr(); err != nil {
		return journal.Meta{}, false, err
	}
	v, closer, err := p.db.Get(metaKey(taskID))
	if errors.Is(err, pebbledb.ErrNotFound) {
		return journal.Meta{}, false, nil
	}
	if err != nil {
		return journal.Meta{}, false, fmt.Errorf("%w: %v", journal.ErrUnavailable, err)
	}
	defer closer.Close()
	meta, err := record.DecodeMeta(v)
	return meta, err == nil, err
}

// List implements Journal.
func (p *Journal) List(prefix string, fn func(string, journal.Meta) bool) error {
	if err := p.health.readErr(); err != nil {
		return err
	}
	lower := metaKey(prefix)
	it, err := p.db.NewIter(&pebbledb.IterOptions{LowerBound: lower, UpperBound: successor(lower)})
	if err != nil {
		return fmt.Errorf("%w: %v", journal.ErrUnavailable, err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		meta, err := record.DecodeMeta(it.Value())
		if err != nil {
			return err
		}
		if !fn(string(it.Key()[1:]), meta) {
			break
		}
	}
	return it.Error()
}

// successor is the least key greater than every key that starts with prefix.
func successor(prefix []byte) []byte {
	end := slices.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // no bound
}

// Load implements Journal.
func (p *Journal) Load(taskID string, window int) (journal.Meta, []journal.Entry, bool, error) {
	meta, found, err := p.Stat(taskID)
	if err != nil || !found || window <= 0 {
		return meta, nil, found, err
	}
	start, end := chunkBounds(taskID)
	it, err := p.db.NewIter(&pebbledb.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return journal.Meta{}, nil, false, err
	}
	defer it.Close()
	w := record.Newest{Size: window}
	for ok := it.Last(); ok && !w.Full(); ok = it.Prev() {
		if err := w.Add(it.Value(), chunkFirst(it.Key())); err != nil {
			return journal.Meta{}, nil, false, err
		}
	}
	return meta, w.Entries(), true, it.Error()
}

func chunkFirst(key []byte) uint64 { return binary.BigEndian.Uint64(key[len(key)-8:]) }

// Read implements Journal, a page at a time (see readPaged).
func (p *Journal) Read(taskID string, from uint64, fn func(journal.Entry) bool) error {
	if err := p.health.readErr(); err != nil {
		return err
	}
	start, end := chunkBounds(taskID)
	first := func() (uint64, error) {
		if from <= 1 {
			return 0, nil
		}
		// The chunk holding from is the last one that starts at or before it. (Seeking
		// backwards copies that chunk's value: one chunk, let go with the iterator.)
		it, err := p.db.NewIter(&pebbledb.IterOptions{LowerBound: start, UpperBound: end})
		if err != nil {
			return 0, err
		}
		defer it.Close()
		if !it.SeekLT(chunkKey(taskID, from+1)) {
			return 0, it.Error()
		}
		return chunkFirst(it.Key()), nil
	}
	page := func(at uint64) ([]record.Chunk, error) {
		it, err := p.db.NewIter(&pebbledb.IterOptions{LowerBound: chunkKey(taskID, at), UpperBound: end})
		if err != nil {
			return nil, err
		}
		defer it.Close()
		var chunks []record.Chunk
		size := 0
		for ok := it.First(); ok && size < record.ReadPageBytes; ok = it.Next() {
			chunks = append(chunks, record.Chunk{First: chunkFirst(it.Key()), Data: slices.Clone(it.Value())})
			size += len(it.Value())
		}
		return chunks, it.Error()
	}
	return record.ReadPaged(from, first, page, fn)
}

// Expired implements Journal.
func (p *Journal) Expired(now time.Time, r journal.Retention, fn func(taskID string) bool) error {
	return p.List("", func(id string, m journal.Meta) bool { return !m.Expired(now, r) || fn(id) })
}
