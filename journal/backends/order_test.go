package backends_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasktail/tasktail/internal/pgtest"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/journaltest"
	"github.com/tasktail/tasktail/journal/pebble"
	"github.com/tasktail/tasktail/journal/postgres"
)

// A meta-only write never creates a task: written after a delete (a task's last meta as it
// stops), the task stays deleted.
func TestJournalMetaOnlyWriteNeverCreatesATask(t *testing.T) {
	for name, open := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			j := open(t)
			meta := journal.Meta{Epoch: "e1"}
			journaltest.Commit(t, j, "a", 1, 3, &meta)
			if err := j.Delete("a"); err != nil {
				t.Fatal(err)
			}
			meta.Seen = 3
			late := []journal.Append{{TaskID: "a", Meta: meta}}
			if err := j.Commit(late); err != nil {
				t.Fatal(err)
			}
			if m, found, err := j.Stat("a"); err != nil || found {
				t.Fatalf("after a delete and a meta-only write: %+v found=%v %v, want the task gone", m, found, err)
			}
			var names []string
			j.List("", func(id string, _ journal.Meta) bool { names = append(names, id); return true })
			if len(names) != 0 {
				t.Fatalf("listed %v after the delete", names)
			}
		})
	}
}

// A write made from a state the journal no longer has is refused and changes nothing, and
// the other appends of its commit are stored: entries whose first seq does not follow the
// stored last seq (a retry of a commit whose answer was lost), entries of another epoch,
// and a meta-only write of an older state, which would move last_seq back.
func TestJournalStaleAppendIsRefusedAlone(t *testing.T) {
	for name, open := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			j := open(t)
			meta := journal.Meta{Epoch: "e1"}
			journaltest.Commit(t, j, "a", 1, 3, &meta)
			old := meta
			journaltest.Commit(t, j, "a", 4, 5, &meta)
			other := journal.Meta{Epoch: "e2"}
			journaltest.Commit(t, j, "b", 1, 1, &other)

			retry := old
			retry.LastSeq = 5
			otherEpoch := meta
			otherEpoch.Epoch, otherEpoch.LastSeq = "elsewhere", 6
			other.LastSeq = 2
			group := []journal.Append{
				{TaskID: "a", Meta: retry, Entries: journaltest.Entries(4, 5)},                                  // the lost answer's retry
				{TaskID: "b", Meta: other, Entries: journaltest.Entries(2, 2)},                                  // a good one beside it
				{TaskID: "a", Meta: otherEpoch, Entries: journaltest.Entries(6, 6)},                             // another incarnation's
				{TaskID: "new", Meta: journal.Meta{Epoch: "n", LastSeq: 3}, Entries: journaltest.Entries(2, 3)}, // not from 1
			}
			if err := j.Commit(group); err != nil {
				t.Fatalf("a commit with stale appends failed as a whole: %v", err)
			}
			for i, want := range []bool{true, false, true, true} {
				if group[i].Fenced != want {
					t.Errorf("append %d (%s from %d): refused=%v, want %v", i, group[i].TaskID, group[i].Entries[0].Seq, group[i].Fenced, want)
				}
			}
			back := old // a meta-only write of the state before 4..5
			back.Seen = 3
			if err := j.Commit([]journal.Append{{TaskID: "a", Meta: back}}); err != nil {
				t.Fatal(err)
			}
			if m, _, _ := j.Stat("a"); m.LastSeq != 5 || m.Epoch != "e1" {
				t.Fatalf("a: %+v, want last_seq 5 in e1", m)
			}
			if m, _, _ := j.Stat("b"); m.LastSeq != 2 {
				t.Fatalf("b: %+v, want last_seq 2", m)
			}
			if _, found, _ := j.Stat("new"); found {
				t.Fatal("a task created by entries that do not start at 1")
			}
			var got []uint64
			j.Read("a", 1, func(e journal.Entry) bool { got = append(got, e.Seq); return true })
			if fmt.Sprint(got) != "[1 2 3 4 5]" {
				t.Fatalf("a holds %v, want 1..5 once", got)
			}
			meta.LastSeq = 6 // the owner's next write still lands
			next := []journal.Append{{TaskID: "a", Meta: meta, Entries: journaltest.Entries(6, 6)}}
			if err := j.Commit(next); err != nil || next[0].Fenced {
				t.Fatalf("the next write of the task: %v refused=%v", err, next[0].Fenced)
			}
		})
	}
}

// A restart of a task the journal no longer has (deleted or swept since it was loaded)
// does not bring it back.
func TestJournalResetOfAGoneTaskIsRefused(t *testing.T) {
	for name, open := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			j := open(t)
			meta := journal.Meta{Epoch: "e1"}
			journaltest.Commit(t, j, "a", 1, 2, &meta)
			if err := j.Delete("a"); err != nil {
				t.Fatal(err)
			}
			reset := []journal.Append{{TaskID: "a", Reset: true, Meta: journal.Meta{Epoch: "e2", Owner: meta.Owner}}}
			if err := j.Commit(reset); err != nil || !reset[0].Fenced {
				t.Fatalf("restart of a deleted task: %v refused=%v", err, reset[0].Fenced)
			}
			if _, found, _ := j.Stat("a"); found {
				t.Fatal("a restart brought a deleted task back")
			}
		})
	}
}

// The retention sweep goes through the Writer, in order with commits: publishes to expired
// tasks acknowledged after the sweep read which tasks expired, and before it deleted them,
// are kept (the delete checks each task again). On the code before, a sweep that read and
// deleted beside the Writer lost 10,165 of 20,000 such publishes on Pebble.
func TestSweepNeverDeletesAnAcknowledgedCommit(t *testing.T) {
	for name, open := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			const tasks = 2000
			old := time.Now().Add(-2 * time.Hour).UnixNano()
			var group []journal.Append
			for i := range tasks {
				group = append(group, journal.Append{TaskID: fmt.Sprintf("t%04d", i), Meta: journal.Meta{Epoch: "e", LastSeq: 1, Active: old}, Entries: journaltest.Entries(1, 1)})
			}
			j := &publishAfterRead{Journal: open(t)}
			if err := j.Commit(group); err != nil {
				t.Fatal(err)
			}
			w := journal.NewWriter(j, nil)
			defer w.Close()
			acked := map[string]bool{}
			j.afterRead = func() { // every other task is published to, through the Writer
				var mu sync.Mutex
				var wg sync.WaitGroup
				for i := 0; i < tasks; i += 2 {
					a := group[i]
					a.Meta.LastSeq, a.Meta.Active, a.Entries = 2, time.Now().UnixNano(), journaltest.Entries(2, 2)
					wg.Add(1)
					w.Commit(a, func(_ journal.Meta, err error) {
						defer wg.Done()
						if err != nil {
							t.Errorf("publish to %s: %v", a.TaskID, err)
						}
						mu.Lock()
						acked[a.TaskID] = true
						mu.Unlock()
					})
				}
				wg.Wait()
			}
			n, err := w.Sweep(time.Now(), journal.Retention{Finished: time.Hour, Idle: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			lost := 0
			for id := range acked {
				if m, found, err := j.Stat(id); err != nil || !found || m.LastSeq != 2 {
					lost++
				}
			}
			if lost > 0 || n != tasks-len(acked) || len(acked) != tasks/2 {
				t.Fatalf("%d of %d acknowledged publishes gone after the sweep; it removed %d tasks, want %d", lost, len(acked), n, tasks-len(acked))
			}
		})
	}
}

// publishAfterRead is a journal whose retention read calls afterRead once it has read:
// the moment between a sweep's read and its deletes.
type publishAfterRead struct {
	journal.Journal
	afterRead func()
}

func (p *publishAfterRead) Expired(now time.Time, r journal.Retention, fn func(string) bool) error {
	err := p.Journal.Expired(now, r, fn)
	if p.afterRead != nil {
		p.afterRead()
	}
	return err
}

// Owner generations never go back, also across a delete and a new task under the same
// id: a stale activation from before the delete cannot write over the new incarnation.
func TestPostgresOwnersNeverGoBack(t *testing.T) {
	p, err := postgres.Open(pgtest.ForTest(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	first := []journal.Append{{TaskID: "f", Meta: journal.Meta{Epoch: "e", LastSeq: 1}, Entries: journaltest.Entries(1, 1)}}
	if err := p.Commit(first); err != nil || first[0].Fenced {
		t.Fatal(err)
	}
	stale := first[0].Meta // an activation that loaded f before the delete
	if err := p.Delete("f"); err != nil {
		t.Fatal(err)
	}
	again := []journal.Append{{TaskID: "f", Meta: journal.Meta{Epoch: "e2", LastSeq: 1}, Entries: journaltest.Entries(1, 1)}}
	if err := p.Commit(again); err != nil || again[0].Fenced {
		t.Fatal(err)
	}
	if again[0].Meta.Owner <= stale.Owner {
		t.Fatalf("the new incarnation's owner %d is not past the old one's %d", again[0].Meta.Owner, stale.Owner)
	}
	stale.Epoch, stale.LastSeq = "e2", 2 // even with the new epoch guessed right
	late := []journal.Append{{TaskID: "f", Meta: stale, Entries: journaltest.Entries(2, 2)}}
	if err := p.Commit(late); err != nil || !late[0].Fenced {
		t.Fatalf("a write of the activation from before the delete: %v fenced=%v", err, late[0].Fenced)
	}
}

// A PostgreSQL commit whose answer is lost after the server applied it is
// ErrOutcomeUnknown, never "not stored"; the retry of the same append is refused as stale
// rather than failing with a duplicate key, and the task's next append lands.
func TestPostgresLostCommitAnswerIsOutcomeUnknown(t *testing.T) {
	direct := pgtest.ForTest(t)
	proxy := pgtest.NewCutProxy(t, direct)
	p, err := postgres.Open(proxy.URL, postgres.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	meta := journal.Meta{Epoch: "e"}
	journaltest.Commit(t, p, "u", 1, 2, &meta)
	meta.LastSeq = 3
	lost := []journal.Append{{TaskID: "u", Meta: meta, Entries: journaltest.Entries(3, 3)}}
	proxy.CutNextCommit()
	if err := p.Commit(lost); !errors.Is(err, journal.ErrOutcomeUnknown) {
		t.Fatalf("a commit whose answer was lost: %v, want ErrOutcomeUnknown", err)
	}
	if proxy.Cuts.Load() != 1 {
		t.Fatal("the proxy cut no commit")
	}
	if m, _, _ := p.Stat("u"); m.LastSeq != 3 {
		t.Fatalf("stored last_seq %d, want 3: the commit was applied", m.LastSeq)
	}
	retry := []journal.Append{{TaskID: "u", Meta: meta, Entries: journaltest.Entries(3, 3)}}
	if err := p.Commit(retry); err != nil || !retry[0].Fenced {
		t.Fatalf("the retry of the same append: %v refused=%v, want refused alone", err, retry[0].Fenced)
	}
	loaded, _, _, err := p.Load("u", 10)
	if err != nil || loaded.LastSeq != 3 {
		t.Fatalf("load: %+v %v", loaded, err)
	}
	loaded.LastSeq = 4
	next := []journal.Append{{TaskID: "u", Meta: loaded, Entries: journaltest.Entries(4, 4)}}
	if err := p.Commit(next); err != nil || next[0].Fenced {
		t.Fatalf("the next append after a load: %v refused=%v", err, next[0].Fenced)
	}
}

// Members started together on a new database never race on creating its tables: every
// one opens it (the migrations run under one advisory lock).
func TestPostgresMembersStartedTogetherAllOpen(t *testing.T) {
	url := pgtest.ForTest(t)
	const members = 6
	errs := make(chan error, members)
	var wg sync.WaitGroup
	for range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := postgres.Open(url, postgres.Options{})
			if err == nil {
				p.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a member starting beside others: %v", err)
		}
	}
}

// A start with --accept-journal-loss that dies after it cut the damaged log but before
// every task had its new epoch gives them on the next open, flag or not: a cut log alone
// looks clean, and its tasks would number on in the old epoch.
func TestPebbleGivesOwedEpochsOnTheNextOpen(t *testing.T) {
	dir := t.TempDir()
	p, err := pebble.Open(dir, pebble.Options{BallastBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	meta := journal.Meta{Epoch: "before"}
	journaltest.Commit(t, p, "a", 1, 3, &meta)
	p.Close()
	// What a start that cut the log leaves when it dies before the new epochs are stored.
	if err := os.WriteFile(filepath.Join(dir, "NEW_EPOCHS_PENDING"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = pebble.Open(dir, pebble.Options{BallastBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if m, _, _ := p.Stat("a"); m.Epoch == "before" || m.LastSeq != 3 {
		t.Fatalf("after the open that owed new epochs: %+v, want a new epoch at last_seq 3", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "NEW_EPOCHS_PENDING")); !os.IsNotExist(err) {
		t.Fatalf("the marker is still there: %v", err)
	}
}

// A member paused inside a commit (its COMMIT not yet sent) holds its tasks' rows only
// for IdleInTransaction: the database then ends its session, so another member takes the
// task over (its load claims the row) within about that, instead of waiting out the
// pause, and meanwhile commits its own tasks. The paused commit is never acknowledged,
// and once resumed its activation is refused as stale.
func TestPostgresPausedCommitHoldsNobodyUp(t *testing.T) {
	direct := pgtest.ForTest(t)
	proxy := pgtest.NewCutProxy(t, direct)
	opts := postgres.Options{Timeout: 5 * time.Second, IdleInTransaction: 500 * time.Millisecond, LockTimeout: 300 * time.Millisecond}
	victim, err := postgres.Open(proxy.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	survivor, err := postgres.Open(direct, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer survivor.Close()
	meta := journal.Meta{Epoch: "e"}
	journaltest.Commit(t, victim, "v", 1, 1, &meta)
	held, release := proxy.HoldNextCommit()
	paused := make(chan error, 1)
	meta.LastSeq = 2
	inHand := []journal.Append{{TaskID: "v", Meta: meta, Entries: journaltest.Entries(2, 2)}}
	go func() { paused <- victim.Commit(inHand) }()
	<-held
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	own := journal.Meta{Epoch: "s"}
	journaltest.Commit(t, survivor, "s", 1, 1, &own) // a task of the survivor's own goes on

	began := time.Now()
	var loaded journal.Meta
	for {
		m, _, found, err := survivor.Load("v", 10)
		if err == nil && found {
			loaded = m
			break
		}
		if time.Since(began) > 4*time.Second {
			t.Fatalf("the survivor could not take the task over in %v while the paused member held it: %v", time.Since(began), err)
		}
	}
	t.Logf("taken over %v after the pause began", time.Since(began).Round(time.Millisecond))
	if loaded.LastSeq != 1 {
		t.Fatalf("loaded last_seq %d, want 1: the paused commit was never sent", loaded.LastSeq)
	}
	close(release)
	released = true
	if err := <-paused; err == nil && !inHand[0].Fenced {
		t.Fatal("the paused commit was acknowledged after its session had ended")
	}
	retry := []journal.Append{{TaskID: "v", Meta: meta, Entries: journaltest.Entries(2, 2)}}
	if err := victim.Commit(retry); err != nil || !retry[0].Fenced {
		t.Fatalf("the paused activation's next commit: %v refused=%v, want refused as stale", err, retry[0].Fenced)
	}
}

// A load never fails because the task's current owner commits while it runs: the new
// owner claims the task first, and the old one's commits are refused from then on.
func TestPostgresLoadBesideAWritingOwner(t *testing.T) {
	url := pgtest.ForTest(t)
	a, err := postgres.Open(url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	meta := journal.Meta{Epoch: "e"}
	journaltest.Commit(t, a, "w", 1, 1, &meta)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Go(func() { // the owner writes one entry after another until it is refused
		for seq := uint64(2); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			m := meta
			m.LastSeq = seq
			as := []journal.Append{{TaskID: "w", Meta: m, Entries: journaltest.Entries(seq, seq)}}
			if err := a.Commit(as); err != nil || as[0].Fenced {
				return
			}
			meta = as[0].Meta
			written.Add(1)
		}
	})
	defer func() { close(stop); wg.Wait() }()
	for deadline := time.Now().Add(5 * time.Second); written.Load() < 5; {
		if time.Now().After(deadline) {
			t.Fatal("the owner wrote nothing")
		}
		time.Sleep(time.Millisecond)
	}
	loaded, _, found, err := b.Load("w", 10)
	if err != nil || !found {
		t.Fatalf("a load beside the owner's commits: found=%v %v", found, err)
	}
	if loaded.LastSeq == 0 {
		t.Fatalf("loaded %+v", loaded)
	}
}
