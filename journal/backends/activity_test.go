package backends_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/journaltest"
)

// listActive returns "id@active" of the tasks ListActive gives from after, at most n.
func listActive(t *testing.T, j journal.Journal, prefix string, after journal.Position, n int) string {
	t.Helper()
	var got []string
	err := j.ListActive(prefix, after, func(l journal.Listing) (bool, error) {
		m, found, err := l.Meta()
		if err != nil || !found || m.Active != l.At.Active || m.Finished != l.Finished || m.Failed != l.Failed {
			t.Errorf("%s listed at %d (finished %v, failed %v), its meta %+v found=%v %v", l.At.TaskID, l.At.Active, l.Finished, l.Failed, m, found, err)
		}
		got = append(got, l.At.TaskID+"@"+strconv.FormatInt(m.Active, 10))
		return len(got) < n, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(got, " ")
}

// ListActive walks the tasks the most recently active first, ties by task_id bytewise,
// from after a position, within a prefix; a task moves when its activity does, and a
// deleted or swept one leaves the order.
func TestJournalListActive(t *testing.T) {
	for name, open := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			j := open(t)
			metas := map[string]*journal.Meta{}
			for id, active := range map[string]int64{"b": 30, "a": 30, "B": 30, "c": 10, "x-1": 20, "x-2": 40, "old": -5} {
				metas[id] = &journal.Meta{Epoch: "e", Active: active}
				journaltest.Commit(t, j, id, 1, 1, metas[id])
			}
			if got, want := listActive(t, j, "", journal.Newest, 100), "x-2@40 B@30 a@30 b@30 x-1@20 c@10 old@-5"; got != want {
				t.Fatalf("from the newest: %q, want %q", got, want)
			}
			if got, want := listActive(t, j, "", journal.Position{Active: 30, TaskID: "B"}, 2), "a@30 b@30"; got != want {
				t.Fatalf("after B@30, two: %q, want %q", got, want)
			}
			if got, want := listActive(t, j, "", journal.Position{Active: 25, TaskID: "zzz"}, 100), "x-1@20 c@10 old@-5"; got != want {
				t.Fatalf("after a position no task holds: %q, want %q", got, want)
			}
			if got, want := listActive(t, j, "x-", journal.Newest, 100), "x-2@40 x-1@20"; got != want {
				t.Fatalf("prefix x-: %q, want %q", got, want)
			}
			// c is active again (a meta-only write), old finishes (a write with entries).
			m := *metas["c"]
			m.Active = 50
			if err := j.Commit([]journal.Append{{TaskID: "c", Meta: m}}); err != nil {
				t.Fatal(err)
			}
			metas["old"].Active, metas["old"].Finished = 35, true
			journaltest.Commit(t, j, "old", 2, 2, metas["old"])
			if err := j.Delete("x-2"); err != nil {
				t.Fatal(err)
			}
			if got, want := listActive(t, j, "", journal.Newest, 100), "c@50 old@35 B@30 a@30 b@30 x-1@20"; got != want {
				t.Fatalf("after c moved, old finished and x-2 was deleted: %q, want %q", got, want)
			}
		})
	}
}
