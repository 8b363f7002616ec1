package actors

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// notRouted are the messages of proto/ that no router carries to a task, and why. Every
// other message must be in the table (ops.go).
var notRouted = map[protoreflect.Name]string{
	"LogInput":     "part of a Publish",
	"LineAttrs":    "part of a LogInput and a LogEntry",
	"GroupAck":     "part of a PublishAck",
	"PublishAck":   "reply",
	"SubscribeAck": "reply",
	"DeleteAck":    "reply",
	"RestartAck":   "reply",
	"LogFrames":    "reply",
	"Status":       "reply",
	"TaskFailure":  "reply",
	"Refused":      "reply",
	"Unsubscribe":  "sent by a subscriber to its task's PID",
	"Deliver":      "sent by a task to its subscribers",
	"LogEntry":     "the contents of a log frame",
	"Gap":          "the contents of a gap frame",
	"Hello":        "the contents of a hello frame",
	"ListTasks":    "sent to a member's lister, which asks its grains (list.go)",
	"TaskList":     "reply",
	"ActorRef":     "names an actor inside Subscribe, SubscribeAck and Unsubscribe",
}

// A message added to proto/ is either routed by the table or listed above: one that is
// neither would be dropped or time out.
func TestEveryProtoMessageIsRoutedOrListed(t *testing.T) {
	fd, err := protoregistry.GlobalFiles.FindFileByPath("tasktail/v1/tasktail.proto")
	if err != nil {
		t.Fatal(err)
	}
	msgs := fd.Messages()
	for i := range msgs.Len() {
		desc := msgs.Get(i)
		mt, err := protoregistry.GlobalTypes.FindMessageByName(desc.FullName())
		if err != nil {
			t.Fatal(err)
		}
		_, _, routed := routeOf(mt.New().Interface())
		_, listed := notRouted[desc.Name()]
		switch {
		case routed && listed:
			t.Errorf("%s is routed and listed as not routed", desc.Name())
		case !routed && !listed:
			t.Errorf("%s is neither in the message table (ops.go) nor listed as not routed", desc.Name())
		case routed && desc.Fields().ByName("task_id") == nil:
			t.Errorf("%s is routed but has no task_id", desc.Name())
		}
	}
}

// Every routed message that neither creates its task nor waits for it has an answer for a task that does
// not exist, naming the task.
func TestRoutesAnswerForAbsentTasks(t *testing.T) {
	fd, _ := protoregistry.GlobalFiles.FindFileByPath("tasktail/v1/tasktail.proto")
	msgs := fd.Messages()
	for i := range msgs.Len() {
		mt, _ := protoregistry.GlobalTypes.FindMessageByName(msgs.Get(i).FullName())
		rt, _, ok := routeOf(mt.New().Interface())
		if !ok || rt.creates || rt.waits {
			continue
		}
		reply, ok := rt.absent("x").(interface{ GetTaskId() string })
		if !ok || reply.GetTaskId() != "x" {
			t.Errorf("%s: absent answer %v does not name the task", msgs.Get(i).Name(), reply)
		}
	}
}

// A message no router carries is answered at once with a failure, not left to time out.
func TestUnroutedMessageIsAnsweredAtOnce(t *testing.T) {
	cfg := DefaultConfig()
	m, err := NewManager(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(t.Context())
	began := time.Now()
	reply, err := m.router.Request(&v1.Hello{TaskId: "t"}, 5*time.Second)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if _, ok := reply.(*v1.TaskFailure); !ok || time.Since(began) > 2*time.Second {
		t.Fatalf("answered %T %v after %v, want a TaskFailure at once", reply, reply, time.Since(began))
	}
	// The same inside a task: a message its Receive does not know.
	if _, err := m.SendLog(t.Context(), "t", v1.Level_LEVEL_INFO, "make the task", 0, false); err != nil {
		t.Fatal(err)
	}
	sub := m.system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	ack, err := m.router.Request(&v1.Subscribe{TaskId: "t", Subscriber: refOf(sub)}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	task := pidOf(ack.(*v1.SubscribeAck).Task)
	reply, err = m.system.Root.RequestFuture(task, &v1.Hello{TaskId: "t"}, 5*time.Second).Result()
	if err != nil {
		t.Fatalf("request to the task: %v", err)
	}
	if _, ok := reply.(*v1.TaskFailure); !ok {
		t.Fatalf("task answered %T, want a TaskFailure", reply)
	}
}
