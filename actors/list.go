package actors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// The task list (GET /v1/tasks), a page at a time. The tasks in memory come from the list
// index (list_index.go), in a cluster from every member's; those only the journal holds,
// from the journal's activity order (journal.ListActive). Both are walked from where the
// page starts and stop where it ends, so a page reads about a page of tasks, however many
// there are, and asks no task actor anything.

// listerName names the actor of every cluster member that answers ListTasks.
const listerName = "tasktail-tasks"

// ListQuery asks for one page of the task list.
type ListQuery struct {
	Prefix string // task_ids that start with it
	State  string // "" for any, else one of wire.State's: running, finished, failed
	// After is where the previous page ended (its last task's activity time and task_id);
	// journal.Newest for the first page.
	After journal.Position
	Limit int // at most this many tasks (1 or more)
}

// admits reports whether a task at at, finished and failed as given, belongs to the page q
// asks for (not counting its limit): the one filter of the list, in memory, in the journal
// and across members.
func (q ListQuery) admits(at journal.Position, finished, failed bool) bool {
	return strings.HasPrefix(at.TaskID, q.Prefix) && (q.State == "" || wire.State(finished, failed) == q.State) && q.After.Compare(at) < 0
}

// matches is admits for a task's status.
func (q ListQuery) matches(st *v1.Status) bool {
	return q.admits(positionOf(st), st.Finished, st.Failed)
}

// positionOf is a listed task's place in the list's order.
func positionOf(st *v1.Status) journal.Position {
	return journal.Position{Active: st.LastActiveUnixNano, TaskID: st.TaskId}
}

// newerFirst orders the list (journal.Position): the most recently active first.
func newerFirst(a, b *v1.Status) int { return positionOf(a).Compare(positionOf(b)) }

// ListPage returns a page of the task list in its order: the tasks q matches, at most
// q.Limit+1 of them; the one past q.Limit, if there, says that more follow (the next page
// starts after the q.Limit-th). Tasks in memory (on every cluster member) show as they
// stand; with a journal, tasks only the journal holds show as it has them. A task nobody
// has published to is not listed.
func (m *Manager) ListPage(ctx context.Context, q ListQuery) ([]*v1.Status, error) {
	list, err := m.listPage(ctx, q)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		// Not the caller's deadline: the list took longer than RequestTimeout.
		return nil, fmt.Errorf("%w: the task list did not finish within the request timeout", ErrTimeout)
	}
	return list, err
}

// ListTasks returns every task whose task_id starts with prefix, in the list's order,
// read a page at a time.
func (m *Manager) ListTasks(ctx context.Context, prefix string) ([]*v1.Status, error) {
	var all []*v1.Status
	q := ListQuery{Prefix: prefix, After: journal.Newest, Limit: 500}
	for {
		page, err := m.ListPage(ctx, q)
		if err != nil {
			return nil, err
		}
		if len(page) <= q.Limit {
			return append(all, page...), nil
		}
		all = append(all, page[:q.Limit]...)
		q.After = positionOf(page[q.Limit-1])
	}
}

func (m *Manager) listPage(ctx context.Context, q ListQuery) ([]*v1.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	n := q.Limit + 1
	var live []*v1.Status
	if m.cluster != nil {
		live = m.listMembers(ctx, q, n)
	} else {
		live = m.index.page(q, n)
	}
	if m.store == nil {
		return live, ctx.Err()
	}
	stored, err := m.listJournal(ctx, q, n, live)
	if err != nil {
		return nil, err
	}
	page := append(live, stored...)
	slices.SortFunc(page, newerFirst)
	return page[:min(len(page), n)], nil
}

// listJournal returns the first n tasks q matches that only the journal holds, or fewer:
// it stops where the page's tasks in memory (live, n of them when they fill it) end, since
// nothing past there can be on the page. The journal's tasks that are in memory are passed
// over: as they are in memory, they are at least as recently active there, so those passed
// over are about the page's own, plus those active since the journal last stored them.
// One that came into memory since live was read is taken as it is there.
func (m *Manager) listJournal(ctx context.Context, q ListQuery, n int, live []*v1.Status) ([]*v1.Status, error) {
	var end *journal.Position
	if len(live) == n {
		p := positionOf(live[n-1])
		end = &p
	}
	inPage := make(map[string]bool, len(live))
	for _, st := range live {
		inPage[st.TaskId] = true
	}
	var stored []*v1.Status
	err := m.store.w.Journal().ListActive(q.Prefix, q.After, func(l journal.Listing) (bool, error) {
		id := l.At.TaskID
		if end != nil && end.Compare(l.At) < 0 || ctx.Err() != nil {
			return false, nil
		}
		if inPage[id] {
			return true, nil
		}
		st, inMemory := m.index.matching(id, q)
		if inMemory && st == nil {
			return true, nil
		}
		if !inMemory {
			if !q.admits(l.At, l.Finished, l.Failed) {
				return true, nil // left out without reading its meta
			}
			meta, found, err := l.Meta()
			if err != nil || !found {
				return err == nil, err
			}
			st = &v1.Status{TaskId: id, Found: true, Epoch: meta.Epoch, LastSeq: meta.LastSeq, Progress: meta.Progress,
				Finished: meta.Finished, Failed: meta.Failed, LastActiveUnixNano: meta.Active}
		}
		if q.matches(st) {
			stored = append(stored, st)
		}
		return len(stored) < n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJournalUnavailable, err)
	}
	return stored, ctx.Err()
}

// listMembers asks every member's lister for its first n tasks of the page and merges
// them; a member that does not answer in time leaves its tasks out, and the list is what
// the others hold.
func (m *Manager) listMembers(ctx context.Context, q ListQuery, n int) []*v1.Status {
	members := m.cluster.member.Members()
	lists := make([][]*v1.Status, len(members))
	ask := &v1.ListTasks{Prefix: q.Prefix, State: q.State, AfterActive: q.After.Active, AfterTaskId: q.After.TaskID, Limit: uint32(n)}
	var wg sync.WaitGroup
	for i, member := range members {
		wg.Go(func() {
			reply, err := m.system.Root.RequestFuture(actor.NewPID(member, listerName), ask, m.cfg.RequestTimeout).Result()
			if l, ok := reply.(*v1.TaskList); ok && err == nil {
				lists[i] = l.Tasks
			}
		})
	}
	wg.Wait()
	byID := map[string]*v1.Status{}
	for _, l := range lists {
		for _, st := range l {
			// A grain moving between members may answer twice: the latest activity wins.
			// (A member from before pages answers all its tasks: q sorts them out.)
			if old := byID[st.TaskId]; q.matches(st) && (old == nil || st.LastActiveUnixNano > old.LastActiveUnixNano) {
				byID[st.TaskId] = st
			}
		}
	}
	out := make([]*v1.Status, 0, len(byID))
	for _, st := range byID {
		out = append(out, st)
	}
	slices.SortFunc(out, newerFirst)
	return out[:min(len(out), n)]
}

// lister answers a cluster member's ListTasks from the member's list index.
type lister struct{ index *listIndex }

// spawnLister starts a member's lister under listerName.
func spawnLister(system *actor.ActorSystem, index *listIndex) (*actor.PID, error) {
	return system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &lister{index: index} }), listerName)
}

func (l *lister) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*v1.ListTasks); ok {
		q := ListQuery{Prefix: m.Prefix, State: m.State, After: journal.Position{Active: m.AfterActive, TaskID: m.AfterTaskId}}
		n := int(m.Limit)
		if n == 0 { // a member from before pages asks for every task
			q.After, n = journal.Newest, math.MaxInt
		}
		ctx.Respond(&v1.TaskList{Tasks: l.index.page(q, n)})
	}
}
