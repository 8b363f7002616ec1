package pebble_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/journaltest"
	"github.com/tasktail/tasktail/journal/pebble"
)

// lockedBuffer is a log destination tests read while the journal writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// crashImage copies the files of an open journal's directory, as a crash would leave
// them: every commit is synced, so the write-ahead log on disk has them all.
func crashImage(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// newestWAL is the path of the directory's newest write-ahead log.
func newestWAL(t *testing.T, dir string) string {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) == 0 {
		t.Fatalf("no write-ahead log in %s", dir)
	}
	return logs[len(logs)-1]
}

// walWithMessages commits 300 publishes of task t1 and returns a crash image of the
// journal, and the meta it had.
func walWithMessages(t *testing.T) (string, journal.Meta) {
	t.Helper()
	dir := t.TempDir()
	p := journaltest.OpenPebble(t, dir)
	meta := journal.Meta{Epoch: "e1"}
	for s := uint64(1); s <= 300; s++ {
		journaltest.Commit(t, p, "t1", s, s, &meta)
	}
	return crashImage(t, dir), meta
}

func TestPebbleRefusesDamagedWAL(t *testing.T) {
	damage := map[string]func(t *testing.T, wal string){
		"flipped bytes mid-log": func(t *testing.T, wal string) {
			if err := journaltest.DamageMidFile(wal); err != nil {
				t.Fatal(err)
			}
		},
		"newest log truncated": func(t *testing.T, wal string) {
			fi, err := os.Stat(wal)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(wal, fi.Size()/2+5); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, damage := range damage {
		t.Run(name, func(t *testing.T) {
			dir, before := walWithMessages(t)
			wal := newestWAL(t, dir)
			damage(t, wal)

			var logs lockedBuffer
			_, err := pebble.Open(dir, pebble.Options{Logger: newLogger(&logs), BallastBytes: -1})
			if err == nil {
				t.Fatal("a journal whose write-ahead log lost acknowledged writes opened without a word")
			}
			if !strings.Contains(err.Error(), "--accept-journal-loss") {
				t.Errorf("error does not say how to go on: %v", err)
			}
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("no ERROR line for the damaged log:\n%s", logs.String())
			}

			p, err := pebble.Open(dir, pebble.Options{AcceptLoss: true, BallastBytes: -1})
			if err != nil {
				t.Fatalf("open accepting the loss: %v", err)
			}
			defer p.Close()
			meta, found, err := p.Stat("t1")
			if err != nil || !found {
				t.Fatalf("stat t1: %v %v", found, err)
			}
			if meta.Epoch == before.Epoch {
				t.Errorf("task kept its epoch %q after losing part of its log", meta.Epoch)
			}
			if meta.LastSeq == 0 || meta.LastSeq >= before.LastSeq {
				t.Errorf("last seq %d after the loss, want between 1 and %d", meta.LastSeq, before.LastSeq-1)
			}
			var got []uint64
			if err := p.Read("t1", 1, func(e journal.Entry) bool { got = append(got, e.Seq); return true }); err != nil {
				t.Fatal(err)
			}
			if uint64(len(got)) != meta.LastSeq {
				t.Errorf("read %d entries, want the %d before the damage", len(got), meta.LastSeq)
			}
			if _, err := os.Stat(wal + ".damaged"); err != nil {
				t.Errorf("no copy of the damaged log: %v", err)
			}
		})
	}
}

func TestPebbleOpensACleanCrashImage(t *testing.T) {
	dir, before := walWithMessages(t)
	p, err := pebble.Open(dir, pebble.Options{BallastBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	meta, _, err := p.Stat("t1")
	if err != nil || meta.Epoch != before.Epoch || meta.LastSeq != before.LastSeq {
		t.Fatalf("meta %+v (%v), want epoch %s last seq %d", meta, err, before.Epoch, before.LastSeq)
	}
}

func TestPebbleDataDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	journaltest.OpenPebble(t, dir)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Fatalf("data directory mode %v, want 0700", perm)
	}
}

// noSpace injects ENOSPC into writes of files whose name ends with one of suffixes while
// it is on.
type noSpace struct {
	on       atomic.Bool
	suffixes []string
}

func (n *noSpace) String() string { return "ENOSPC" }

func (n *noSpace) MaybeError(op errorfs.Op) error {
	if !n.on.Load() || op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
		return nil
	}
	for _, s := range n.suffixes {
		if strings.HasSuffix(op.Path, s) {
			return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
		}
	}
	return nil
}

// openFilling opens a journal with a 1 MiB ballast on a file system that, once inj.on is
// set, answers ENOSPC to every write of a file whose name ends with suffix.
func openFilling(t *testing.T, suffix string) (dir string, inj *noSpace, logs *lockedBuffer, p *pebble.Journal) {
	t.Helper()
	dir, inj, logs = t.TempDir(), &noSpace{suffixes: []string{suffix}}, &lockedBuffer{}
	p, err := pebble.Open(dir, pebble.Options{Logger: newLogger(logs), BallastBytes: 1 << 20,
		FS: errorfs.Wrap(vfs.Default, inj)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return dir, inj, logs, p
}

func TestPebbleDiskFullOnTheLog(t *testing.T) {
	dir, inj, logs, p := openFilling(t, ".log")
	meta := journal.Meta{Epoch: "e1"}
	journaltest.Commit(t, p, "kept", 1, 10, &meta)
	if _, err := os.Stat(filepath.Join(dir, "EMERGENCY_BALLAST")); err != nil {
		t.Fatalf("no ballast: %v", err)
	}

	inj.on.Store(true) // the disk is full from now on, ballast or not
	m2 := journal.Meta{Epoch: "e2", LastSeq: 1}
	err := p.Commit([]journal.Append{{TaskID: "lost", Meta: m2, Entries: journaltest.Entries(1, 1)}})
	if !errors.Is(err, journal.ErrUnavailable) {
		t.Fatalf("commit on a full disk: %v, want ErrUnavailable", err)
	}
	// Later writes are refused too, at once, and the process lives.
	for range 3 {
		if err := p.Commit([]journal.Append{{TaskID: "lost", Meta: m2, Entries: journaltest.Entries(1, 1)}}); !errors.Is(err, journal.ErrUnavailable) {
			t.Fatalf("later commit: %v, want ErrUnavailable", err)
		}
	}
	if err := p.Healthy(); err == nil {
		t.Error("journal healthy while its log cannot be written")
	}
	// Pebble's memtable holds the batch whose log write failed: no read may hand it out
	// as stored (a restart would lose it and give its seqs again).
	if got, found, err := p.Stat("lost"); !errors.Is(err, journal.ErrUnavailable) || found {
		t.Errorf("a read after the log failed: %+v %v %v, want ErrUnavailable", got, found, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "EMERGENCY_BALLAST")); !os.IsNotExist(err) {
		t.Errorf("ballast still there: %v", err)
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"journal: disk full") {
		t.Errorf("no ERROR line for the full disk:\n%s", logs.String())
	}
}

func TestPebbleDiskFullOnFlush(t *testing.T) {
	_, inj, logs, p := openFilling(t, ".sst")
	inj.on.Store(true)
	// Enough to fill memtables past Pebble's write stall, were the commits let through.
	big := strings.Repeat("x", 64<<10)
	meta := journal.Meta{Epoch: "e1"}
	var refused error
	for s := uint64(1); s <= 400 && refused == nil; s++ {
		meta.LastSeq = s
		es := journaltest.Entries(s, s)
		es[0].Message = big
		refused = p.Commit([]journal.Append{{TaskID: "t", Meta: meta, Entries: es}})
	}
	if !errors.Is(refused, journal.ErrUnavailable) {
		t.Fatalf("publishes while flushes fail: %v, want ErrUnavailable", refused)
	}
	if p.Healthy() == nil {
		t.Error("journal healthy while flushes fail")
	}
	if !strings.Contains(logs.String(), "journal: disk full") {
		t.Errorf("no line for the full disk:\n%s", logs.String())
	}
	// Deletes still go through: they are what frees space.
	if err := p.Delete("t"); err != nil {
		t.Fatalf("delete on a full disk: %v", err)
	}
}
