package actortest

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/actors"
)

// SpawnTask starts one TaskActor for taskID in a quiet actor system of its own and returns
// the system and the task's PID. Send it the messages of proto/tasktail/v1 directly (with
// RequestFuture for those that answer); it is stopped when t ends. cfg's zero fields take
// their defaults.
func SpawnTask(t testing.TB, taskID string, cfg actors.Config) (*actor.ActorSystem, *actor.PID) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sys := NewSystem(t)
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return actors.NewTaskActor(taskID, &cfg, &actors.Stats{})
	}, actor.WithMailbox(actor.Unbounded())))
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	return sys, pid
}
