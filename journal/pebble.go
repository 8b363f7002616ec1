package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Pebble is the embedded journal: one Pebble database in one directory. Keys:
//
//	'm' task_id              → the task's meta
//	'c' task_id 0x00 seq(8)  → a chunk of entries from seq on, one per task per commit
//	'k' task_id 0x00 seq(8)  → the idempotency key of the publish that ended at seq
//
// A task_id holds none of 0x00 and 0x01, so each task's chunks and keys sort together,
// oldest first.
type Pebble struct {
	db           *pebble.DB
	maxTaskBytes int64
	keyWindow    int
}

// PebbleOptions configure a Pebble journal; zero fields mean defaults.
type PebbleOptions struct {
	// Logger receives Pebble's log lines: routine ones at Debug (default: discard).
	Logger *slog.Logger
	// MaxTaskBytes caps what one task's entries take on disk; past it the oldest chunks
	// are dropped until the task is under three quarters of it (0: no cap).
	MaxTaskBytes int64
	// KeyWindow is how many idempotency keys it keeps per task (default DefaultKeyWindow).
	KeyWindow int
}

// OpenPebble opens (creating if needed) the journal in dir, which is made 0700.
func OpenPebble(dir string, opts PebbleOptions) (*Pebble, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal directory: %w", err)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{opts.Logger}})
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", dir, err)
	}
	if opts.KeyWindow <= 0 {
		opts.KeyWindow = DefaultKeyWindow
	}
	return &Pebble{db: db, maxTaskBytes: opts.MaxTaskBytes, keyWindow: opts.KeyWindow}, nil
}

func metaKey(taskID string) []byte { return append([]byte{'m'}, taskID...) }

func chunkKey(taskID string, first uint64) []byte { return seqKey('c', taskID, first) }

func keyKey(taskID string, last uint64) []byte { return seqKey('k', taskID, last) }

func seqKey(kind byte, taskID string, seq uint64) []byte {
	k := make([]byte, 0, len(taskID)+10)
	k = append(append(append(k, kind), taskID...), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// chunkBounds are the bounds of a task's chunk keys, end exclusive.
func chunkBounds(taskID string) (start, end []byte) { return seqBounds('c', taskID) }

// seqBounds are the bounds of a task's records of kind, end exclusive.
func seqBounds(kind byte, taskID string) (start, end []byte) {
	start = append(append([]byte{kind}, taskID...), 0)
	end = append(append([]byte{kind}, taskID...), 1)
	return start, end
}

// Commit implements Journal: one batch, synced. Each append is admitted against the
// task's meta as stored, or as an earlier append of the same commit left it.
func (p *Pebble) Commit(appends []Append) error {
	b := p.db.NewBatch()
	defer b.Close()
	var buf []byte
	written := map[string]Meta{}
	for i := range appends {
		a := &appends[i]
		stored, found := written[a.TaskID]
		if !found {
			var err error
			if stored, found, err = p.Stat(a.TaskID); err != nil {
				return err
			}
		}
		switch a.Admit(stored, found) {
		case Refuse:
			a.Fenced = true
			continue
		case Skip:
			continue
		}
		a.Meta.Bytes, a.Meta.FirstSeq, a.Meta.Keys = stored.Bytes, stored.FirstSeq, stored.Keys // the journal keeps them
		if a.Reset {
			for _, kind := range []byte{'c', 'k'} {
				start, end := seqBounds(kind, a.TaskID)
				if err := b.DeleteRange(start, end, nil); err != nil {
					return err
				}
			}
			a.Meta.Bytes, a.Meta.FirstSeq, a.Meta.Keys = 0, 0, 0
		}
		if err := p.putKeys(b, a); err != nil {
			return err
		}
		if len(a.Entries) > 0 {
			buf = appendChunk(buf[:0], a.Entries)
			if err := b.Set(chunkKey(a.TaskID, a.Entries[0].Seq), buf, nil); err != nil {
				return err
			}
			a.Meta.Bytes += int64(len(buf))
			if a.Meta.FirstSeq == 0 {
				a.Meta.FirstSeq = a.Entries[0].Seq
			}
			if p.maxTaskBytes > 0 && a.Meta.Bytes > p.maxTaskBytes && !a.Reset { // after a reset the new chunk is all
				if err := p.trim(b, a); err != nil {
					return err
				}
			}
		}
		buf = appendMeta(buf[:0], a.Meta)
		if err := b.Set(metaKey(a.TaskID), buf, nil); err != nil {
			return err
		}
		written[a.TaskID] = a.Meta
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// putKeys adds to b the records of a's idempotency keys, and the deletes of the task's
// oldest ones past the key window.
func (p *Pebble) putKeys(b *pebble.Batch, a *Append) error {
	var buf []byte
	for _, k := range a.Keys {
		if err := b.Set(keyKey(a.TaskID, k.Last), appendKey(buf[:0], k), nil); err != nil {
			return err
		}
	}
	a.Meta.Keys += len(a.Keys)
	if a.Meta.Keys <= p.keyWindow || len(a.Keys) == 0 {
		return nil
	}
	start, end := seqBounds('k', a.TaskID)
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok && a.Meta.Keys > p.keyWindow; ok = it.Next() {
		if err := b.Delete(it.Key(), nil); err != nil {
			return err
		}
		a.Meta.Keys--
	}
	return it.Error()
}

// Keys implements Journal.
func (p *Pebble) Keys(taskID string, n int) ([]Key, error) {
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

// trim adds to b the deletes of a's task's oldest stored chunks until the task is under
// three quarters of its cap, and moves a.Meta.FirstSeq past them. The chunk a writes is
// the newest and stays.
func (p *Pebble) trim(b *pebble.Batch, a *Append) error {
	start, end := chunkBounds(a.TaskID)
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok && a.Meta.Bytes > p.maxTaskBytes*3/4; ok = it.Next() {
		n, err := chunkLen(it.Value())
		if err != nil {
			return err
		}
		if err := b.Delete(it.Key(), nil); err != nil {
			return err
		}
		a.Meta.Bytes -= int64(len(it.Value()))
		a.Meta.FirstSeq = chunkFirst(it.Key()) + n
	}
	return it.Error()
}

// Stat implements Journal.
func (p *Pebble) Stat(taskID string) (Meta, bool, error) {
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

// Read implements Journal.
func (p *Pebble) Read(taskID string, from uint64, fn func(Entry) bool) error {
	start, end := chunkBounds(taskID)
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return err
	}
	defer it.Close()
	// The chunk holding from is the last one that starts at or before it.
	ok := it.SeekLT(chunkKey(taskID, from+1))
	if !ok {
		ok = it.First()
	}
	for more := true; ok && more; ok = it.Next() {
		if more, err = readChunk(it.Value(), chunkFirst(it.Key()), from, fn); err != nil {
			return err
		}
	}
	return it.Error()
}

// Delete implements Journal.
func (p *Pebble) Delete(taskID string) error {
	b := p.db.NewBatch()
	defer b.Close()
	if err := p.deleteTask(b, taskID); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// deleteTask adds to b the deletes of every key of a task.
func (p *Pebble) deleteTask(b *pebble.Batch, taskID string) error {
	for _, kind := range []byte{'c', 'k'} {
		start, end := seqBounds(kind, taskID)
		if err := b.DeleteRange(start, end, nil); err != nil {
			return err
		}
	}
	return b.Delete(metaKey(taskID), nil)
}

// Expired implements Journal.
func (p *Pebble) Expired(now time.Time, r Retention, fn func(taskID string) bool) error {
	return p.List("", func(id string, m Meta) bool { return !m.Expired(now, r) || fn(id) })
}

// DeleteExpired implements Journal: each task's meta is read again and the expired ones
// are deleted in one batch.
func (p *Pebble) DeleteExpired(taskIDs []string, now time.Time, r Retention) (int, error) {
	b := p.db.NewBatch()
	defer b.Close()
	n := 0
	for _, id := range taskIDs {
		meta, found, err := p.Stat(id)
		if err != nil {
			return 0, err
		}
		if !found || !meta.Expired(now, r) {
			continue
		}
		if err := p.deleteTask(b, id); err != nil {
			return 0, err
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return n, nil
}

// Close implements Journal.
func (p *Pebble) Close() error { return p.db.Close() }

// pebbleLogger carries Pebble's log lines to the service's: its routine lines at Debug.
type pebbleLogger struct{ l *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.l.Debug(fmt.Sprintf(format, args...), slog.String("component", "journal"))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.l.Error(fmt.Sprintf(format, args...), slog.String("component", "journal"))
}

// Fatalf is Pebble's word that the database cannot go on (corruption): the process exits,
// and the line says why.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.l.Error("journal failed: "+fmt.Sprintf(format, args...), slog.String("component", "journal"))
	os.Exit(1)
}
