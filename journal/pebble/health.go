package pebble

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	pebbledb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tasktail/tasktail/journal"
)

// What Pebble does when its disk fails (pebble v2.1.7, read from its source):
//
//   - A failed WAL write or sync reaches DB.Apply, which calls Logger.Fatalf("pebble: fatal
//     commit error") and, if Fatalf returns, returns nil: the batch is in the memtable and
//     visible, but not durable. The error is sticky in the log writer, and the next write
//     into a new block panics inside the commit pipeline with its mutex held, so no later
//     commit, nor Close, can go through. The database cannot go on in this process.
//   - A failed flush (an sstable that cannot be written) is a background error: it is
//     retried, memtables pile up, and past MemTableStopWritesThreshold every commit waits
//     in a write stall until a flush succeeds. A failed MANIFEST write calls Fatalf.
//
// So the journal never lets Fatalf exit the process: after one, writes and reads answer
// ErrUnavailable without touching Pebble (its memtable may hold a batch the log lost), and
// readiness fails until the process is restarted. On a full disk it releases its ballast, so that the retried flush
// (and, after a restart, the open) has room, and refuses publishes until space is back.

// DefaultBallastBytes is the size of the emergency ballast file unless told otherwise.
const DefaultBallastBytes = 64 << 20

// ballastName is the ballast's file name in the journal's directory; Pebble ignores it.
const ballastName = "EMERGENCY_BALLAST"

// pebbleHealth is what the Pebble journal knows of its disk. Its methods are safe for
// concurrent use: Pebble calls its listeners from its own goroutines.
type pebbleHealth struct {
	fs      vfs.FS
	dir     string
	logger  *slog.Logger
	ballast int64 // bytes; 0: none

	mu sync.Mutex
	// failed: Pebble reported a fatal error (a WAL or MANIFEST write): writes are refused
	// until the process restarts.
	failed error
	// full: the disk was full; publishes are refused until free space is back.
	full      bool
	stalled   bool // Pebble's write stall is on: a commit would wait
	checked   time.Time
	fatalSeen uint64 // fatal errors so far, to tell one during a commit
}

// spaceCheckInterval bounds how often a full journal asks the file system for free space.
const spaceCheckInterval = time.Second

// Healthy implements HealthChecker.
func (p *Journal) Healthy() error { return p.health.err(false) }

// err is why a write cannot go to Pebble now, or nil; freeing is true for a write that
// only deletes (a delete, a retention sweep), which may go on while the disk is full.
// fullOnly reports whether the journal refuses writes because its disk is full, and for
// nothing worse.
func (h *pebbleHealth) fullOnly() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.full && h.failed == nil
}

// readErr is a read's answer once the journal has failed: Pebble's memtable may then hold
// a batch whose write-ahead log write failed, which a read must not hand out as stored
// (a restart would lose it and give its seqs again).
func (h *pebbleHealth) readErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != nil {
		return fmt.Errorf("%w: %v (restart the server once the disk is fixed)", journal.ErrUnavailable, h.failed)
	}
	return nil
}

func (h *pebbleHealth) err(freeing bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != nil {
		return fmt.Errorf("%w: %v (restart the server once the disk is fixed)", journal.ErrUnavailable, h.failed)
	}
	if h.full && time.Since(h.checked) >= spaceCheckInterval {
		h.checked = time.Now()
		h.checkSpaceLocked()
	}
	// A delete may go on while the disk is full (it frees space once flushed), unless
	// Pebble's write stall would hold it, and with it every request behind it.
	if h.full && (!freeing || h.stalled) {
		return fmt.Errorf("%w: disk full in %s", journal.ErrUnavailable, h.dir)
	}
	return nil
}

// checkSpaceLocked leaves the full state once the disk has spaceNeeded free, and makes
// the ballast again.
func (h *pebbleHealth) checkSpaceLocked() {
	u, err := h.fs.GetDiskUsage(h.dir)
	if err != nil || int64(u.AvailBytes) < h.spaceNeeded() {
		return
	}
	if err := h.makeBallast(); err != nil {
		return
	}
	h.full = false
	h.logger.Info("journal: disk space is back; publishes are stored again",
		slog.String("dir", h.dir), slog.Uint64("available_bytes", u.AvailBytes))
}

// minFreeBytes is the headroom a journal waits for after a full disk, beside its ballast.
const minFreeBytes = 16 << 20

// spaceNeeded is the free space after which a journal that met a full disk makes its
// ballast again and takes writes: the ballast and half as much again (at least
// minFreeBytes), so that the next writes do not fill the disk at once.
func (h *pebbleHealth) spaceNeeded() int64 { return h.ballast + max(h.ballast/2, minFreeBytes) }

// diskFull enters the full state: it removes the ballast, so that deletes, retention and
// Pebble's own flushes have room, and says so once.
func (h *pebbleHealth) diskFull(cause error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.full {
		return
	}
	h.full, h.checked = true, time.Now()
	released := h.removeBallast()
	h.logger.Error("journal: disk full: publishes answer 503 journal_unavailable until free space is back; delete tasks, lower --retention or add space",
		slog.String("component", "journal"), slog.String("dir", h.dir),
		slog.Int64("ballast_released_bytes", released), slog.Int64("space_needed_bytes", h.spaceNeeded()),
		slog.String("cause", cause.Error()))
}

// fatal records Pebble's word that it cannot go on.
func (h *pebbleHealth) fatal(msg string) {
	h.mu.Lock()
	first := h.failed == nil
	if first {
		h.failed = errors.New(msg)
	}
	h.fatalSeen++
	released := h.removeBallast()
	h.mu.Unlock()
	if first {
		h.logger.Error("journal failed: writes and reads of the journal answer 503 journal_unavailable and readiness fails until the server is restarted: "+msg,
			slog.String("component", "journal"), slog.String("dir", h.dir), slog.Int64("ballast_released_bytes", released))
	}
}

func (h *pebbleHealth) fatals() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fatalSeen
}

// listener carries Pebble's events that concern the disk to h.
func (h *pebbleHealth) listener() *pebbledb.EventListener {
	l := &pebbledb.EventListener{
		BackgroundError: func(err error) {
			if isNoSpace(err) {
				h.diskFull(err)
			}
		},
		FlushEnd: func(info pebbledb.FlushInfo) {
			if info.Err != nil && isNoSpace(info.Err) {
				h.diskFull(info.Err)
			}
		},
		WriteStallBegin: func(pebbledb.WriteStallBeginInfo) { h.setStalled(true) },
		WriteStallEnd:   func() { h.setStalled(false) },
		// A damaged sstable found while reading: one line, without Pebble's default Fatalf.
		DataCorruption: func(info pebbledb.DataCorruptionInfo) {
			h.logger.Error("journal: damaged file", slog.String("component", "journal"),
				slog.String("path", info.Path), slog.String("error", fmt.Sprint(info.Details)))
		},
	}
	return l
}

func (h *pebbleHealth) setStalled(on bool) {
	h.mu.Lock()
	h.stalled = on
	h.mu.Unlock()
}

// isNoSpace reports whether err is a full disk (or quota).
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// makeBallast creates the ballast file if it is missing or short: h.ballast bytes,
// written out so that the space is really taken.
func (h *pebbleHealth) makeBallast() error {
	if h.ballast <= 0 {
		return nil
	}
	path := h.fs.PathJoin(h.dir, ballastName)
	if fi, err := h.fs.Stat(path); err == nil && fi.Size() >= h.ballast {
		return nil
	}
	f, err := h.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	// fallocate reserves the blocks without writing them; a file system without it (or a
	// test's) gets zeros written.
	if fd := f.Fd(); fd == vfs.InvalidFd || syscall.Fallocate(int(fd), 0, 0, h.ballast) != nil {
		zeros := make([]byte, 1<<20)
		for n := int64(0); n < h.ballast && err == nil; n += int64(len(zeros)) {
			_, err = f.Write(zeros[:min(int64(len(zeros)), h.ballast-n)])
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = h.fs.Remove(path) // a short ballast is worse than none: it frees less than said
		return fmt.Errorf("emergency ballast: %w", err)
	}
	return nil
}

// removeBallast removes the ballast and returns how many bytes it took.
func (h *pebbleHealth) removeBallast() int64 {
	path := h.fs.PathJoin(h.dir, ballastName)
	fi, err := h.fs.Stat(path)
	if err != nil {
		return 0
	}
	if err := h.fs.Remove(path); err != nil {
		return 0
	}
	return fi.Size()
}

// commitSynced commits b under the journal's sync setting: synced before it returns, or,
// with Options.SyncInterval, written and synced by the next tick (sync.go).
func (p *Journal) commitSynced(b *pebbledb.Batch, freeing bool) error {
	if p.syncer == nil {
		return p.commitWith(b, freeing, pebbledb.Sync)
	}
	if err := p.commitWith(b, freeing, pebbledb.NoSync); err != nil {
		return err
	}
	p.syncer.written.Store(true)
	return nil
}

// commitWith commits b with opts. It answers ErrUnavailable, without touching Pebble,
// while the journal cannot write (freeing: b only deletes), and when the commit fails:
// Pebble's error, a Fatalf during the commit (after which Pebble returns nil), or its
// panic on a WAL that failed before.
func (p *Journal) commitWith(b *pebbledb.Batch, freeing bool, opts *pebbledb.WriteOptions) (err error) {
	if err := p.health.err(freeing); err != nil {
		return err
	}
	before := p.health.fatals()
	defer func() {
		if r := recover(); r != nil {
			p.health.fatal(fmt.Sprintf("pebble: commit panicked: %v", r))
			err = fmt.Errorf("%w: %v", journal.ErrUnavailable, r)
		}
	}()
	if err := b.Commit(opts); err != nil {
		if isNoSpace(err) {
			p.health.diskFull(err)
		}
		return fmt.Errorf("%w: %v", journal.ErrUnavailable, err)
	}
	if p.health.fatals() != before {
		return p.health.err(freeing)
	}
	return nil
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
// (health.go). Pebble carries on after Fatalf returns, so commitSynced checks for
// one around every commit.
func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.health.fatal(fmt.Sprintf(format, args...))
}
