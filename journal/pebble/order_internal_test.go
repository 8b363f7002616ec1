package pebble

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tasktail/tasktail/journal"
)

// The activity order, written lazily, is always the order of the metas when it is read:
// checked against a model of the metas under random commits (activity times that move
// either way, tasks finishing and failing), deletes, reads, clean reopens and crashes
// that lose whatever was not synced.
func TestPebbleActivityOrderModel(t *testing.T) {
	defer func(n int) { maxOwed = n }(maxOwed)
	maxOwed = 3 // the flush of moves past the bound happens too
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	fs := vfs.NewCrashableMem()
	open := func(fs vfs.FS) *Journal {
		t.Helper()
		p, err := Open("/j", Options{FS: fs, BallastBytes: -1})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := open(fs)
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
		case r < 85:
			check(step, last)
			last = "a read"
		case r < 92: // the machine stops: only what was synced is left
			crashed := fs.CrashClone(vfs.CrashCloneCfg{})
			p.Close()
			fs = crashed
			p = open(fs)
			last = "a crash"
		default:
			p.Close()
			p = open(fs)
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
	metas := map[string]*journal.Meta{}
	commit := func(id string, active int64) error {
		m, ok := metas[id]
		if !ok {
			m = &journal.Meta{Epoch: "e"}
		}
		next := *m
		next.LastSeq++
		next.Active = active
		a := []journal.Append{{TaskID: id, Meta: next, Entries: []journal.Entry{{Seq: next.LastSeq, Message: "m"}}}}
		if err := p.Commit(a); err != nil {
			return err
		}
		metas[id] = &a[0].Meta
		return nil
	}
	list := func() string {
		t.Helper()
		var ids []string
		if err := p.ListActive("", journal.Newest, func(l journal.Listing) (bool, error) { ids = append(ids, l.At.TaskID); return true, nil }); err != nil {
			t.Fatal(err)
		}
		return strings.Join(ids, " ")
	}
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
