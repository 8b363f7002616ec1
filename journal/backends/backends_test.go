package backends_test

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tasktail/tasktail/internal/pgserver"
	"github.com/tasktail/tasktail/internal/pgtest"

	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/journaltest"
	"github.com/tasktail/tasktail/journal/pebble"
	"github.com/tasktail/tasktail/journal/postgres"
)

// implementations opens each Journal for a contract test.
func implementations(t *testing.T) map[string]func(t *testing.T) journal.Journal {
	return map[string]func(t *testing.T) journal.Journal{
		"pebble": func(t *testing.T) journal.Journal { return journaltest.OpenPebble(t, t.TempDir()) },
		"memory": func(t *testing.T) journal.Journal { return journaltest.NewMemory() },
		"postgres": func(t *testing.T) journal.Journal {
			p, err := postgres.Open(pgtest.ForTest(t), postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			return p
		},
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	pgserver.StopShared()
	os.Exit(code)
}

func TestJournalContract(t *testing.T) {
	for name, open := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			j := open(t)
			meta := journal.Meta{Epoch: "e1", Seen: 3, Progress: 40, Active: 123}
			journaltest.Commit(t, j, "a", 1, 5, &meta)
			journaltest.Commit(t, j, "a", 6, 6, &meta)
			journaltest.Commit(t, j, "a", 7, 12, &meta)
			journaltest.Commit(t, j, "b", 1, 2, &journal.Meta{Epoch: "eb"})

			got, recent, found, err := j.Load("a", 8)
			if err != nil || !found || got.Epoch != "e1" || got.LastSeq != 12 || got.Seen != 3 || got.Progress != 40 || got.Active != 123 {
				t.Fatalf("load: %+v %v %v", got, found, err)
			}
			if s := journaltest.Seqs(recent); len(s) != 8 || s[0] != 5 || s[7] != 12 {
				t.Fatalf("window of 8: %v, want 5..12", s)
			}
			if recent[0] != journaltest.Entries(5, 5)[0] {
				t.Fatalf("entry round trip: %+v", recent[0])
			}
			if _, _, found, _ := j.Load("nobody", 10); found {
				t.Fatal("found a task never written")
			}

			var read []journal.Entry
			if err := j.Read("a", 6, func(e journal.Entry) bool { read = append(read, e); return len(read) < 4 }); err != nil {
				t.Fatal(err)
			}
			if s := journaltest.Seqs(read); len(s) != 4 || s[0] != 6 || s[3] != 9 {
				t.Fatalf("read from 6, 4 entries: %v", s)
			}

			if err := j.Commit([]journal.Append{{TaskID: "a", Reset: true, Meta: journal.Meta{Epoch: "e2", LastSeq: 1, Owner: got.Owner}, Entries: journaltest.Entries(1, 1)}}); err != nil {
				t.Fatal(err)
			}
			if got, recent, _, _ := j.Load("a", 100); got.Epoch != "e2" || len(recent) != 1 || recent[0].Seq != 1 {
				t.Fatalf("after a reset: %+v %v", got, journaltest.Seqs(recent))
			}

			if err := j.Delete("a"); err != nil {
				t.Fatal(err)
			}
			if _, _, found, _ := j.Load("a", 10); found {
				t.Fatal("found a deleted task")
			}
			if _, recent, found, _ := j.Load("b", 10); !found || len(recent) != 2 {
				t.Fatal("delete of a removed b")
			}
		})
	}
}

func TestJournalSweep(t *testing.T) {
	for name, open := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			j := open(t)
			now := time.Now()
			hour := int64(time.Hour)
			journaltest.Commit(t, j, "done-old", 1, 1, &journal.Meta{Finished: true, FinishedAt: now.UnixNano() - 3*hour, Active: now.UnixNano()})
			journaltest.Commit(t, j, "done-new", 1, 1, &journal.Meta{Finished: true, FinishedAt: now.UnixNano() - hour/2, Active: now.UnixNano() - 3*hour})
			journaltest.Commit(t, j, "idle-old", 1, 1, &journal.Meta{Active: now.UnixNano() - 5*hour})
			journaltest.Commit(t, j, "idle-new", 1, 1, &journal.Meta{Active: now.UnixNano() - 3*hour})
			n, err := journal.NewWriter(j, nil).Sweep(now, journal.Retention{Finished: time.Hour, Idle: 4 * time.Hour})
			if err != nil || n != 2 {
				t.Fatalf("sweep removed %d, %v; want 2", n, err)
			}
			for id, want := range map[string]bool{"done-old": false, "done-new": true, "idle-old": false, "idle-new": true} {
				if _, _, found, _ := j.Load(id, 1); found != want {
					t.Errorf("%s kept = %v, want %v", id, found, want)
				}
			}
		})
	}
}

// What was committed is there after the journal is closed and opened again.
func TestPebbleKeepsWhatWasCommittedAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	p, err := pebble.Open(dir, pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	journaltest.Commit(t, p, "t", 1, 100, &journal.Meta{Epoch: "e", Seen: 50})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	q := journaltest.OpenPebble(t, dir)
	meta, recent, found, err := q.Load("t", 1000)
	if err != nil || !found || meta.Epoch != "e" || meta.LastSeq != 100 || meta.Seen != 50 || len(recent) != 100 {
		t.Fatalf("after reopen: %+v, %d entries, %v %v", meta, len(recent), found, err)
	}
}

// The Writer carries out requests in the order submitted, groups the commits that wait
// together, and reports a failed commit to every request in it.
func TestWriterOrdersAndGroups(t *testing.T) {
	mem := journaltest.NewMemory()
	var counts journal.Counts
	w := journal.NewWriter(mem, &counts)
	defer w.Close()
	var wg sync.WaitGroup
	const tasks, each = 20, 50
	for i := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("t%d", i)
			for s := uint64(1); s <= each; s++ {
				done := make(chan error, 1)
				w.Commit(journal.Append{TaskID: id, Meta: journal.Meta{LastSeq: s}, Entries: journaltest.Entries(s, s)}, func(_ journal.Meta, err error) { done <- err })
				if err := <-done; err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if mem.Commits >= tasks*each {
		t.Errorf("%d commits for %d appends from %d concurrent tasks: no group commit", mem.Commits, tasks*each, tasks)
	}
	if c, a := counts.Commits.Load(), counts.Appends.Load(); c != uint64(mem.Commits) || a != tasks*each {
		t.Errorf("counted %d commits and %d appends, want %d and %d", c, a, mem.Commits, tasks*each)
	}
	loaded := make(chan bool, 1)
	w.Delete("t0", func(error) {})
	w.Load("t0", 10, func(l journal.Loaded, _ error) { loaded <- l.Found })
	if <-loaded {
		t.Fatal("a load submitted after a delete found the task")
	}
	mem.Fail(errors.New("disk full"))
	failed := make(chan error, 1)
	w.Commit(journal.Append{TaskID: "x", Entries: journaltest.Entries(1, 1)}, func(_ journal.Meta, err error) { failed <- err })
	if err := <-failed; !errors.Is(err, journal.ErrUnavailable) {
		t.Fatalf("commit on a failing journal: %v", err)
	}
	if a := counts.Appends.Load(); a != tasks*each {
		t.Errorf("a failed commit was counted: %d appends", a)
	}
	mem.Fail(nil)
	w.Commit(journal.Append{TaskID: "x", Entries: journaltest.Entries(1, 1)}, func(_ journal.Meta, err error) { failed <- err })
	if err := <-failed; err != nil {
		t.Fatalf("commit after the journal recovered: %v", err)
	}
}

// Past its size cap a task loses its oldest chunks: FirstSeq moves past them, Bytes stays
// bounded, and reads start at FirstSeq.
func TestSizeCapDropsTheOldest(t *testing.T) {
	for name, open := range map[string]func() (journal.Journal, error){
		"pebble": func() (journal.Journal, error) {
			return pebble.Open(t.TempDir(), pebble.Options{MaxTaskBytes: 4 << 10})
		},
		"postgres": func() (journal.Journal, error) {
			return postgres.Open(pgtest.ForTest(t), postgres.Options{MaxTaskBytes: 4 << 10})
		},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := open()
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			sizeCapDropsTheOldest(t, p)
		})
	}
}

func sizeCapDropsTheOldest(t *testing.T, p journal.Journal) {
	meta := journal.Meta{Epoch: "e"}
	for from := uint64(1); from <= 500; from += 10 {
		a := []journal.Append{{TaskID: "big", Meta: meta, Entries: journaltest.Entries(from, from+9)}}
		a[0].Meta.LastSeq = from + 9
		if err := p.Commit(a); err != nil {
			t.Fatal(err)
		}
		meta = a[0].Meta // what a task passes on: the meta as stored
		if meta.Bytes > 4<<10 {
			t.Fatalf("after seq %d the task takes %d bytes, over its cap", from+9, meta.Bytes)
		}
	}
	if meta.FirstSeq <= 1 || meta.FirstSeq > 491 {
		t.Fatalf("first seq %d after 500 entries under a 4 KiB cap", meta.FirstSeq)
	}
	var read []journal.Entry
	p.Read("big", 1, func(e journal.Entry) bool { read = append(read, e); return true })
	if len(read) == 0 || read[0].Seq != meta.FirstSeq || read[len(read)-1].Seq != 500 {
		t.Fatalf("read from 1: %d entries from %d, want from %d to 500", len(read), read[0].Seq, meta.FirstSeq)
	}
	if got, _, _, _ := p.Load("big", 0); got.FirstSeq != meta.FirstSeq || got.Bytes != meta.Bytes {
		t.Fatalf("stored meta %+v, committed %+v", got, meta)
	}
}

// In a shared journal each Load makes a new owner (Stat does not), and a commit from an
// older one is fenced: nothing of it is written.
func TestPostgresFencesStaleActivations(t *testing.T) {
	p, err := postgres.Open(pgtest.ForTest(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	first := []journal.Append{{TaskID: "f", Meta: journal.Meta{Epoch: "e", LastSeq: 1}, Entries: journaltest.Entries(1, 1)}}
	if err := p.Commit(first); err != nil || first[0].Fenced || first[0].Meta.Owner != 1 {
		t.Fatalf("first commit: %v fenced=%v owner=%d", err, first[0].Fenced, first[0].Meta.Owner)
	}
	rival := []journal.Append{{TaskID: "f", Meta: journal.Meta{Epoch: "other", LastSeq: 1}, Entries: journaltest.Entries(1, 1)}}
	if err := p.Commit(rival); err != nil || !rival[0].Fenced {
		t.Fatalf("a second activation that also found the task new: %v fenced=%v", err, rival[0].Fenced)
	}
	if st, found, err := p.Stat("f"); err != nil || !found || st.Owner != 1 {
		t.Fatalf("stat: %+v %v %v, want the owner left at 1", st, found, err)
	}
	meta, _, found, err := p.Load("f", 10) // another member takes the task over
	if err != nil || !found || meta.Owner != 2 || meta.Epoch != "e" {
		t.Fatalf("load: %+v %v %v", meta, found, err)
	}
	stale := []journal.Append{{TaskID: "f", Meta: journal.Meta{Epoch: "e", LastSeq: 2, Owner: 1}, Entries: journaltest.Entries(2, 2)}}
	if err := p.Commit(stale); err != nil || !stale[0].Fenced {
		t.Fatalf("a commit of the old owner: %v fenced=%v", err, stale[0].Fenced)
	}
	meta.LastSeq = 2
	owned := []journal.Append{{TaskID: "f", Meta: meta, Entries: journaltest.Entries(2, 2)}}
	if err := p.Commit(owned); err != nil || owned[0].Fenced {
		t.Fatalf("a commit of the new owner: %v fenced=%v", err, owned[0].Fenced)
	}
	var seqs []uint64
	p.Read("f", 1, func(e journal.Entry) bool { seqs = append(seqs, e.Seq); return true })
	if len(seqs) != 2 || seqs[1] != 2 {
		t.Fatalf("stored %v, want 1 and 2 once", seqs)
	}
}

// List finds the tasks of a prefix, with their metas, and no others.
func TestJournalList(t *testing.T) {
	for name, open := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			j := open(t)
			for _, id := range []string{"import-1", "import-2", "import_3", "report-1", "imp"} {
				journaltest.Commit(t, j, id, 1, 2, &journal.Meta{Epoch: "e-" + id, Finished: id == "import-2", Failed: id == "import-2"})
			}
			got := map[string]journal.Meta{}
			if err := j.List("import-", func(id string, m journal.Meta) bool { got[id] = m; return true }); err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got["import-1"].Epoch != "e-import-1" || got["import-1"].LastSeq != 2 || !got["import-2"].Failed || got["import-1"].Failed {
				t.Fatalf("import-: %+v", got)
			}
			n := 0
			if err := j.List("", func(string, journal.Meta) bool { n++; return n < 3 }); err != nil || n != 3 {
				t.Fatalf("all, stopping at 3: %d %v", n, err)
			}
		})
	}
}
