package actors

import (
	"fmt"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"google.golang.org/protobuf/proto"
)

// The message table: for every message a router carries to a task (a routed message), what
// the router does when the task does not exist, and whether the task ends with it. The
// local Registry and the cluster grain both route by this table, and a task counts the
// messages it lists, so that its router can tell whether any are still on their way
// (docs/design.md, "Passivation"). Adding a task message starts here (docs/extending.md).

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

// routeOf returns the route of msg and its task_id; ok is false for a message that is not
// routed (a reply, an actor's own note, a message sent to a task's PID directly).
func routeOf(msg any) (r route, taskID string, ok bool) {
	switch m := msg.(type) {
	case *PublishCall:
		return route{creates: true}, m.taskID, true
	case *v1.Publish:
		return route{creates: true}, m.TaskId, true
	case *v1.Subscribe:
		return route{waits: true}, m.TaskId, true
	case *v1.GetStatus:
		return route{absent: func(id string) proto.Message { return &v1.Status{TaskId: id} }}, m.TaskId, true
	case *v1.Delete:
		return route{ends: true, absent: func(id string) proto.Message { return &v1.DeleteAck{TaskId: id} }}, m.TaskId, true
	case *v1.GetLog:
		return route{absent: func(id string) proto.Message { return &v1.LogFrames{TaskId: id} }}, m.TaskId, true
	case *v1.Restart:
		return route{absent: func(id string) proto.Message { return &v1.RestartAck{TaskId: id} }}, m.TaskId, true
	}
	return route{}, "", false
}

// answer replies to a routed message in place of its task: a publish call is completed,
// anything else is answered to its sender.
func answer(respond func(any), msg any, reply proto.Message) {
	if c, ok := msg.(*PublishCall); ok {
		c.complete("", reply)
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
