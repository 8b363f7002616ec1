package actors_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/pebble"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
	"google.golang.org/protobuf/proto"
)

// countingJournal counts the tasks a journal hands to the list.
type countingJournal struct {
	journal.Journal
	listed atomic.Int64
}

func (j *countingJournal) List(prefix string, fn func(string, journal.Meta) bool) error {
	return j.Journal.List(prefix, func(id string, m journal.Meta) bool { j.listed.Add(1); return fn(id, m) })
}

func (j *countingJournal) ListActive(prefix string, after journal.Position, fn func(journal.Listing) (bool, error)) error {
	return j.Journal.ListActive(prefix, after, func(l journal.Listing) (bool, error) { j.listed.Add(1); return fn(l) })
}

// firstPage returns the first page of the task list, as GET /v1/tasks?limit=n reads it.
func firstPage(t *testing.T, m *actors.Manager, n int) []*v1.Status {
	t.Helper()
	page, err := m.ListPage(context.Background(), actors.ListQuery{After: journal.Newest, Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	return page[:min(len(page), n)]
}

// A page of the list costs a page, not the tasks: among 1,000 tasks in memory (and in the
// journal), the first page of 20 sends no message to any task actor and reads about a
// page of the journal's tasks, and it holds the 20 most recently active.
func TestListPageReadsAPage(t *testing.T) {
	const tasks, limit = 1000, 20
	var received atomic.Int64
	counting := func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
			received.Add(1)
			next(ctx, env)
		}
	}
	pj, err := pebble.Open(t.TempDir(), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	j := &countingJournal{Journal: pj}
	m := newManager(t, actors.Config{MaxTasks: 2 * tasks}, actors.Options{Journal: j, TaskMiddleware: []actor.ReceiverMiddleware{counting}})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < tasks; i += 8 {
				if _, err := m.SendLog(context.Background(), "page-"+strconv.Itoa(i), v1.Level_LEVEL_INFO, "m", 0, false); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if m.Stats().LiveTasks.Load() != tasks {
		t.Fatalf("%d tasks in memory, want %d", m.Stats().LiveTasks.Load(), tasks)
	}
	all, err := m.ListTasks(context.Background(), "")
	if err != nil || len(all) != tasks {
		t.Fatalf("every task: %d, %v", len(all), err)
	}
	received.Store(0)
	j.listed.Store(0)
	walked := m.ListWalked()
	page := firstPage(t, m, limit)
	if n := m.ListWalked() - walked; n > limit+1 {
		t.Errorf("a page of %d among %d tasks read %d entries of the list index, want a page", limit, tasks, n)
	}
	if n := received.Load(); n != 0 {
		t.Errorf("a page of %d among %d tasks sent %d messages to task actors, want none", limit, tasks, n)
	}
	if n := j.listed.Load(); n > 2*(limit+1) {
		t.Errorf("a page of %d among %d tasks read %d tasks of the journal, want about a page", limit, tasks, n)
	}
	for i, st := range page {
		if want := all[i]; len(page) != limit || st.TaskId != want.TaskId || st.LastActiveUnixNano != want.LastActiveUnixNano {
			t.Fatalf("page[%d] = %s, want %s (of %d)", i, st.TaskId, want.TaskId, len(page))
		}
	}
}

// pages lists q page by page and returns "id:state" of every task, pages split by "|".
func pages(t *testing.T, m *actors.Manager, q actors.ListQuery) string {
	t.Helper()
	var out []string
	for range 20 {
		page, err := m.ListPage(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range page[:min(len(page), q.Limit)] {
			out = append(out, st.TaskId+":"+wire.StateOf(st))
		}
		if len(page) <= q.Limit {
			return strings.Join(out, " ")
		}
		out = append(out, "|")
		q.After = journal.Position{Active: page[q.Limit-1].LastActiveUnixNano, TaskID: page[q.Limit-1].TaskId}
	}
	t.Fatal("more than 20 pages")
	return ""
}

// A page merges the tasks in memory with those only the journal holds, in one order,
// each task once (as it is in memory when it is there), across pages and filters.
func TestListPageMergesMemoryAndJournal(t *testing.T) {
	dir := t.TempDir()
	m, stop := durable(t, dir, actors.Config{})
	ctx := context.Background()
	for _, id := range []string{"j-0", "j-1", "j-2", "j-3", "j-4"} {
		sendN(t, m, id, 1, 1)
	}
	if _, err := m.SendLog(ctx, "j-4", v1.Level_LEVEL_ERROR, "broke", 0, true); err != nil {
		t.Fatal(err)
	}
	stop() // the tasks are the journal's alone now
	m, _ = durable(t, dir, actors.Config{})
	for _, id := range []string{"l-0", "j-1", "l-1", "j-3"} {
		sendN(t, m, id, 1, 1)
	}
	q := actors.ListQuery{After: journal.Newest, Limit: 2}
	if got, want := pages(t, m, q), "j-3:running l-1:running | j-1:running l-0:running | j-4:failed j-2:running | j-0:running"; got != want {
		t.Fatalf("pages of 2:\n%s, want\n%s", got, want)
	}
	q.State, q.Limit = "running", 3
	if got, want := pages(t, m, q), "j-3:running l-1:running j-1:running | l-0:running j-2:running j-0:running"; got != want {
		t.Fatalf("running, pages of 3:\n%s, want\n%s", got, want)
	}
	q.State, q.Prefix = "", "j-"
	if got, want := pages(t, m, q), "j-3:running j-1:running j-4:failed | j-2:running j-0:running"; got != want {
		t.Fatalf("prefix j-, pages of 3:\n%s, want\n%s", got, want)
	}
	if st := status(t, m, "j-1"); st.LastSeq != 2 {
		t.Fatalf("j-1: last seq %d, want 2 (listed from memory)", st.LastSeq)
	}
}

// A task in memory is listed as its status says it is, field for field: the list's items
// and the status answer are one shape (wire.AppendStatus), so they must not disagree.
func TestListedTaskIsItsStatus(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	ctx := context.Background()
	sendN(t, m, "queued", 1, 3) // nobody watches: three queued
	sendN(t, m, "watched", 1, 2)
	connect(t, m, "watched")
	page, err := m.ListPage(ctx, actors.ListQuery{After: journal.Newest, Limit: 10})
	if err != nil || len(page) != 2 {
		t.Fatalf("page %v %v", page, err)
	}
	for _, listed := range page {
		st, err := m.Status(ctx, listed.TaskId)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(listed, st) {
			t.Errorf("%s listed as %v, its status is %v", listed.TaskId, listed, st)
		}
	}
}

// A filtered page that passes over more tasks than the index walks per hold of its lock
// finds every task it asks for, once, in order, page after page.
func TestFilteredPagesWalkPastManyTasks(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	ctx := context.Background()
	for i := range 1200 {
		if _, err := m.SendLog(ctx, "walk-"+strconv.Itoa(i), v1.Level_LEVEL_INFO, "m", 0, i%200 == 0); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	q := actors.ListQuery{State: "finished", After: journal.Newest, Limit: 2}
	for range 10 {
		page, err := m.ListPage(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for i, st := range page {
			if i < q.Limit {
				got = append(got, st.TaskId)
			}
		}
		if len(page) <= q.Limit {
			break
		}
		last := page[q.Limit-1]
		q.After = journal.Position{Active: last.LastActiveUnixNano, TaskID: last.TaskId}
	}
	want := []string{"walk-1000", "walk-800", "walk-600", "walk-400", "walk-200", "walk-0"}
	if !slices.Equal(got, want) {
		t.Fatalf("finished tasks listed %v, want %v", got, want)
	}
}
