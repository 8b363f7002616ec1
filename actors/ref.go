package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// refOf is pid as the messages carry it.
func refOf(pid *actor.PID) *v1.ActorRef {
	if pid == nil {
		return nil
	}
	return &v1.ActorRef{Address: pid.Address, Id: pid.Id}
}

// pidOf is the actor that ref names; nil for none.
func pidOf(ref *v1.ActorRef) *actor.PID {
	if ref == nil {
		return nil
	}
	return actor.NewPID(ref.Address, ref.Id)
}
