package journal

// The Pebble journal's reads: a task's meta, its keys, the task list, a load, a range of
// entries, and which tasks retention has expired.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Keys implements Journal.
func (p *Pebble) Keys(taskID string, n int) ([]Key, error) {
	if err := p.health.readErr(); err != nil {
		return nil, err
	}
	start, end := seqBounds('k', taskID)
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer it.Close()
	var keys []Key
	for ok := it.Last(); ok && len(keys) < n; ok = it.Prev() {
		k, err := decodeKey(it.Value(), chunkFirst(it.Key()))
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	slices.Reverse(keys)
	return keys, it.Error()
}

// Stat implements Journal.
func (p *Pebble) Stat(taskID string) (Meta, bool, error) {
	if err := p.health.readErr(); err != nil {
		return Meta{}, false, err
	}
	v, closer, err := p.db.Get(metaKey(taskID))
	if errors.Is(err, pebble.ErrNotFound) {
		return Meta{}, false, nil
	}
	if err != nil {
		return Meta{}, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer closer.Close()
	meta, err := decodeMeta(v)
	return meta, err == nil, err
}

// List implements Journal.
func (p *Pebble) List(prefix string, fn func(string, Meta) bool) error {
	if err := p.health.readErr(); err != nil {
		return err
	}
	lower := metaKey(prefix)
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: successor(lower)})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		meta, err := decodeMeta(it.Value())
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
func (p *Pebble) Load(taskID string, window int) (Meta, []Entry, bool, error) {
	meta, found, err := p.Stat(taskID)
	if err != nil || !found || window <= 0 {
		return meta, nil, found, err
	}
	start, end := chunkBounds(taskID)
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return Meta{}, nil, false, err
	}
	defer it.Close()
	w := newest{size: window}
	for ok := it.Last(); ok && !w.full(); ok = it.Prev() {
		if err := w.add(it.Value(), chunkFirst(it.Key())); err != nil {
			return Meta{}, nil, false, err
		}
	}
	return meta, w.entries(), true, it.Error()
}

func chunkFirst(key []byte) uint64 { return binary.BigEndian.Uint64(key[len(key)-8:]) }

// Read implements Journal, a page at a time (see readPaged).
func (p *Pebble) Read(taskID string, from uint64, fn func(Entry) bool) error {
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
		it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
		if err != nil {
			return 0, err
		}
		defer it.Close()
		if !it.SeekLT(chunkKey(taskID, from+1)) {
			return 0, it.Error()
		}
		return chunkFirst(it.Key()), nil
	}
	page := func(at uint64) ([]storedChunk, error) {
		it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: chunkKey(taskID, at), UpperBound: end})
		if err != nil {
			return nil, err
		}
		defer it.Close()
		var chunks []storedChunk
		size := 0
		for ok := it.First(); ok && size < readPageBytes; ok = it.Next() {
			chunks = append(chunks, storedChunk{chunkFirst(it.Key()), slices.Clone(it.Value())})
			size += len(it.Value())
		}
		return chunks, it.Error()
	}
	return readPaged(from, first, page, fn)
}

// Expired implements Journal.
func (p *Pebble) Expired(now time.Time, r Retention, fn func(taskID string) bool) error {
	return p.List("", func(id string, m Meta) bool { return !m.Expired(now, r) || fn(id) })
}
