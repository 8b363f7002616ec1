package actors_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// comeAndGo publishes once to each of n new tasks from 8 goroutines, then waits until
// every task has passivated.
func comeAndGo(t *testing.T, m *actors.Manager, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if _, err := m.SendLog(context.Background(), prefix+strconv.Itoa(i), v1.Level_LEVEL_INFO, "rows imported", 42, false); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	actortest.AwaitCondition(t, 60*time.Second, "every task passivated", func() bool { return m.Stats().LiveTasks.Load() == 0 })
}

// An idle process's heap comes back within twice its baseline after many tasks came and
// went, and keeps nothing per task gone: the task list's index holds no entry for them,
// nor do the registry's maps or the actor library's process registry (release.go).
// BenchmarkHeapAfterTasksGo in tests/ measures a server with a journal and 300,000 tasks.
func TestHeapComesBackAfterTasksGo(t *testing.T) {
	const tasks = 10_000
	m := newManager(t, actors.Config{MaxTasks: 2 * tasks, IdleTTL: 50 * time.Millisecond, FinishedTTL: 50 * time.Millisecond}, actors.Options{})
	// In waves of 1,000, as the warm-up: the actor library's process registry keeps its
	// maps at their largest (a slot per task at the peak, which the operator guide prices),
	// so the test holds the peak where the baseline put it and measures what each task
	// gone leaves behind. All 10,000 at once grew the heap by 68–130 bytes per task without
	// -race, which was the registry's peak, not a leak.
	comeAndGo(t, m, "warm-", 1000)
	base := actortest.HeapAfterGC()
	for wave := range tasks / 1000 {
		comeAndGo(t, m, "gone-"+strconv.Itoa(wave)+"-", 1000)
	}
	after := actortest.HeapAfterGC()
	t.Logf("heap %.2f MiB at the baseline, %.2f MiB after %d tasks came and went", float64(base)/(1<<20), float64(after)/(1<<20), tasks)
	if n := m.Listed(); n != 0 {
		t.Errorf("the list index keeps %d entries for tasks that are gone", n)
	}
	if after > 2*base {
		t.Errorf("heap %.2f MiB after %d tasks came and went: more than twice its baseline of %.2f MiB", float64(after)/(1<<20), tasks, float64(base)/(1<<20))
	}
	// A task's entry in the list index costs about 200 bytes: a third of that per task
	// gone is a leak.
	if grown := int64(after) - int64(base); grown > tasks*64 {
		t.Errorf("heap grew by %d bytes per task gone (%d in all), want nothing per task", grown/tasks, grown)
	}
}
