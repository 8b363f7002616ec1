package cluster_test

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/actors/actortest"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

func TestMain(m *testing.M) { actortest.VerifyNoLeaks(m) }

const wait = 5 * time.Second

// The Manager test kit (actortest), with this package's patience.
var (
	sendN   = actortest.SendN
	queued  = actortest.Queued
	logSeqs = actortest.LogSeqs
)

// panicOnBoom makes a task grain panic on a publish whose first message is "boom".
func panicOnBoom(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
		if p, ok := env.Message.(*v1.Publish); ok && p.Entries[0].Message == "boom" {
			panic("boom")
		}
		next(ctx, env)
	}
}
