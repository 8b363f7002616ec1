package pebble_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/pebble"
)

// BenchmarkCommitOne is what the journal costs a single publish, without the sync: one
// append of one 100-byte entry per commit, to 100 tasks in turn, each task's meta
// carried on as the Writer does (the sync is the same cost whatever the commit holds).
func BenchmarkCommitOne(b *testing.B) {
	p, err := pebble.Open(b.TempDir(), pebble.Options{BallastBytes: -1, SyncInterval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	const tasks = 100
	metas := make([]journal.Meta, tasks)
	ids := make([]string, tasks)
	for i := range ids {
		ids[i] = "bench-1764790000000000000-" + strconv.Itoa(i)
		metas[i] = journal.Meta{Epoch: journal.NewEpoch()}
	}
	message := strings.Repeat("x", 100)
	b.ReportAllocs()
	b.ResetTimer()
	for n := range b.N {
		i := n % tasks
		m := metas[i]
		m.LastSeq++
		m.Active = time.Now().UnixNano()
		a := []journal.Append{{TaskID: ids[i], Meta: m, Entries: []journal.Entry{{Seq: m.LastSeq, TimeUnixNano: m.Active, Message: message}}}}
		if err := p.Commit(a); err != nil {
			b.Fatal(err)
		}
		metas[i] = a[0].Meta
	}
}
