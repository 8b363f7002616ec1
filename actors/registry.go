package actors

import (
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// registryShards spreads tasks over several registry actors so that routing is not one
// mailbox for the whole process.
const registryShards = 16

// Registry is the local Router: a fixed set of registry actors, each the supervising parent
// of the task actors whose task_id hashes to it. Every routed message passes through the
// task's registry actor, which forwards it with the original sender. Because the registry
// is the only way in, it knows exactly what it has forwarded, and that makes stopping a
// task safe: nothing can be on its way to a task the registry stops (see taskIdle).
type Registry struct {
	root   *actor.RootContext
	shards [registryShards]*actor.PID
	seed   maphash.Seed
}

// taskCount is the number of tasks mapped in all shards, against Config.MaxTasks.
type taskCount struct {
	n   atomic.Int64
	max int64
}

// reserve counts one more task unless that would pass the limit.
func (c *taskCount) reserve() bool {
	if c.n.Add(1) > c.max {
		c.n.Add(-1)
		return false
	}
	return true
}

// taskIdle is a task actor's request to be passivated. It carries the number of routed
// messages the task has handled; the registry agrees only when that is everything it
// forwarded, so a message in flight is never lost with the actor.
type taskIdle struct {
	taskID string
	task   *actor.PID
	routed uint64
}

type taskRef struct {
	pid    *actor.PID
	routed uint64
	// waiting: no publish created the task yet; it counts against Config.MaxWaitingTasks
	// instead of MaxTasks.
	waiting bool
}

// taskFound is a waiting task actor's word that the journal had its task.
type taskFound struct{ task *actor.PID }

// registryActor routes to and supervises the tasks of one shard. It is its children's
// supervision strategy itself (protoactor asks the parent actor first), because stopping a
// failing task must unmap it in the same step; the strategy runs on the registry's own
// goroutine, so it may touch the map.
type registryActor struct {
	sweepEvery time.Duration
	sweeper    *time.Timer
	tasks      map[string]*taskRef
	peak       int        // the most tasks since tasks was last made (see shrunk)
	stopping   bool       // the registry is stopping, and its tasks with it
	count      *taskCount // shared by all shards
	waiting    *taskCount // waiting task actors (taskRef.waiting), shared by all shards
	spawned    uint64     // generations handed out, for child names
	taskProps  *actor.Props
	stats      *Stats
	// journaled: a task not in memory may be in the journal, so every routed message
	// starts its actor, which loads it and answers for it if it does not exist.
	journaled  bool
	supervisor taskSupervisor
}

// HandleFailure implements actor.SupervisorStrategy for the registry's children.
func (r *registryActor) HandleFailure(system *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason any, message any) {
	r.supervisor.HandleFailure(system, supervisor, child, rs, reason, message)
}

func (r *registryActor) unmap(task *actor.PID) {
	if taskID, ok := taskIDOfName(task); ok {
		if ref := r.tasks[taskID]; ref != nil && ref.pid.Equal(task) {
			r.remove(taskID)
		}
	}
}

// remove forgets a task: nothing more is routed to it.
func (r *registryActor) remove(taskID string) {
	if r.tasks[taskID].waiting {
		r.waiting.n.Add(-1)
	} else {
		r.count.n.Add(-1)
	}
	delete(r.tasks, taskID)
	r.tasks = shrunk(r.tasks, &r.peak)
}

// created counts a waiting task as a task from now on; it fails when the node has its
// maximum of tasks, unless force (the journal has the task: it exists already).
func (r *registryActor) created(ref *taskRef, force bool) bool {
	if force {
		r.count.n.Add(1)
	} else if !r.count.reserve() {
		return false
	}
	r.waiting.n.Add(-1)
	ref.waiting = false
	return true
}

// NewRegistry starts the registry actors. taskMiddleware wraps every task actor's Receive
// (tracing, fault injection in tests).
func NewRegistry(system *actor.ActorSystem, cfg *Config, stats *Stats, logger *slog.Logger, taskMiddleware ...actor.ReceiverMiddleware) *Registry {
	return newRegistry(system, cfg, stats, logger, nil, nil, taskMiddleware...)
}

// newRegistry is NewRegistry with a journal (st may be nil) and a list index that its
// tasks keep current (nil: none).
func newRegistry(system *actor.ActorSystem, cfg *Config, stats *Stats, logger *slog.Logger, st *store, index *listIndex, taskMiddleware ...actor.ReceiverMiddleware) *Registry {
	r := &Registry{root: system.Root, seed: maphash.MakeSeed()}
	count, waiting := &taskCount{max: int64(cfg.MaxTasks)}, &taskCount{max: int64(cfg.MaxWaitingTasks)}
	// One Props for every task: each actor reads its task_id from its name on Started. The
	// lock-free mailbox starts empty, where Unbounded's ring starts with ten slots: 200
	// bytes less per idle task, for one small allocation per message.
	taskProps := actor.PropsFromProducer(func() actor.Actor {
		t := NewTaskActor("", cfg, stats)
		t.passivate, t.swept, t.store, t.index = askRegistryToPassivate, true, st, index
		t.found = tellRegistryFound
		return t
	}, actor.WithMailbox(actor.UnboundedLockfree()), actor.WithReceiverMiddleware(taskMiddleware...))
	for i := range r.shards {
		props := actor.PropsFromProducer(func() actor.Actor {
			ra := &registryActor{tasks: map[string]*taskRef{}, count: count, waiting: waiting, taskProps: taskProps, stats: stats,
				sweepEvery: sweepInterval(cfg), journaled: st != nil}
			ra.supervisor = taskSupervisor{cfg: cfg, stats: stats, logger: logger, unmap: ra.unmap}
			return ra
		}, actor.WithMailbox(actor.Unbounded()))
		r.shards[i] = system.Root.Spawn(props)
	}
	return r
}

// sweepTasks is a registry actor's note to itself to ask each of its tasks whether it is
// idle. One timer per shard replaces a timer per task: a task passivates between its TTL
// and its TTL plus the sweep interval.
type sweepTasks struct{}

// sweepInterval is an eighth of the shorter TTL.
func sweepInterval(cfg *Config) time.Duration {
	return max(min(cfg.IdleTTL, cfg.FinishedTTL)/8, time.Millisecond)
}

func askRegistryToPassivate(ctx actor.Context, routed uint64) {
	t := ctx.Actor().(*TaskActor)
	ctx.Send(ctx.Parent(), &taskIdle{taskID: t.taskID, task: ctx.Self(), routed: routed})
}

func tellRegistryFound(ctx actor.Context) { ctx.Send(ctx.Parent(), &taskFound{task: ctx.Self()}) }

// Request implements Router.
func (r *Registry) Request(msg TaskMessage, timeout time.Duration) (any, error) {
	shard := r.shards[maphash.String(r.seed, msg.GetTaskId())%registryShards]
	return r.root.RequestFuture(shard, msg, timeout).Result()
}

// Publish implements Router: it hands the call to its task's shard without waiting.
func (r *Registry) Publish(c *PublishCall) {
	r.root.Send(r.shards[maphash.String(r.seed, c.GetTaskId())%registryShards], c)
}

// Shutdown implements Router: it stops the registry actors and with them every task.
func (r *Registry) Shutdown() {
	for _, pid := range r.shards {
		_ = r.root.StopFuture(pid).Wait()
	}
}

func (r *registryActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *taskIdle:
		if ref := r.tasks[m.taskID]; ref != nil && ref.pid.Equal(m.task) && ref.routed == m.routed {
			r.remove(m.taskID)
			r.stats.TasksPassivated.Add(1)
			ctx.Stop(m.task)
		}
	case *taskFound:
		if taskID, ok := taskIDOfName(m.task); ok {
			if ref := r.tasks[taskID]; ref != nil && ref.pid.Equal(m.task) && ref.waiting {
				r.created(ref, true)
			}
		}
	case *actor.Terminated:
		// A child stopped on its own (out of its failure budget), or one already unmapped
		// (deleted, passivated) finished stopping.
		r.unmap(m.Who)
		if !r.stopping { // the whole system goes: no memory to give back
			releaseProcess(ctx, m.Who)
		}
	case sweepTasks:
		for _, ref := range r.tasks {
			ctx.Send(ref.pid, passivateCheck{})
		}
		r.sweeper.Reset(r.sweepEvery)
	case *actor.Started:
		root, self := ctx.ActorSystem().Root, ctx.Self()
		r.sweeper = time.AfterFunc(r.sweepEvery, func() { root.Send(self, sweepTasks{}) })
	case *actor.Stopping:
		r.sweeper.Stop()
		r.stopping = true
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		r.route(ctx, m)
	}
}

// route forwards a task message by the message table (ops.go), creating the task for
// a message that creates it, and answers in the task's place when it does not exist or
// the node has its maximum of tasks. A message not in the table is answered at once.
func (r *registryActor) route(ctx actor.Context, msg any) {
	rt, taskID, ok := routeOf(msg)
	if !ok {
		answer(ctx.Respond, msg, notRoutedFailure(msg))
		return
	}
	ref := r.tasks[taskID]
	switch {
	case ref == nil && !rt.creates && !rt.waits && !r.journaled:
		answer(ctx.Respond, msg, rt.absent(taskID))
		return
	case ref == nil:
		// Anything but a publish starts a waiting actor: a viewer waits in it, and with a
		// journal it loads the task to tell whether it exists.
		if ref = r.spawn(ctx, taskID, !rt.creates); ref == nil {
			answer(ctx.Respond, msg, refusedFor(taskID, !rt.creates))
			return
		}
	case ref.waiting && rt.creates:
		if !r.created(ref, false) {
			answer(ctx.Respond, msg, refusedFor(taskID, false))
			return
		}
	}
	if rt.ends {
		// Unmapped first: the next message that creates the task starts a new incarnation
		// while this one closes.
		r.remove(taskID)
	}
	ref.routed++
	ctx.Forward(ref.pid)
}

// refusedFor is the answer when the node has its maximum of tasks, or of waiting ones.
func refusedFor(taskID string, waiting bool) *v1.Refused {
	if waiting {
		return &v1.Refused{TaskId: taskID, Reason: v1.RefusedReason_REFUSED_REASON_TOO_MANY_WAITING}
	}
	return &v1.Refused{TaskId: taskID, Reason: v1.RefusedReason_REFUSED_REASON_TOO_MANY_TASKS}
}

// spawn starts the task's actor under a taskName, as a task or a waiting one, or returns
// nil when the node already has its maximum of those.
func (r *registryActor) spawn(ctx actor.Context, taskID string, waiting bool) *taskRef {
	count := r.count
	if waiting {
		count = r.waiting
	}
	if !count.reserve() {
		return nil
	}
	r.spawned++
	pid, err := ctx.SpawnNamed(r.taskProps, taskName(taskID, r.spawned))
	if err != nil {
		// Unreachable: the generation makes every name new.
		panic(fmt.Sprintf("spawn task actor: %v", err))
	}
	ref := &taskRef{pid: pid, waiting: waiting}
	r.tasks[taskID] = ref
	r.peak = max(r.peak, len(r.tasks))
	return ref
}
