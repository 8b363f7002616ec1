package journal

import (
	"slices"
	"strconv"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// A journal written before the activity order existed gets it when it opens: every task
// is listed, in order.
func TestPebbleOrdersTheTasksOfAnOlderJournal(t *testing.T) {
	dir := t.TempDir()
	p, err := OpenPebble(dir, PebbleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for id, active := range map[string]int64{"a": 10, "b": 20, "c": 15} {
		if err := p.Commit([]Append{{TaskID: id, Meta: Meta{Epoch: "e", LastSeq: 1, Active: active}, Entries: []Entry{{Seq: 1, Message: "m"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	// As an older journal has it: no activity keys, no mark.
	if err := p.db.DeleteRange([]byte{'a'}, []byte{'b'}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := p.db.Delete(activityIndexed, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if p, err = OpenPebble(dir, PebbleOptions{}); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var got []string
	if err := p.ListActive("", Newest, func(l Listing) (bool, error) { got = append(got, l.At.TaskID); return true, nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != "b" || got[1] != "c" || got[2] != "a" {
		t.Fatalf("listed %v, want b c a", got)
	}
}

// A prefix that more than prefixFew tasks have is walked in the activity order, as one
// that few have is read and sorted: both list the same tasks in the same order.
func TestPebbleListsAManyTaskPrefixInOrder(t *testing.T) {
	p, err := OpenPebble(t.TempDir(), PebbleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var appends []Append
	for i := range prefixFew + 10 {
		for _, prefix := range []string{"many-", "other-"} {
			id := prefix + strconv.Itoa(i)
			appends = append(appends, Append{TaskID: id, Meta: Meta{Epoch: "e", LastSeq: 1, Active: int64(i % 7)}, Entries: []Entry{{Seq: 1, Message: "m"}}})
		}
	}
	if err := p.Commit(appends); err != nil {
		t.Fatal(err)
	}
	var got []Position
	after := Position{Active: 5, TaskID: "many-500"}
	if err := p.ListActive("many-", after, func(l Listing) (bool, error) { got = append(got, l.At); return true, nil }); err != nil {
		t.Fatal(err)
	}
	var want []Position
	for i := range prefixFew + 10 {
		if at := (Position{Active: int64(i % 7), TaskID: "many-" + strconv.Itoa(i)}); after.Compare(at) < 0 {
			want = append(want, at)
		}
	}
	slices.SortFunc(want, Position.Compare)
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d tasks, want %d in order (first %v, want %v)", len(got), len(want), got[:min(3, len(got))], want[:3])
	}
}
