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

// Router is what differs between one node and a cluster: how a task's actor is found and
// how a message reaches it. The local Registry is one implementation; the cluster (a grain
// kind with identity = task_id) is the other. Both route by the message table (ops.go)
// to a TaskActor with the same Receive.
type Router interface {
	// Request sends msg to the actor of msg.GetTaskId() and waits up to timeout for its
	// answer. It may block; it is never called from inside an actor.
	Request(msg TaskMessage, timeout time.Duration) (any, error)
	// Publish carries a publish call to its task without waiting; whoever handles or
	// refuses it completes it (the local Registry sends it as it is, the cluster as a
	// *v1.Publish request).
	Publish(c *PublishCall)
	// Shutdown stops every task actor the router owns and waits for the goroutines it
	// started.
	Shutdown()
}
