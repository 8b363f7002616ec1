package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Pebble is the embedded journal: one Pebble database in one directory. Keys:
//
//	'm' task_id              → the task's meta
//	'c' task_id 0x00 seq(8)  → a chunk of entries from seq on, one per task per commit
//
// A task_id holds none of 0x00 and 0x01, so each task's chunks sort together, oldest first.
type Pebble struct {
	db           *pebble.DB
	maxTaskBytes int64
	health       *pebbleHealth
}

// PebbleOptions configure a Pebble journal; zero fields mean defaults.
type PebbleOptions struct {
	// Logger receives Pebble's log lines: routine ones at Debug (default: discard).
	Logger *slog.Logger
	// MaxTaskBytes caps what one task's entries take on disk; past it the oldest chunks
	// are dropped until the task is under three quarters of it (0: no cap).
	MaxTaskBytes int64
	// BallastBytes is the size of the emergency ballast file kept in the directory and
	// removed when the disk is full (0: DefaultBallastBytes; negative: none).
	BallastBytes int64
	// AcceptLoss opens a journal whose write-ahead log is damaged (acknowledged writes
	// after the damage are lost): every task starts a new epoch. Without it such a
	// journal is refused.
	AcceptLoss bool
	// FS is the file system (default: the operating system's); tests inject faults.
	FS vfs.FS
}

// OpenPebble opens (creating if needed) the journal in dir, which is made 0700. A
// write-ahead log that ends before its last record (damaged or truncated) is refused
// unless opts.AcceptLoss is set (docs/design.md, "Durability").
func OpenPebble(dir string, opts PebbleOptions) (*Pebble, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	switch {
	case opts.BallastBytes == 0:
		opts.BallastBytes = DefaultBallastBytes
	case opts.BallastBytes < 0:
		opts.BallastBytes = 0
	}
	if err := makeDir(opts.FS, dir, opts.Logger); err != nil {
		return nil, err
	}
	damage, err := checkWALs(opts.FS, dir)
	if err != nil {
		return nil, fmt.Errorf("open journal %s: check write-ahead log: %w", dir, err)
	}
	for _, d := range damage {
		opts.Logger.Error("journal: write-ahead log damaged: acknowledged messages after this point are lost",
			slog.String("component", "journal"), slog.String("file", d.file), slog.Int64("offset", d.offset),
			slog.Int64("size", d.size), slog.String("error", d.err.Error()), slog.Bool("accepted", opts.AcceptLoss))
	}
	if len(damage) > 0 && !opts.AcceptLoss {
		d := damage[0]
		return nil, fmt.Errorf("open journal %s: write-ahead log %s is damaged at offset %d of %d (%v): acknowledged messages after it are lost; "+
			"keep a copy of the directory, then start with --accept-journal-loss to open it without them (every task starts a new epoch)",
			dir, d.file, d.offset, d.size, d.err)
	}
	if err := cutDamaged(opts.FS, damage); err != nil {
		return nil, fmt.Errorf("open journal %s: %w", dir, err)
	}
	h := &pebbleHealth{fs: opts.FS, dir: dir, logger: opts.Logger, ballast: opts.BallastBytes}
	h.mu.Lock()
	if err := h.makeBallast(); err != nil {
		if !isNoSpace(err) {
			h.mu.Unlock()
			return nil, fmt.Errorf("open journal %s: %w", dir, err)
		}
		h.mu.Unlock()
		h.diskFull(err)
	} else {
		h.mu.Unlock()
	}
	db, err := pebble.Open(dir, &pebble.Options{
		// On ENOSPC the ballast goes, and Pebble's write is tried once more.
		FS:            vfs.OnDiskFull(opts.FS, func() { h.diskFull(syscall.ENOSPC) }),
		Logger:        pebbleLogger{l: opts.Logger, health: h},
		EventListener: h.listener(),
		// Every chunk of the log then says how far the log was synced, so Pebble itself
		// tells damage in the middle of a log from a torn last write.
		FormatMajorVersion: pebble.FormatWALSyncChunks,
	})
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", dir, err)
	}
	p := &Pebble{db: db, maxTaskBytes: opts.MaxTaskBytes, health: h}
	if len(damage) > 0 {
		if err := p.newEpochs(); err != nil {
			db.Close()
			return nil, fmt.Errorf("open journal %s: %w", dir, err)
		}
	}
	return p, nil
}

func metaKey(taskID string) []byte { return append([]byte{'m'}, taskID...) }

func chunkKey(taskID string, first uint64) []byte {
	k := make([]byte, 0, len(taskID)+10)
	k = append(append(append(k, 'c'), taskID...), 0)
	return binary.BigEndian.AppendUint64(k, first)
}

// chunkBounds are the bounds of a task's chunk keys, end exclusive.
func chunkBounds(taskID string) (start, end []byte) {
	start = append(append([]byte{'c'}, taskID...), 0)
	end = append(append([]byte{'c'}, taskID...), 1)
	return start, end
}

// Commit implements Journal: one batch, synced.
func (p *Pebble) Commit(appends []Append) error {
	b := p.db.NewBatch()
	defer b.Close()
	var buf []byte
	for i := range appends {
		a := &appends[i]
		if a.Reset {
			start, end := chunkBounds(a.TaskID)
			if err := b.DeleteRange(start, end, nil); err != nil {
				return err
			}
			a.Meta.Bytes, a.Meta.FirstSeq = 0, 0
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
			if p.maxTaskBytes > 0 && a.Meta.Bytes > p.maxTaskBytes {
				if err := p.trim(b, a); err != nil {
					return err
				}
			}
		}
		buf = appendMeta(buf[:0], a.Meta)
		if err := b.Set(metaKey(a.TaskID), buf, nil); err != nil {
			return err
		}
	}
	return p.commitSynced(b, false)
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
	start, end := chunkBounds(taskID)
	if err := b.DeleteRange(start, end, nil); err != nil {
		return err
	}
	if err := b.Delete(metaKey(taskID), nil); err != nil {
		return err
	}
	return p.commitSynced(b, true)
}

// Sweep implements Journal: it reads every task's meta and deletes the expired tasks in
// one batch.
func (p *Pebble) Sweep(now time.Time, r Retention) (int, error) {
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'m'}, UpperBound: []byte{'n'}})
	if err != nil {
		return 0, err
	}
	var expired []string
	for ok := it.First(); ok; ok = it.Next() {
		meta, err := decodeMeta(it.Value())
		if err != nil {
			it.Close()
			return 0, fmt.Errorf("task %s: %w", it.Key()[1:], err)
		}
		if meta.Expired(now, r) {
			expired = append(expired, string(it.Key()[1:]))
		}
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	if len(expired) == 0 {
		return 0, nil
	}
	b := p.db.NewBatch()
	defer b.Close()
	for _, id := range expired {
		start, end := chunkBounds(id)
		if err := b.DeleteRange(start, end, nil); err != nil {
			return 0, err
		}
		if err := b.Delete(metaKey(id), nil); err != nil {
			return 0, err
		}
	}
	if err := p.commitSynced(b, true); err != nil {
		return 0, err
	}
	return len(expired), nil
}

// Close implements Journal. A healthy journal flushes first, so that a journal stopped
// cleanly keeps nothing in its write-ahead log alone. After a fatal error Pebble's commit
// pipeline may be stuck, and the database is left to the process's end.
func (p *Pebble) Close() error {
	if err := p.health.err(false); err != nil {
		if p.health.fatals() > 0 {
			return fmt.Errorf("journal not closed: %w", err)
		}
		return p.db.Close()
	}
	if err := p.db.Flush(); err != nil {
		p.health.logger.Warn("journal: flush before close failed; the write-ahead log keeps the rest",
			slog.String("component", "journal"), slog.Any("error", err))
	}
	return p.db.Close()
}

// pebbleLogger carries Pebble's log lines to the service's: its routine lines at Debug.
type pebbleLogger struct {
	l      *slog.Logger
	health *pebbleHealth
}

func (l pebbleLogger) Infof(format string, args ...any) {
	l.l.Debug(fmt.Sprintf(format, args...), slog.String("component", "journal"))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.l.Error(fmt.Sprintf(format, args...), slog.String("component", "journal"))
}

// Fatalf is Pebble's word that the database cannot go on (a failed WAL or MANIFEST write,
// corruption). The process lives: the journal refuses writes from now on and says why
// (pebble_health.go). Pebble carries on after Fatalf returns, so commitSynced checks for
// one around every commit.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.health.fatal(fmt.Sprintf(format, args...))
}
