package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// taskGrain is a TaskActor as a cluster grain. The cluster activates a grain for any
// message, and first sends the message that names its task (identify); until a publish
// creates the task (TaskActor.created) it is a waiting actor, as the local Registry
// starts one: it answers what does not create the task as for a task
// that does not exist, holds viewers, and stops when it holds none. A member at
// Config.MaxTasks refuses new tasks, and at Config.MaxWaitingTasks new waiting ones.
type taskGrain struct {
	*TaskActor
	failures *actor.RestartStatistics // for recoverGrain
	// identify reads the task_id from the cluster's activation message.
	identify func(msg any) (taskID string, ok bool)
}

// passivateNow is a grain's note to itself to stop if no routed message came since
// routed was counted. As a message it runs after everything already in the mailbox.
type passivateNow struct{ routed uint64 }

func newTaskGrain(cfg *Config, stats *Stats, st *store, index *listIndex, identify func(any) (string, bool)) *taskGrain {
	g := &taskGrain{TaskActor: NewTaskActor("", cfg, stats), failures: actor.NewRestartStatistics(), identify: identify}
	g.store, g.index = st, index
	g.passivate = func(ctx actor.Context, routed uint64) { ctx.Send(ctx.Self(), passivateNow{routed: routed}) }
	return g
}

func (g *taskGrain) Receive(ctx actor.Context) {
	if id, ok := g.identify(ctx.Message()); ok {
		g.taskID, g.member = id, ctx.ActorSystem().Address()
		if g.store != nil {
			g.load(ctx)
		}
		return
	}
	switch m := ctx.Message().(type) {
	case passivateNow:
		if g.routed == m.routed {
			if g.created {
				g.stats.TasksPassivated.Add(1)
			}
			ctx.Stop(ctx.Self())
		}
		return
	}
	rt, _, routed := routeOf(ctx.Message())
	if routed && !g.created {
		// The limits the local Registry keeps before it starts an actor. (With a journal
		// the task may exist there: the actor answers for an absent task once loaded.)
		var reply proto.Message
		switch {
		case rt.creates && g.stats.LiveTasks.Load() >= int64(g.cfg.MaxTasks):
			reply = refusedFor(g.taskID, false)
		case !rt.creates && (rt.waits || g.store != nil) && len(g.subs) == 0 && g.stats.WaitingTasks.Load() > int64(g.cfg.MaxWaitingTasks):
			reply = refusedFor(g.taskID, true) // this grain is one of them
		}
		if reply != nil {
			g.routed++
			ctx.Respond(reply)
			if len(g.subs) == 0 {
				g.passivate(ctx, g.routed)
			}
			return
		}
	}
	g.TaskActor.Receive(ctx)
}

// recoverGrain turns a panic of a grain (or of a middleware inside it) into what the local
// supervisor does: the failing message is dropped and answered with TaskFailure, the task
// keeps its state, and past its failure budget it stops. A grain's parent is the
// library's placement actor, whose strategy would restart it empty.
func recoverGrain(s *taskSupervisor) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
			defer func() {
				reason := recover()
				if reason == nil {
					return
				}
				g := ctx.Actor().(*taskGrain)
				if s.failed(ctx.ActorSystem(), ctx.Self(), g.failures, reason, env.Message, env.Sender) {
					ctx.ActorSystem().Root.Stop(ctx.Self())
				}
			}()
			next(ctx, env)
		}
	}
}

// taskGrainProps are the props of task grains, with middleware inside the
// panic recovery.
func taskGrainProps(cfg *Config, stats *Stats, st *store, index *listIndex, s *taskSupervisor, identify func(any) (string, bool), middleware ...actor.ReceiverMiddleware) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return newTaskGrain(cfg, stats, st, index, identify) },
		actor.WithMailbox(actor.UnboundedLockfree()),
		actor.WithReceiverMiddleware(append([]actor.ReceiverMiddleware{recoverGrain(s)}, middleware...)...))
}
