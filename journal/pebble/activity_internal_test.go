package pebble

import (
	"slices"
	"strconv"
	"testing"

	pebbledb "github.com/cockroachdb/pebble/v2"
	"github.com/tasktail/tasktail/journal"
)

// A journal written before the activity order existed gets it when it opens: every task
// is listed, in order.
func TestPebbleOrdersTheTasksOfAnOlderJournal(t *testing.T) {
	dir := t.TempDir()
	p, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for id, active := range map[string]int64{"a": 10, "b": 20, "c": 15} {
		if err := p.Commit([]journal.Append{{TaskID: id, Meta: journal.Meta{Epoch: "e", LastSeq: 1, Active: active}, Entries: []journal.Entry{{Seq: 1, Message: "m"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	// As an older journal has it: no activity keys, no mark.
	if err := p.db.DeleteRange([]byte{'a'}, []byte{'b'}, pebbledb.Sync); err != nil {
		t.Fatal(err)
	}
	if err := p.db.Delete(activityIndexed, pebbledb.Sync); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if p, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var got []string
	if err := p.ListActive("", journal.Newest, func(l journal.Listing) (bool, error) { got = append(got, l.At.TaskID); return true, nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != "b" || got[1] != "c" || got[2] != "a" {
		t.Fatalf("listed %v, want b c a", got)
	}
}

// A prefix that more than prefixFew tasks have is walked in the activity order, as one
// that few have is read and sorted: both list the same tasks in the same order.
func TestPebbleListsAManyTaskPrefixInOrder(t *testing.T) {
	p, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var appends []journal.Append
	for i := range prefixFew + 10 {
		for _, prefix := range []string{"many-", "other-"} {
			id := prefix + strconv.Itoa(i)
			appends = append(appends, journal.Append{TaskID: id, Meta: journal.Meta{Epoch: "e", LastSeq: 1, Active: int64(i % 7)}, Entries: []journal.Entry{{Seq: 1, Message: "m"}}})
		}
	}
	if err := p.Commit(appends); err != nil {
		t.Fatal(err)
	}
	var got []journal.Position
	after := journal.Position{Active: 5, TaskID: "many-500"}
	if err := p.ListActive("many-", after, func(l journal.Listing) (bool, error) { got = append(got, l.At); return true, nil }); err != nil {
		t.Fatal(err)
	}
	var want []journal.Position
	for i := range prefixFew + 10 {
		if at := (journal.Position{Active: int64(i % 7), TaskID: "many-" + strconv.Itoa(i)}); after.Compare(at) < 0 {
			want = append(want, at)
		}
	}
	slices.SortFunc(want, journal.Position.Compare)
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d tasks, want %d in order (first %v, want %v)", len(got), len(want), got[:min(3, len(got))], want[:3])
	}
}
