// Package pebble is the embedded journal: one Pebble database in a directory on the
// server's own disk, with its write-ahead log checked on open, a disk-full ballast and a
// sync setting (docs/design.md, "Durability").
package pebble

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"time"

	pebbledb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/record"
)

// Journal is the embedded journal: one Pebble database in one directory. Keys:
//
//	'm' task_id              → the task's meta
//	'c' task_id 0x00 seq(8)  → a chunk of entries from seq on, one per task per commit
//	'k' task_id 0x00 seq(8)  → the idempotency key of the publish that ended at seq
//	'a' ^active(8) task_id   → the task's place in the activity order, its state as value
//	                           (activity.go)
//	"\x00activity-order"     → the mark of a journal whose every task has its 'a' key
//
// A task_id holds none of 0x00 and 0x01, so each task's chunks and keys sort together,
// oldest first.
type Journal struct {
	db           *pebbledb.DB
	maxTaskBytes int64
	keyWindow    int
	health       *pebbleHealth
	syncer       *pebbleSyncer // nil: every commit is synced before it returns
	metas        metaCache
	order        activityOrder
}

// Options configure a Pebble journal; zero fields mean defaults.
type Options struct {
	// Logger receives Pebble's log lines: routine ones at Debug (default: discard).
	Logger *slog.Logger
	// MaxTaskBytes caps what one task's entries take on disk; past it the oldest chunks
	// are dropped until the task is under three quarters of it (0: no cap).
	MaxTaskBytes int64
	// KeyWindow is how many idempotency keys it keeps per task (default DefaultKeyWindow).
	KeyWindow int
	// BallastBytes is the size of the emergency ballast file kept in the directory and
	// removed when the disk is full (0: DefaultBallastBytes; negative: none).
	BallastBytes int64
	// AcceptLoss opens a journal whose write-ahead log is damaged (acknowledged writes
	// after the damage are lost): every task starts a new epoch. Without it such a
	// journal is refused.
	AcceptLoss bool
	// FS is the file system (default: the operating system's); tests inject faults.
	FS vfs.FS
	// SyncInterval, when positive, acknowledges a commit once it is written, and syncs
	// the write-ahead log every SyncInterval (as Redis's appendfsync everysec and
	// JetStream's sync_interval do): a crash of the machine, or of the process, may lose
	// what was acknowledged in the last interval. Zero (the default) syncs every commit
	// before it is acknowledged.
	SyncInterval time.Duration
}

// Open opens (creating if needed) the journal in dir, which is made 0700. A
// write-ahead log that ends before its last record (damaged or truncated) is refused
// unless opts.AcceptLoss is set (docs/design.md, "Durability").
func Open(dir string, opts Options) (*Journal, error) {
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
	// New epochs owed already (a run with a sync interval that ended uncleanly, or a loss
	// accepted before): the log's unsynced tail is what that run may lose, and every task
	// starts a new epoch anyway, so its damage is cut without asking.
	pending := opts.FS.PathJoin(dir, newEpochsPending)
	_, err = opts.FS.Stat(pending)
	accept := opts.AcceptLoss || err == nil
	for _, d := range damage {
		opts.Logger.Error("journal: write-ahead log damaged: acknowledged messages after this point are lost",
			slog.String("component", "journal"), slog.String("file", d.file), slog.Int64("offset", d.offset),
			slog.Int64("size", d.size), slog.String("error", d.err.Error()), slog.Bool("accepted", accept))
	}
	if len(damage) > 0 && !accept {
		d := damage[0]
		return nil, fmt.Errorf("open journal %s: write-ahead log %s is damaged at offset %d of %d (%v): acknowledged messages after it are lost; "+
			"keep a copy of the directory, then start with --accept-journal-loss to open it without them (every task starts a new epoch)",
			dir, d.file, d.offset, d.size, d.err)
	}
	// The new epochs are owed from the moment the log is cut until they are stored: a
	// marker says so, so that a start that dies in between gives them on the next open.
	if len(damage) > 0 {
		if err := touchSynced(opts.FS, pending); err != nil {
			return nil, fmt.Errorf("open journal %s: %w", dir, err)
		}
	}
	if err := cutDamaged(opts.FS, damage); err != nil {
		return nil, fmt.Errorf("open journal %s: %w", dir, err)
	}
	_, err = opts.FS.Stat(pending)
	owed := err == nil
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
	dbOpts := &pebbledb.Options{
		// On ENOSPC the ballast goes, and Pebble's write is tried once more.
		FS:            vfs.OnDiskFull(opts.FS, func() { h.diskFull(syscall.ENOSPC) }),
		Logger:        pebbleLogger{l: opts.Logger, health: h},
		EventListener: h.listener(),
		// Every chunk of the log then says how far the log was synced, so Pebble itself
		// tells damage in the middle of a log from a torn last write.
		FormatMajorVersion: pebbledb.FormatWALSyncChunks,
	}
	dbOpts.Experimental.CompactionScheduler = newCompactionScheduler() // no 100 ms tick when idle
	db, err := pebbledb.Open(dir, dbOpts)
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", dir, err)
	}
	if opts.KeyWindow <= 0 {
		opts.KeyWindow = journal.DefaultKeyWindow
	}
	p := &Journal{db: db, maxTaskBytes: opts.MaxTaskBytes, keyWindow: opts.KeyWindow, health: h, metas: metaCache{}, order: activityOrder{owed: map[string]placed{}}}

	if err := p.indexActivity(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open journal %s: activity order: %w", dir, err)
	}
	if owed {
		if err := p.newEpochs(); err != nil {
			db.Close()
			return nil, fmt.Errorf("open journal %s: %w", dir, err)
		}
		if err := opts.FS.Remove(pending); err != nil {
			db.Close()
			return nil, fmt.Errorf("open journal %s: %w", dir, err)
		}
	}
	if opts.SyncInterval > 0 {
		// A crash in this mode may take back acknowledged writes, and with them seqs
		// viewers saw: until a clean close, the next open owes every task a new epoch.
		if err := touchSynced(opts.FS, pending); err != nil {
			db.Close()
			return nil, fmt.Errorf("open journal %s: %w", dir, err)
		}
		p.startSyncer(opts.SyncInterval, opts.FS, pending)
	}
	return p, nil
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
func (p *Journal) Commit(appends []journal.Append) error {
	p.order.mu.Lock()
	defer p.order.mu.Unlock()
	b := p.db.NewBatch()
	defer b.Close()
	var buf []byte
	written := map[string]journal.Meta{}
	moves := map[string]placed{}
	for i := range appends {
		a := &appends[i]
		stored, found := written[a.TaskID]
		if !found {
			var err error
			if stored, found, err = p.stat(a.TaskID); err != nil {
				return err
			}
		}
		switch a.Admit(stored, found) {
		case journal.Refuse:
			a.Fenced = true
			continue
		case journal.Skip:
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
			var err error
			buf, err = record.PutChunks(buf, a.Entries, func(first uint64, _ int, data []byte) error {
				a.Meta.Bytes += int64(len(data))
				return b.Set(chunkKey(a.TaskID, first), data, nil) // Set copies
			})
			if err != nil {
				return err
			}
			if a.Meta.FirstSeq == 0 {
				a.Meta.FirstSeq = a.Entries[0].Seq
			}
			if p.maxTaskBytes > 0 && a.Meta.Bytes > p.maxTaskBytes && !a.Reset { // after a reset the new chunk is all
				if err := p.trim(b, a); err != nil {
					return err
				}
			}
		}
		buf = record.AppendMeta(buf[:0], a.Meta)
		if err := b.Set(metaKey(a.TaskID), buf, nil); err != nil {
			return err
		}
		p.order.note(moves, a.TaskID, stored, found, a.Meta)
		written[a.TaskID] = a.Meta
	}
	err := p.commitMoves(b, moves, false)
	for id, m := range written {
		if err != nil {
			delete(p.metas, id) // stored or not: the database says
		} else {
			p.metas.put(id, m)
		}
	}
	return err
}

// putKeys adds to b the records of a's idempotency keys, and the deletes of the task's
// oldest ones past the key window.
func (p *Journal) putKeys(b *pebbledb.Batch, a *journal.Append) error {
	var buf []byte
	for _, k := range a.Keys {
		if err := b.Set(keyKey(a.TaskID, k.Last), record.AppendKey(buf[:0], k), nil); err != nil {
			return err
		}
	}
	a.Meta.Keys += len(a.Keys)
	if a.Meta.Keys <= p.keyWindow || len(a.Keys) == 0 {
		return nil
	}
	start, end := seqBounds('k', a.TaskID)
	it, err := p.db.NewIter(&pebbledb.IterOptions{LowerBound: start, UpperBound: end})
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

// trim adds to b the deletes of a's task's oldest stored chunks until the task is under
// three quarters of its cap, and moves a.Meta.FirstSeq past them. The chunks a writes are
// the newest and stay.
func (p *Journal) trim(b *pebbledb.Batch, a *journal.Append) error {
	start, end := chunkBounds(a.TaskID)
	it, err := p.db.NewIter(&pebbledb.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok && a.Meta.Bytes > p.maxTaskBytes*3/4; ok = it.Next() {
		n, err := record.ChunkLen(it.Value())
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

// Close implements Journal. A healthy journal flushes first, so that a journal stopped
// cleanly keeps nothing in its write-ahead log alone. After a fatal error Pebble's commit
// pipeline may be stuck, and the database is left to the process's end.
func (p *Journal) Close() error {
	if p.health.err(false) == nil {
		p.order.mu.Lock()
		if err := p.putInOrder(); err != nil {
			p.health.logger.Warn("journal: writing the activity order before close failed; the next start rebuilds it",
				slog.String("component", "journal"), slog.Any("error", err))
		}
		p.order.mu.Unlock()
	}
	if err := p.stopSyncer(); err != nil {
		p.health.logger.Warn("journal: the last sync before close failed: the next start gives every task a new epoch",
			slog.String("component", "journal"), slog.Any("error", err))
	}
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
