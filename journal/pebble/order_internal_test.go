package pebble

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/tasktail/tasktail/journal"
)

// The activity order, written lazily, is always the order of the metas when it is read:
// checked against a model of the metas under random commits (activity times that move
// either way, tasks finishing and failing), restarts, deletes, sweeps, a full disk that
// fails a commit, reads, clean reopens and crashes that lose whatever was not synced.
func TestPebbleActivityOrderModel(t *testing.T) {
	defer func(n int) { maxOwed = n }(maxOwed)
	maxOwed = 3 // the flush of moves past the bound happens too
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	fs := vfs.NewCrashableMem()
	p := openAt(t, fs)
	defer func() { p.Close() }()
	model := map[string]journal.Meta{}
	check := func(step int, what string) {
		t.Helper()
		var got []string
		err := p.ListActive("", journal.Newest, func(l journal.Listing) (bool, error) {
			got = append(got, fmt.Sprintf("%s@%d/%v/%v", l.At.TaskID, l.At.Active, l.Finished, l.Failed))
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, 0, len(model))
		for id := range model {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b string) int {
			return journal.Position{Active: model[a].Active, TaskID: a}.Compare(journal.Position{Active: model[b].Active, TaskID: b})
		})
		want := make([]string, len(ids))
		for i, id := range ids {
			m := model[id]
			want[i] = fmt.Sprintf("%s@%d/%v/%v", id, m.Active, m.Finished, m.Failed)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("step %d, after %s (seed %d): listed\n%s\nwant\n%s", step, what, seed, strings.Join(got, " "), strings.Join(want, " "))
		}
	}
	last := "start"
	for step := range 600 {
		switch r := rng.IntN(100); {
		case r < 55:
			var group []journal.Append
			for range 1 + rng.IntN(3) {
				id := fmt.Sprintf("t%d", rng.IntN(8))
				m, ok := model[id]
				if !ok {
					m = journal.Meta{Epoch: "e"}
				}
				for _, a := range group { // a later append of the same commit carries on
					if a.TaskID == id {
						m = a.Meta
					}
				}
				m.LastSeq++
				m.Active = int64(1 + rng.IntN(40))
				m.Finished, m.Failed = rng.IntN(10) == 0, rng.IntN(20) == 0
				group = append(group, journal.Append{TaskID: id, Meta: m, Entries: []journal.Entry{{Seq: m.LastSeq, Message: "m"}}})
			}
			if err := p.Commit(group); err != nil {
				t.Fatal(err)
			}
			for _, a := range group {
				if a.Fenced {
					t.Fatalf("step %d: %s refused", step, a.TaskID)
				}
				model[a.TaskID] = a.Meta
			}
			last = "a commit"
		case r < 60:
			id := fmt.Sprintf("t%d", rng.IntN(8))
			if err := p.Delete(id); err != nil {
				t.Fatal(err)
			}
			delete(model, id)
			last = "a delete"
		case r < 63: // a restart: a new epoch, no entries
			id := fmt.Sprintf("t%d", rng.IntN(8))
			if _, ok := model[id]; !ok {
				continue
			}
			a := []journal.Append{{TaskID: id, Reset: true, Meta: journal.Meta{Epoch: fmt.Sprintf("r%d", step), Active: int64(1 + rng.IntN(40))}}}
			if err := p.Commit(a); err != nil || a[0].Fenced {
				t.Fatalf("step %d: restart of %s: %v fenced=%v", step, id, err, a[0].Fenced)
			}
			model[id] = a[0].Meta
			last = "a restart"
		case r < 65: // the retention sweep: unfinished tasks idle since before a time
			now, keep := time.Unix(0, 40), journal.Retention{Idle: time.Duration(rng.IntN(40))}
			var ids []string
			for id := range model {
				ids = append(ids, id)
			}
			if _, err := p.DeleteExpired(ids, now, keep); err != nil {
				t.Fatal(err)
			}
			for id, m := range model {
				if m.Expired(now, keep) {
					delete(model, id)
				}
			}
			last = "a sweep"
		case r < 69: // the disk fills: a commit fails, a delete still goes through; space comes back
			p.health.diskFull(syscall.ENOSPC)
			id := fmt.Sprintf("t%d", rng.IntN(8))
			m, ok := model[id]
			if !ok {
				m = journal.Meta{Epoch: "e"}
			}
			m.LastSeq++
			m.Active = int64(1 + rng.IntN(40))
			if err := p.Commit([]journal.Append{{TaskID: id, Meta: m, Entries: []journal.Entry{{Seq: m.LastSeq, Message: "m"}}}}); err == nil {
				t.Fatalf("step %d: a commit on a full disk went through", step)
			}
			if rng.IntN(2) == 0 {
				check(step, "a failed commit") // sorts the metas
			}
			del := fmt.Sprintf("t%d", rng.IntN(8))
			if err := p.Delete(del); err != nil {
				t.Fatal(err)
			}
			delete(model, del)
			p.health.mu.Lock()
			p.health.full = false // space again
			p.health.mu.Unlock()
			last = "a full disk"
		case r < 85:
			check(step, last)
			last = "a read"
		case r < 92: // the machine stops: only what was synced is left
			crashed := fs.CrashClone(vfs.CrashCloneCfg{})
			p.Close()
			fs = crashed
			p = openAt(t, fs)
			last = "a crash"
		default:
			p.Close()
			p = openAt(t, fs)
			last = "a reopen"
		}
	}
	check(600, last)
}

// A write that fails leaves the activity keys unknown: the list still comes out in the
// metas' order (read from the metas while the keys cannot be rewritten), and the keys are
// rebuilt once the journal writes again.
func TestPebbleActivityOrderAfterAFailedWrite(t *testing.T) {
	p, err := Open(t.TempDir(), Options{BallastBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	commit := committer(t, &p)
	list := func() string { return listed(t, p) }
	for id, active := range map[string]int64{"a": 10, "b": 20, "c": 30} {
		if err := commit(id, active); err != nil {
			t.Fatal(err)
		}
	}
	if got := list(); got != "c b a" {
		t.Fatalf("listed %q, want c b a", got)
	}
	if err := commit("b", 35); err != nil { // owed, not yet written
		t.Fatal(err)
	}
	p.health.diskFull(syscall.ENOSPC)
	if err := commit("a", 40); err == nil {
		t.Fatal("a commit on a full disk went through")
	}
	if !p.order.stale {
		t.Fatal("the order is not known stale after a failed write")
	}
	if got := list(); got != "b c a" {
		t.Fatalf("on a full disk, listed %q, want b c a", got)
	}
	p.health.mu.Lock()
	p.health.full = false // space again
	p.health.mu.Unlock()
	if err := commit("a", 40); err != nil {
		t.Fatal(err)
	}
	if got := list(); got != "a b c" {
		t.Fatalf("listed %q, want a b c", got)
	}
	if p.order.stale {
		t.Fatal("the order is still stale after a list with space")
	}
}

// A crash after the order was rebuilt (a write had failed) leaves an order the next open
// can trust only if the moves owed since deleted the mark again.
func TestPebbleActivityOrderCrashAfterARebuild(t *testing.T) {
	fs := vfs.NewCrashableMem()
	p := openAt(t, fs)
	defer func() { p.Close() }()
	commit := committer(t, &p)
	list := func() string { return listed(t, p) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(commit("a", 10))
	must(commit("b", 20))
	if got := list(); got != "b a" {
		t.Fatalf("listed %q, want b a", got)
	}
	p.health.diskFull(syscall.ENOSPC)
	if commit("a", 30) == nil {
		t.Fatal("a commit on a full disk went through")
	}
	p.health.mu.Lock()
	p.health.full = false // space again
	p.health.mu.Unlock()
	must(commit("b", 40))            // the order is stale: the mark goes
	if got := list(); got != "b a" { // rebuilt, and marked
		t.Fatalf("listed %q, want b a", got)
	}
	must(commit("c", 50))                         // a new task owes its key
	must(commit("b", 60))                         // and b a move
	crashed := fs.CrashClone(vfs.CrashCloneCfg{}) // every commit was synced
	p.Close()
	p = openAt(t, crashed)
	must(commit("b", 70))
	if got := list(); got != "b c a" {
		t.Fatalf("after a crash, listed %q, want b c a", got)
	}
}

// fullBallast answers ENOSPC to writes of the ballast while on: a disk too full to make it.
type fullBallast struct{ on atomic.Bool }

func (n *fullBallast) String() string { return "ENOSPC" }

func (n *fullBallast) MaybeError(op errorfs.Op) error {
	if n.on.Load() && op.Kind.ReadOrWrite() == errorfs.OpIsWrite && strings.HasSuffix(op.Path, ballastName) {
		return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
	}
	return nil
}

// A journal stopped on a full disk with moves owed opens again on that disk (its order is
// rebuilt later), so that its tasks can be read and deleted to free space.
func TestPebbleReopensOnAFullDiskWithMovesOwed(t *testing.T) {
	inj := &fullBallast{}
	fs := errorfs.Wrap(vfs.NewMem(), inj)
	p, err := Open("/j", Options{FS: fs, BallastBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	a := []journal.Append{{TaskID: "t", Meta: journal.Meta{Epoch: "e", LastSeq: 1, Active: 5}, Entries: []journal.Entry{{Seq: 1, Message: "m"}}}}
	if err := p.Commit(a); err != nil {
		t.Fatal(err)
	}
	p.health.diskFull(syscall.ENOSPC) // the disk fills; the server is stopped
	inj.on.Store(true)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if p, err = Open("/j", Options{FS: fs, BallastBytes: 1 << 20}); err != nil {
		t.Fatalf("open on the full disk: %v", err)
	}
	defer p.Close()
	if _, found, err := p.Stat("t"); err != nil || !found {
		t.Fatalf("stat: %v %v", found, err)
	}
	var ids []string
	if err := p.ListActive("", journal.Newest, func(l journal.Listing) (bool, error) { ids = append(ids, l.At.TaskID); return true, nil }); err != nil || len(ids) != 1 {
		t.Fatalf("listed %v, %v: want t", ids, err)
	}
	if err := p.Delete("t"); err != nil {
		t.Fatalf("a delete on the full disk: %v", err)
	}
}

// openAt opens the journal in /j of fs, without a ballast.
func openAt(t *testing.T, fs vfs.FS) *Journal {
	t.Helper()
	p, err := Open("/j", Options{FS: fs, BallastBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// listed is the task_ids of the journal's activity order, the newest first.
func listed(t *testing.T, p *Journal) string {
	t.Helper()
	var ids []string
	if err := p.ListActive("", journal.Newest, func(l journal.Listing) (bool, error) { ids = append(ids, l.At.TaskID); return true, nil }); err != nil {
		t.Fatal(err)
	}
	return strings.Join(ids, " ")
}

// committer returns a commit of one entry to a task, active at active, in the journal *p
// (which a test may open again), carrying each task's meta on from its last commit.
func committer(t *testing.T, p **Journal) func(id string, active int64) error {
	metas := map[string]journal.Meta{}
	return func(id string, active int64) error {
		t.Helper()
		m, ok := metas[id]
		if !ok {
			m = journal.Meta{Epoch: "e"}
		}
		m.LastSeq++
		m.Active = active
		a := []journal.Append{{TaskID: id, Meta: m, Entries: []journal.Entry{{Seq: m.LastSeq, Message: "m"}}}}
		if err := (*p).Commit(a); err != nil {
			return err
		}
		if a[0].Fenced {
			t.Fatalf("%s fenced", id)
		}
		metas[id] = a[0].Meta
		return nil
	}
}
