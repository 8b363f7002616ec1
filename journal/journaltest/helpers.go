package journaltest

import (
	"fmt"
	"testing"

	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/pebble"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// Entries returns entries from..to with messages "m<seq>".
func Entries(from, to uint64) []journal.Entry {
	var out []journal.Entry
	for s := from; s <= to; s++ {
		out = append(out, journal.Entry{Seq: s, TimeUnixNano: int64(s) * 1000, Level: v1.Level_LEVEL_INFO,
			Message: fmt.Sprintf("m%d", s), Progress: float64(s % 101), Finished: false})
	}
	return out
}

// Commit writes entries from..to with meta, and keeps in meta what the journal stored,
// as a task does for its next write.
func Commit(t *testing.T, j journal.Journal, taskID string, from, to uint64, meta *journal.Meta) {
	t.Helper()
	meta.LastSeq = to
	a := []journal.Append{{TaskID: taskID, Meta: *meta, Entries: Entries(from, to)}}
	if err := j.Commit(a); err != nil {
		t.Fatal(err)
	}
	if a[0].Fenced {
		t.Fatalf("commit to %s fenced", taskID)
	}
	*meta = a[0].Meta
}

// Seqs are the seqs of es.
func Seqs(es []journal.Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

// OpenPebble opens a Pebble journal in dir that is closed when t ends.
func OpenPebble(t testing.TB, dir string) *pebble.Journal {
	t.Helper()
	p, err := pebble.Open(dir, pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
