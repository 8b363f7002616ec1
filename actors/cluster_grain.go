package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"google.golang.org/protobuf/proto"
)

// taskGrain is a TaskActor as a cluster grain. The cluster activates a grain for any
// message, so the grain does by the message table (routes.go) what the local Registry does
// before a task exists: a message that does not create the task is answered as for a task
// that does not exist and leaves no actor behind, and a member at Config.MaxTasks refuses
// new tasks.
type taskGrain struct {
	*TaskActor
	created  bool                     // a Publish or Subscribe made the task exist
	failures *actor.RestartStatistics // for recoverGrain
}

// passivateNow is a grain's note to itself to stop if no routed message came since
// routed was counted. As a message it runs after everything already in the mailbox.
type passivateNow struct{ routed uint64 }

func newTaskGrain(cfg *Config, stats *Stats, st *store) *taskGrain {
	g := &taskGrain{TaskActor: NewTaskActor("", cfg, stats), failures: actor.NewRestartStatistics()}
	g.store = st
	g.passivate = func(ctx actor.Context, routed uint64) { ctx.Send(ctx.Self(), passivateNow{routed: routed}) }
	return g
}

func (g *taskGrain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.taskID, g.member = m.Identity.Identity, ctx.ActorSystem().Address()
		if g.store != nil {
			g.load(ctx)
		}
		return
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
		// The cluster activates a grain for any message: answer in the task's place, as
		// the local Registry does, and leave no task behind. (With a journal the task may
		// exist there: it answers for an absent task itself once loaded.)
		var reply proto.Message
		switch {
		case !rt.creates && g.store == nil:
			reply = rt.absent(g.taskID)
		case g.stats.LiveTasks.Load() > int64(g.cfg.MaxTasks):
			reply = &v1.Refused{TaskId: g.taskID, Reason: v1.RefusedReason_REFUSED_REASON_TOO_MANY_TASKS}
		}
		if reply != nil {
			g.routed++
			ctx.Respond(reply)
			g.passivate(ctx, g.routed)
			return
		}
		g.created = true
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

// taskGrainProps are the props of kind "task": grains, with middleware inside the
// panic recovery.
func taskGrainProps(cfg *Config, stats *Stats, st *store, s *taskSupervisor, middleware ...actor.ReceiverMiddleware) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return newTaskGrain(cfg, stats, st) },
		actor.WithMailbox(actor.UnboundedLockfree()),
		actor.WithReceiverMiddleware(append([]actor.ReceiverMiddleware{recoverGrain(s)}, middleware...)...))
}
