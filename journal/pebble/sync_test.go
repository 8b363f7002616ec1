package pebble_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/journaltest"
	"github.com/tasktail/tasktail/journal/pebble"
)

// The durability setting, checked by the machine crashing (a copy of the file system with
// only what was synced): every commit is synced before it returns by default; with a sync
// interval a commit returns once written, what was acknowledged since the last sync is
// what a crash loses, and the timer makes it durable within the interval.
func TestPebbleSyncSetting(t *testing.T) {
	open := func(fs *vfs.MemFS, every time.Duration) *pebble.Journal {
		t.Helper()
		p, err := pebble.Open("/j", pebble.Options{FS: fs, BallastBytes: -1, SyncInterval: every})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// lastSeqAfterCrash is the task's last seq in a journal opened on what a crash now
	// leaves of fs.
	lastSeqAfterCrash := func(fs *vfs.MemFS) uint64 {
		t.Helper()
		p := open(fs.CrashClone(vfs.CrashCloneCfg{}), 0)
		defer p.Close()
		meta, _, err := p.Stat("t")
		if err != nil {
			t.Fatal(err)
		}
		return meta.LastSeq
	}
	t.Run("always", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		p := open(fs, 0)
		defer p.Close()
		meta := journal.Meta{Epoch: "e"}
		journaltest.Commit(t, p, "t", 1, 10, &meta)
		if got := lastSeqAfterCrash(fs); got != 10 {
			t.Fatalf("after a crash right after the commit: last seq %d, want 10", got)
		}
	})
	t.Run("interval", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		p := open(fs, 50*time.Millisecond)
		defer p.Close()
		meta := journal.Meta{Epoch: "e"}
		journaltest.Commit(t, p, "t", 1, 10, &meta)
		began := time.Now()
		for lastSeqAfterCrash(fs) != 10 {
			if time.Since(began) > 5*time.Second {
				t.Fatal("the commit was not synced by the timer within 5 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("durable %v after it was acknowledged", time.Since(began).Round(time.Millisecond))
	})
	t.Run("interval, a crash before the tick", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		p := open(fs, time.Hour)
		meta := journal.Meta{Epoch: "e"}
		journaltest.Commit(t, p, "t", 1, 10, &meta)
		if got := lastSeqAfterCrash(fs); got != 0 {
			t.Fatalf("a crash before the interval's sync kept last seq %d: the commit was synced after all", got)
		}
		if err := p.Close(); err != nil { // a clean stop syncs what is left
			t.Fatal(err)
		}
		if got := lastSeqAfterCrash(fs); got != 10 {
			t.Fatalf("after a clean close: last seq %d, want 10", got)
		}
		if m := epochAfterCrash(t, fs); m != "e" {
			t.Fatalf("after a clean close the task's epoch is %q, want e", m)
		}
	})
	// A crash in interval mode may take back seqs that viewers saw: the next open gives
	// every task a new epoch, so that no viewer is handed a seq twice.
	t.Run("interval, a crash owes new epochs", func(t *testing.T) {
		fs := vfs.NewCrashableMem()
		p := open(fs, time.Hour)
		defer p.Close()
		meta := journal.Meta{Epoch: "e"}
		journaltest.Commit(t, p, "t", 1, 10, &meta)
		if err := p.Sync(); err != nil {
			t.Fatal(err)
		}
		journaltest.Commit(t, p, "t", 11, 12, &meta) // acknowledged, not yet synced
		if got := lastSeqAfterCrash(fs); got != 10 {
			t.Fatalf("after the crash: last seq %d, want the synced 10", got)
		}
		if e := epochAfterCrash(t, fs); e == "e" {
			t.Fatal("after a crash in interval mode the task kept its epoch: seqs 11 and 12 would be given again")
		}
	})
}

// epochAfterCrash is the epoch of task t in a journal opened on what a crash leaves of fs.
func epochAfterCrash(t *testing.T, fs *vfs.MemFS) string {
	t.Helper()
	p, err := pebble.Open("/j", pebble.Options{FS: fs.CrashClone(vfs.CrashCloneCfg{}), BallastBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	meta, _, err := p.Stat("t")
	if err != nil {
		t.Fatal(err)
	}
	return meta.Epoch
}

// A power cut in interval mode may tear the log's unsynced tail: the next open cuts it
// without asking for --accept-journal-loss, since the epochs are owed anyway, and keeps
// what was synced.
func TestPebbleSyncIntervalSurvivesATornTail(t *testing.T) {
	for run := range 20 {
		fs := vfs.NewCrashableMem()
		p, err := pebble.Open("/j", pebble.Options{FS: fs, BallastBytes: -1, SyncInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		meta := journal.Meta{Epoch: "e"}
		journaltest.Commit(t, p, "t", 1, 10, &meta)
		if err := p.Sync(); err != nil {
			t.Fatal(err)
		}
		for seq := uint64(11); seq <= 300; seq += 10 {
			journaltest.Commit(t, p, "t", seq, seq+9, &meta) // acknowledged, not synced
		}
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(uint64(run), uint64(run)*7919+1))})
		p.Close()
		again, err := pebble.Open("/j", pebble.Options{FS: crashed, BallastBytes: -1})
		if err != nil {
			t.Fatalf("run %d: the journal after a power cut in interval mode: %v", run, err)
		}
		got, _, err := again.Stat("t")
		again.Close()
		if err != nil || got.LastSeq < 10 || got.Epoch == "e" {
			t.Fatalf("run %d: after the cut: %+v %v; want at least the synced 10, in a new epoch", run, got, err)
		}
	}
}
