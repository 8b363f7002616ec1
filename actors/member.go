package actors

import (
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/internal/goroutines"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// Cluster makes a Manager a member of a cluster: tasks are grains spread over the members
// instead of children of a local Registry. Package cluster provides the one tasktail
// runs; a Manager without one is a single node, and its program links no cluster code.
type Cluster interface {
	// Join makes system a member of the cluster whose task grains host describes, and
	// returns the member once it has started.
	Join(system *actor.ActorSystem, host Host) (Member, error)
}

// Member is this process in a cluster: how a task's grain is found, and the membership.
type Member interface {
	// Request sends msg to the grain of msg.GetTaskId(), wherever it lives, and waits up
	// to timeout for its answer. It may block; it is never called from inside an actor.
	Request(msg TaskMessage, timeout time.Duration) (any, error)
	// Leave leaves the cluster and stops the task grains on this member (their next
	// message starts them on another member), and waits for the requests in flight.
	Leave() error
	// Members are the addresses of the cluster's members as this member sees them.
	Members() []string
	// Membership says whether this member serves as one, and a line that says why not,
	// or what it serves without.
	Membership() (serving bool, note string)
	// Again is the cluster to join when this member rejoins as a new one: the same, on
	// the port it was given when it asked for any.
	Again() Cluster
}

// Host is what a cluster gets from the Manager to run tasks on its member.
type Host struct {
	// Grains returns the props of task grains. identify reads the task_id from the
	// message that starts a grain (the cluster's activation), and says whether msg is one.
	Grains func(identify func(msg any) (taskID string, ok bool)) *actor.Props
	Logger *slog.Logger
	// Outlive says the members share a journal that refuses stale writes (PostgreSQL): a
	// task that moves continues from it in its epoch, and the member may serve on
	// through an outage of its provider.
	Outlive bool
	// Fenced is called once when the member has lost its membership (Manager.Fenced).
	Fenced func(error)
}

// memberRouter is the Router of a cluster member: requests go through the member, and a
// publish call travels as one *v1.Publish request from a goroutine of the router's.
type memberRouter struct {
	member   Member
	timeout  time.Duration // Config.RequestTimeout
	requests goroutines.Group
	leaveErr error // what went wrong in Shutdown's leave, read once Shutdown has returned
}

func (r *memberRouter) Request(msg TaskMessage, timeout time.Duration) (any, error) {
	return r.member.Request(msg, timeout)
}

func (r *memberRouter) Publish(c *PublishCall) {
	p := publishOf(c)
	withRetryKeys(p)
	request := func() {
		reply, err := r.member.Request(p, r.timeout)
		completeFrom(c, reply, err)
	}
	if !r.requests.Go(request) {
		c.Drop(ErrShuttingDown) // inside the pipe's carry
	}
}

func (r *memberRouter) Shutdown() {
	r.requests.Stop()
	r.leaveErr = r.member.Leave()
	r.requests.Wait()
}

// withRetryKeys gives every group of p without an idempotency key one of its own, so that
// the member's own retries (an attempt that reached a member whose answer was lost) store
// the group once.
func withRetryKeys(p *v1.Publish) {
	keys := make([]string, len(p.Ends))
	copy(keys, p.Keys)
	for i, k := range keys {
		if k == "" {
			keys[i] = "retry:" + strconv.FormatUint(rand.Uint64(), 36)
		}
	}
	p.Keys = keys
}
