package actors

import (
	"fmt"
	"reflect"

	"github.com/asynkron/protoactor-go/actor"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"google.golang.org/protobuf/proto"
)

// The operations table: every message a task handles is declared here once, with how a
// router carries it to the task (its route), whether it waits behind the task's journal,
// and its handler. The local Registry and the cluster grain both route by this table, and
// a task counts the messages it routes, so that its router can tell whether any are still
// on their way (docs/design.md, "Passivation"). Adding a task operation is a row here and
// its handler (docs/extending.md).

// operation is one kind of message a task handles.
type operation struct {
	of reflect.Type // the message's type
	route
	// direct: the message is sent to the task's PID, not routed (a subscriber's
	// Unsubscribe); routeOf does not report it.
	direct bool
	// journal: the operation changes what the journal keeps (it writes with t.write and
	// finishes in onCommitted), so with a journal it waits behind the task's load and
	// behind any write or read in flight, as a publish does. One that only reads waits
	// only for the load.
	journal bool
	// handle runs the operation in the task's actor, once the journal (if any) has loaded
	// the task and the task exists or the route lets the message reach it anyway. It
	// changes only the task's state, answers sender with respond, talks to subscribers
	// with Deliver messages, and never blocks.
	handle func(t *TaskActor, ctx actor.Context, msg any, sender *actor.PID)
}

// route is how one routed message type reaches its task.
type route struct {
	// creates: the message makes the task exist (a publish). Otherwise a router answers
	// absent for a task that does not exist and creates nothing, unless it waits.
	creates bool
	// waits: for a task that does not exist the router starts a waiting task actor, which
	// holds the viewer until a publish creates the task; it takes no task slot (a
	// subscribe: the original order is connect first, publish later).
	waits bool
	// absent is the answer for a task that does not exist (when creates is false).
	absent func(taskID string) proto.Message
	// ends: the task ends with this message, so the router forgets it before forwarding;
	// the next message that creates the task starts a new incarnation.
	ends bool
}

// operations is the table, the publish call first: a message's row is found by comparing
// its type with each row's, which for a table this small costs less than hashing it (a
// lookup runs for every message a router or a task receives).
var operations = []*operation{
	{of: typeOf[*PublishCall](), route: route{creates: true}, journal: true,
		handle: on((*TaskActor).publishCall)},
	{of: typeOf[*v1.Publish](), route: route{creates: true}, journal: true, // a call that crossed members
		handle: on((*TaskActor).publishRemote)},
	{of: typeOf[*v1.Subscribe](), route: route{waits: true},
		handle: on((*TaskActor).subscribe)},
	{of: typeOf[*v1.Unsubscribe](), direct: true,
		handle: on((*TaskActor).unsubscribe)},
	{of: typeOf[*v1.GetStatus](), route: route{absent: func(id string) proto.Message { return &v1.Status{TaskId: id} }},
		handle: on((*TaskActor).getStatus)},
	{of: typeOf[*v1.GetLog](), route: route{absent: func(id string) proto.Message { return &v1.LogFrames{TaskId: id} }},
		handle: on((*TaskActor).getLog)},
	{of: typeOf[*v1.Delete](), route: route{ends: true, absent: func(id string) proto.Message { return &v1.DeleteAck{TaskId: id} }}, journal: true,
		handle: on((*TaskActor).delete)},
	{of: typeOf[*v1.Restart](), route: route{absent: func(id string) proto.Message { return &v1.RestartAck{TaskId: id} }}, journal: true,
		handle: on((*TaskActor).restart)},
}

func typeOf[M any]() reflect.Type { return reflect.TypeFor[M]() }

// on adapts a handler of one message type to the table's.
func on[M any](f func(t *TaskActor, ctx actor.Context, m M, sender *actor.PID)) func(*TaskActor, actor.Context, any, *actor.PID) {
	return func(t *TaskActor, ctx actor.Context, msg any, sender *actor.PID) { f(t, ctx, msg.(M), sender) }
}

// operationOf returns msg's row of the table, or nil.
func operationOf(msg any) *operation {
	t := reflect.TypeOf(msg)
	for _, o := range operations {
		if o.of == t {
			return o
		}
	}
	return nil
}

// routeOf returns the route of msg and its task_id; ok is false for a message that is not
// routed (a reply, an actor's own note, a message sent to a task's PID directly).
func routeOf(msg any) (r route, taskID string, ok bool) {
	o := operationOf(msg)
	if o == nil || o.direct {
		return route{}, "", false
	}
	return o.route, msg.(interface{ GetTaskId() string }).GetTaskId(), true
}

// answer replies to a routed message in place of its task: a publish call is completed,
// anything else is answered to its sender.
func answer(respond func(any), msg any, reply proto.Message) {
	if c, ok := msg.(*PublishCall); ok {
		c.Refuse("", reply)
		return
	}
	respond(reply)
}

// notRoutedFailure answers a message nobody routes: at once, so that its caller gets an
// error instead of waiting for a timeout.
func notRoutedFailure(msg any) *v1.TaskFailure {
	taskID := ""
	if tm, ok := msg.(interface{ GetTaskId() string }); ok {
		taskID = tm.GetTaskId()
	}
	return &v1.TaskFailure{TaskId: taskID, Reason: fmt.Sprintf("%T is not a routed message", msg)}
}
