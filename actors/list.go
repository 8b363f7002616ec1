package actors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// The task list (GET /v1/tasks): every task a node holds in memory answers its status to
// a collector; tasks the journal holds and memory does not are added from their metas. In
// a cluster each member's lister gathers its own grains, and the asking member merges.

// listerName names the actor of every cluster member that answers ListTasks.
const listerName = "tasktail-tasks"

// listTasks asks a registry shard for its live tasks whose task_id starts with prefix.
type listTasks struct{ prefix string }

// listedTasks answers listTasks: the tasks' PIDs and task_ids. The shard counted a routed
// message for each, the GetStatus the collector sends it.
type listedTasks struct {
	pids []*actor.PID
	ids  []string
}

// grainUp and grainDown tell a member's lister which grains it holds.
type grainUp struct {
	taskID string
	pid    *actor.PID
}

type grainDown grainUp

// ListTasks returns the status of every task whose task_id starts with prefix, in no
// particular order: those in memory (on every cluster member) and, with a journal, those
// only the journal holds. A task nobody has published to is not among them.
func (m *Manager) ListTasks(ctx context.Context, prefix string) ([]*v1.Status, error) {
	list, err := m.listTasks(ctx, prefix)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		// Not the caller's deadline: the list took longer than RequestTimeout.
		return nil, fmt.Errorf("%w: the task list did not finish within the request timeout", ErrTimeout)
	}
	return list, err
}

func (m *Manager) listTasks(ctx context.Context, prefix string) ([]*v1.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	var live []*v1.Status
	var err error
	if m.cluster != nil {
		live, err = m.listMembers(ctx, prefix)
	} else {
		live, err = m.listLocal(ctx, prefix)
	}
	if err != nil {
		return nil, err
	}
	if m.store == nil {
		return live, nil
	}
	seen := make(map[string]bool, len(live))
	for _, st := range live {
		seen[st.TaskId] = true
	}
	err = m.store.w.Journal().List(prefix, func(id string, meta journal.Meta) bool {
		if !seen[id] {
			live = append(live, &v1.Status{TaskId: id, Found: true, Epoch: meta.Epoch, LastSeq: meta.LastSeq,
				Progress: meta.Progress, Finished: meta.Finished, Failed: meta.Failed, LastActiveUnixNano: meta.Active})
		}
		return ctx.Err() == nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJournalUnavailable, err)
	}
	return live, ctx.Err()
}

// listLocal asks the Registry's shards for their live tasks, then the tasks for their
// status.
func (m *Manager) listLocal(ctx context.Context, prefix string) ([]*v1.Status, error) {
	r := m.router.(*Registry)
	var pids []*actor.PID
	var ids []string
	for _, shard := range r.shards {
		reply, err := m.system.Root.RequestFuture(shard, listTasks{prefix: prefix}, m.cfg.RequestTimeout).Result()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrTimeout, err)
		}
		listed := reply.(listedTasks)
		pids, ids = append(pids, listed.pids...), append(ids, listed.ids...)
	}
	return m.collect(ctx, pids, ids)
}

// collect asks each task for its status and returns those that answered in time.
func (m *Manager) collect(ctx context.Context, pids []*actor.PID, ids []string) ([]*v1.Status, error) {
	done := make(chan []*v1.Status, 1)
	deadline, _ := ctx.Deadline()
	within := time.Until(deadline) * 4 / 5 // what answered, before the caller gives up
	m.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &statusCollector{pids: pids, ids: ids, within: within, done: func(l *v1.TaskList) { done <- l.Tasks }}
	}))
	select {
	case got := <-done:
		return got, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// listMembers asks every member's lister and merges their lists; a member that does not
// answer in time leaves its tasks out, and the list is what the others hold.
func (m *Manager) listMembers(ctx context.Context, prefix string) ([]*v1.Status, error) {
	members := m.cluster.member.Members()
	lists := make([][]*v1.Status, len(members))
	var wg sync.WaitGroup
	for i, member := range members {
		wg.Go(func() {
			reply, err := m.system.Root.RequestFuture(actor.NewPID(member, listerName), &v1.ListTasks{Prefix: prefix}, m.cfg.RequestTimeout).Result()
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
			if old := byID[st.TaskId]; old == nil || st.LastActiveUnixNano > old.LastActiveUnixNano {
				byID[st.TaskId] = st
			}
		}
	}
	out := make([]*v1.Status, 0, len(byID))
	for _, st := range byID {
		out = append(out, st)
	}
	return out, ctx.Err()
}

// statusCollector asks tasks for their status and hands the found ones to done (or sends
// them to replyTo) once all answered or within passed, then stops.
type statusCollector struct {
	pids    []*actor.PID
	ids     []string
	within  time.Duration
	done    func(*v1.TaskList)
	replyTo *actor.PID
	got     []*v1.Status
	left    int
}

func (c *statusCollector) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.left = len(c.pids)
		for i, pid := range c.pids {
			ctx.Request(pid, &v1.GetStatus{TaskId: c.ids[i]})
		}
		if c.left == 0 {
			c.finish(ctx)
			return
		}
		ctx.SetReceiveTimeout(max(c.within, time.Millisecond))
	case *v1.Status:
		if m.Found { // a grain nobody published to answers not found
			c.got = append(c.got, m)
		}
		c.answered(ctx)
	case *v1.TaskFailure, *v1.Refused:
		c.answered(ctx)
	case *actor.ReceiveTimeout:
		c.finish(ctx)
	}
}

func (c *statusCollector) answered(ctx actor.Context) {
	if c.left--; c.left == 0 {
		c.finish(ctx)
	}
}

func (c *statusCollector) finish(ctx actor.Context) {
	ctx.CancelReceiveTimeout()
	list := &v1.TaskList{Tasks: c.got}
	if c.done != nil {
		c.done(list)
	} else {
		ctx.Send(c.replyTo, list)
	}
	c.done, c.replyTo = nil, nil
	ctx.Stop(ctx.Self())
}

// lister is a cluster member's record of its grains, and answers ListTasks with their
// statuses within timeout.
type lister struct {
	grains  map[string]*actor.PID
	timeout time.Duration
}

// spawnLister starts a member's lister under listerName; its grains report to it.
func spawnLister(system *actor.ActorSystem, cfg *Config) (*actor.PID, error) {
	return system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &lister{grains: map[string]*actor.PID{}, timeout: cfg.RequestTimeout / 2}
	}), listerName)
}

func (l *lister) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *grainUp:
		l.grains[m.taskID] = m.pid
	case *grainDown:
		if pid := l.grains[m.taskID]; pid != nil && pid.Equal(m.pid) {
			delete(l.grains, m.taskID)
		}
	case *v1.ListTasks:
		var pids []*actor.PID
		var ids []string
		for id, pid := range l.grains {
			if strings.HasPrefix(id, m.Prefix) {
				pids, ids = append(pids, pid), append(ids, id)
			}
		}
		ctx.Spawn(actor.PropsFromProducer(func() actor.Actor {
			return &statusCollector{pids: pids, ids: ids, within: l.timeout, replyTo: ctx.Sender()}
		}))
	}
}
