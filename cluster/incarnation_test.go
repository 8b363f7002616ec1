//go:build !race

// The library's remote races with itself when two systems in one process start and stop
// it (gRPC's process-wide logger, the endpoint reader's suspend flag), so these tests run
// without -race, in the pass of their own that `make test` gives the cluster tests.

package cluster_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	"github.com/tasktail/tasktail/cluster"
	"github.com/tasktail/tasktail/conn"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// A process of its own for these tests: tasktail's actor system, reachable through the
// library's remote at addr. A task on one process and a viewer on another talk as they
// do across cluster members.
type process struct {
	sys    *actor.ActorSystem
	remote *remote.Remote
}

func startProcess(t *testing.T, addr string) *process {
	t.Helper()
	host, port := splitHostPort(t, addr)
	p := &process{sys: actors.NewActorSystem(slog.New(slog.NewTextHandler(io.Discard, nil)))}
	p.remote = remote.NewRemote(p.sys, cluster.RemoteConfig(host, port))
	p.remote.Start()
	t.Cleanup(func() {
		if err := cluster.LeaveCluster(func() { p.remote.Shutdown(true) }, func() { p.remote.Shutdown(false) }); err != nil {
			t.Log(err) // the library's own failure, which a member's shutdown reports
		}
		p.sys.Shutdown()
	})
	return p
}

// crash ends the process as the network sees it: its listener and every connection to it
// close, and nothing it holds is told.
func (p *process) crash() { p.remote.Shutdown(false) }

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := net.LookupPort("tcp", port)
	if err != nil {
		t.Fatal(err)
	}
	return host, n
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// spawnTask starts taskID's actor on p.
func (p *process) spawnTask(t *testing.T, taskID string) *actor.PID {
	t.Helper()
	cfg := actors.Config{}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return p.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return actors.NewTaskActor(taskID, &cfg, &actors.Stats{})
	}, actor.WithMailbox(actor.Unbounded())))
}

// viewer starts a viewer of taskID on p, writing to a fake socket; it is not yet
// subscribed.
func (p *process) viewer(t *testing.T, taskID string) (*actors.Viewer, *actortest.FakeSocket) {
	t.Helper()
	v := actors.NewViewer(p.sys.Root, actors.ViewerOptions{TaskID: taskID, Buffer: 100, WriteTimeout: time.Second,
		CloseAll: conn.NewBroadcast(), Counters: counters{}})
	s := actortest.NewFakeSocket()
	v.Start(context.Background(), s, func(error) {})
	return v, s
}

type counters struct{}

func (counters) ViewerOpened() {}
func (counters) ViewerClosed() {}
func (counters) Delivered(int) {}
func (counters) WriteFailed()  {}
func (counters) SlowConsumer() {}

// seenFrom is pid as another process knows it. The processes here share one Go process,
// and a PID caches the actor it resolved to: passed on as is, a message would skip the
// network.
func seenFrom(pid *actor.PID) *actor.PID { return actor.NewPID(pid.Address, pid.Id) }

func request[T any](t *testing.T, from *process, to *actor.PID, msg any) T {
	t.Helper()
	if to.Address != from.sys.Address() {
		to = seenFrom(to)
	}
	reply, err := from.sys.Root.RequestFuture(to, msg, wait).Result()
	if err != nil {
		t.Fatalf("%T: %v", msg, err)
	}
	r, ok := reply.(T)
	if !ok {
		t.Fatalf("%T answered %T %v", msg, reply, reply)
	}
	return r
}

func publishTo(t *testing.T, from *process, task *actor.PID, taskID, message string) *v1.PublishAck {
	t.Helper()
	return request[*v1.PublishAck](t, from, task, &v1.Publish{TaskId: taskID, Entries: []*v1.LogInput{{Level: v1.Level_LEVEL_INFO, Message: message}}})
}

func subscribers(t *testing.T, from *process, task *actor.PID, taskID string) uint32 {
	t.Helper()
	return request[*v1.Status](t, from, task, &v1.GetStatus{TaskId: taskID}).Subscribers
}

// A viewer on another process whose connection the library drops (it does so for every
// watch of an address whose member leaves the topology, even when a new process serves
// that address and the viewer is alive there) is told to go, and resumes; before, it
// stayed open and was sent nothing more.
func TestClusterViewerDroppedWithItsConnectionIsToldToGo(t *testing.T) {
	a, b := startProcess(t, freeAddr(t)), startProcess(t, freeAddr(t))
	task := a.spawnTask(t, "t")
	publishTo(t, a, task, "t", "m1")
	v, sock := b.viewer(t, "t")
	ack := request[*v1.SubscribeAck](t, b, task, &v1.Subscribe{TaskId: "t", Subscriber: &v1.ActorRef{Address: v.PID().Address, Id: v.PID().Id}})
	v.Subscribed(actortest.PIDOf(ack.Task))
	sock.WaitFrames(t, 2, wait) // hello, m1
	// What the library's member list does when a member at b's address leaves.
	a.sys.EventStream.Publish(&remote.EndpointTerminatedEvent{Address: b.sys.Address()})
	if code, reason := sock.WaitClosed(t, wait); code != wire.CloseGoingAway {
		t.Fatalf("closed %d %q, want 1001", code, reason)
	}
	actortest.AwaitCondition(t, wait, "the task forgot the viewer", func() bool { return subscribers(t, a, task, "t") == 0 })
	if ack := publishTo(t, a, task, "t", "m2"); !ack.Groups[0].Queued {
		t.Fatalf("publish with no viewer left: %+v, want queued", ack)
	}
}

// A subscriber's PID outlives its process. When a process restarts at the same address, a
// message or a Watch for an actor of the one that died (a Subscribe that was still on its
// way) must not reach an actor of the new one: the task would count a subscriber that
// never leaves (its queue's messages handed to nobody), and a viewer of another task
// would be sent this task's lines.
func TestClusterSubscriberOfAProcessThatDiedNeverReachesItsSuccessor(t *testing.T) {
	addr := freeAddr(t)
	a, b := startProcess(t, freeAddr(t)), startProcess(t, addr)
	task := a.spawnTask(t, "secret")
	publishTo(t, a, task, "secret", "m1")
	v, sock := b.viewer(t, "secret")
	late := &v1.Subscribe{TaskId: "secret", Subscriber: &v1.ActorRef{Address: v.PID().Address, Id: v.PID().Id}}
	ack := request[*v1.SubscribeAck](t, b, task, late)
	v.Subscribed(actortest.PIDOf(ack.Task))
	sock.WaitFrames(t, 2, wait)
	b.crash()
	actortest.AwaitCondition(t, wait, "the task forgot the crashed viewer", func() bool { return subscribers(t, a, task, "secret") == 0 })

	// The process comes back at the same address and serves a viewer of another task.
	b2 := startProcess(t, addr)
	other, otherSock := b2.viewer(t, "other")
	t.Logf("viewer of the process that died: %s; of its successor: %s", v.PID().Id, other.PID().Id)
	// Once a reaches the new process (its connection attempts to the dead one are over),
	// the Subscribe that was still on its way when b died reaches the task.
	echo := seenFrom(b2.sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*v1.GetStatus); ok {
			ctx.Respond(&v1.Status{})
		}
	})))
	actortest.AwaitCondition(t, wait, "a reaches the process at b's address", func() bool {
		_, err := a.sys.Root.RequestFuture(echo, &v1.GetStatus{}, 200*time.Millisecond).Result()
		return err == nil
	})
	a.sys.Root.Send(task, late)
	actortest.AwaitCondition(t, wait, "the task forgot the subscriber of the process that died", func() bool {
		return subscribers(t, a, task, "secret") == 0
	})
	if ack := publishTo(t, a, task, "secret", "m2"); !ack.Groups[0].Queued {
		t.Fatalf("publish: %+v, want queued (nobody watches)", ack)
	}
	// Nothing of task "secret" reached the viewer of "other" (a frame would arrive with
	// the Deliver that follows on the same connection).
	probe := actortest.NewProbe(t, b2.sys)
	a.sys.Root.Send(seenFrom(probe.PID()), &v1.Deliver{})
	actortest.Expect[*v1.Deliver](t, probe, wait)
	if frames := otherSock.Frames(); len(frames) != 0 {
		t.Fatalf("the viewer of another task got %d frames of this one: %s", len(frames), frames[0])
	}
	if _, _, closed := otherSock.CloseCode(); closed {
		t.Fatal("the viewer of another task was closed by this one")
	}
}

// When the library drops a connection, the messages sent after it travel on a new one.
// Its endpoint writer used to report its own closing of the old connection as a lost
// connection, which dropped the new one with what it carried, and so on while messages
// kept coming.
func TestClusterMessagesAfterADroppedConnectionArrive(t *testing.T) {
	a, b := startProcess(t, freeAddr(t)), startProcess(t, freeAddr(t))
	probe := actortest.NewProbe(t, b.sys)
	to := seenFrom(probe.PID())
	a.sys.Root.Send(to, &v1.Deliver{CloseReason: "before"})
	actortest.Expect[*v1.Deliver](t, probe, wait)
	a.sys.EventStream.Publish(&remote.EndpointTerminatedEvent{Address: b.sys.Address()})
	const n = 300
	for i := range n {
		a.sys.Root.Send(to, &v1.Deliver{CloseCode: uint32(i)})
		time.Sleep(50 * time.Microsecond) // a steady stream, as under load
	}
	for i := range n {
		d := actortest.Expect[*v1.Deliver](t, probe, wait)
		if d.CloseCode != uint32(i) {
			t.Fatalf("message %d arrived as %d", i, d.CloseCode)
		}
	}
}

// The library's graceful leave can panic (a connection from another member that ends as
// its endpoint manager stops): the leave then stops the server at once and reports it,
// so a member's shutdown still ends with one line saying what did not finish.
func TestClusterLeaveThatPanicsEndsWithAnError(t *testing.T) {
	stopped := false
	err := cluster.LeaveCluster(func() { panic("send on closed channel") }, func() { stopped = true })
	if err == nil || !strings.Contains(err.Error(), "send on closed channel") || !stopped {
		t.Fatalf("leave: %v, server stopped %v; want the panic as an error and the server stopped", err, stopped)
	}
	if err := cluster.LeaveCluster(func() {}, func() { t.Fatal("stopped after a clean leave") }); err != nil {
		t.Fatalf("clean leave: %v", err)
	}
}
