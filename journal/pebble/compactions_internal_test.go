package pebble

import (
	"strconv"
	"testing"
	"time"

	"github.com/tasktail/tasktail/journal"
)

// The journal's compaction scheduler, which looks only when something happens, still
// compacts: level 0 files that flushes pile up are compacted away, what was written reads
// back, and the journal closes.
func TestPebbleCompactsWithoutATimer(t *testing.T) {
	p, err := Open(t.TempDir(), Options{BallastBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	const tasks, flushes = 20, 12
	for f := range flushes {
		seq := uint64(f + 1)
		for i := range tasks {
			a := journal.Append{TaskID: "t" + strconv.Itoa(i), Meta: journal.Meta{Epoch: "e", LastSeq: seq, Active: int64(seq)},
				Entries: []journal.Entry{{Seq: seq, Message: "line " + strconv.Itoa(f)}}}
			if err := p.Commit([]journal.Append{a}); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	threshold := p.db.Metrics().Levels[0].TablesCount
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := p.db.Metrics()
		if m.Compact.Count > 0 && m.Levels[0].TablesCount < 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d flushes: %d compactions, %d files in level 0 (%d after the flushes)", flushes, m.Compact.Count, m.Levels[0].TablesCount, threshold)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range tasks {
		n := 0
		if err := p.Read("t"+strconv.Itoa(i), 1, func(e journal.Entry) bool { n++; return true }); err != nil {
			t.Fatal(err)
		}
		if n != flushes {
			t.Fatalf("task t%d reads %d entries, want %d", i, n, flushes)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
