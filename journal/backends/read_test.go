package backends_test

import (
	"strings"
	"testing"

	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/journaltest"
)

// A commit larger than a chunk is stored as several, and a read from any seq goes over
// them a page at a time, every entry once and in order.
func TestReadGoesOverManyChunksInPages(t *testing.T) {
	for name, open := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			j := open(t)
			var batch []journal.Entry
			big := strings.Repeat("x", 3000)
			for _, e := range journaltest.Entries(1, 400) { // ~1.2 MB in one commit: many chunks, many pages
				e.Message += big
				batch = append(batch, e)
			}
			a := []journal.Append{{TaskID: "big", Meta: journal.Meta{Epoch: "e", LastSeq: 400}, Entries: batch}}
			if err := j.Commit(a); err != nil || a[0].Fenced {
				t.Fatalf("commit: %v %v", err, a[0].Fenced)
			}
			meta := a[0].Meta
			journaltest.Commit(t, j, "big", 401, 410, &meta)
			for _, from := range []uint64{0, 1, 2, 21, 22, 150, 400, 401, 405, 410, 411} {
				var got []uint64
				if err := j.Read("big", from, func(e journal.Entry) bool {
					if e.Seq <= 400 && !strings.HasSuffix(e.Message, big) {
						t.Fatalf("entry %d lost its message", e.Seq)
					}
					got = append(got, e.Seq)
					return true
				}); err != nil {
					t.Fatal(err)
				}
				want := max(from, 1)
				if uint64(len(got)) != 411-want || len(got) > 0 && (got[0] != want || got[len(got)-1] != 410) {
					t.Fatalf("read from %d: %d entries %v…, want %d..410", from, len(got), got[:min(len(got), 3)], want)
				}
				for i := 1; i < len(got); i++ {
					if got[i] != got[i-1]+1 {
						t.Fatalf("read from %d: %d after %d", from, got[i], got[i-1])
					}
				}
			}
		})
	}
}
