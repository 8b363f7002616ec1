package actors

import (
	"time"

	"google.golang.org/protobuf/proto"
)

// TaskMessage is a message for a task's actor: it names the task it is for.
type TaskMessage interface {
	proto.Message
	GetTaskId() string
}

// Router finds the actor of a task_id and asks it something. The local Registry is one
// implementation; the cluster (a grain kind with identity = task_id) is the other. Both
// deliver to a TaskActor with the same Receive.
//
// Publish and Subscribe create the task's actor when it does not exist. GetStatus and
// Delete never do: the router answers them itself with Status{found: false} and
// DeleteAck{found: false}.
type Router interface {
	// Request sends msg to the actor of msg.GetTaskId() and waits up to timeout for its
	// answer. It may block; it is never called from inside an actor.
	Request(msg TaskMessage, timeout time.Duration) (any, error)
	// Shutdown stops every task actor the router owns, waiting for them to stop.
	Shutdown()
}
