package tests

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/backends"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"google.golang.org/protobuf/proto"
)

// manyTasksComeAndGo publishes one message to each of n task ids from 8 goroutines, then
// waits until every task has passivated.
func manyTasksComeAndGo(tb testing.TB, m *actors.Manager, n int) {
	tb.Helper()
	entry := []*v1.LogInput{{Level: v1.Level_LEVEL_INFO, Message: strings.Repeat("rows 1000-2000 imported. ", 80), Progress: proto.Float64(42)}} // 2 KB
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if _, err := m.Publish(context.Background(), "come-and-go-"+strconv.Itoa(i), entry); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for m.Stats().LiveTasks.Load() > 0 {
		if time.Now().After(deadline) {
			tb.Fatalf("%d tasks still live a minute after the last publish", m.Stats().LiveTasks.Load())
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// BenchmarkHeapAfterTasksGo reports the live heap of an in-process server (durable
// journal) at its baseline and after 300,000 tasks were published to once and passivated:
// no stopped task stays reachable, and maps keyed by task are made again smaller; what
// stays is the actor library's registry, whose maps keep their largest size.
func BenchmarkHeapAfterTasksGo(b *testing.B) {
	for b.Loop() {
		j, err := backends.Open(journal.KindPebble, backends.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		m, err := actors.NewManager(actors.Config{MaxTasks: 1_000_000, IdleTTL: 300 * time.Millisecond, FinishedTTL: 300 * time.Millisecond},
			actors.Options{Journal: j})
		if err != nil {
			b.Fatal(err)
		}
		manyTasksComeAndGo(b, m, 1000)
		base := actortest.HeapAfterGC()
		manyTasksComeAndGo(b, m, 300_000)
		after := actortest.HeapAfterGC()
		b.ReportMetric(float64(base)/(1<<20), "MiB-baseline")
		b.ReportMetric(float64(after)/(1<<20), "MiB-after-300k")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = m.Shutdown(ctx) // closes the journal
		cancel()
	}
}
