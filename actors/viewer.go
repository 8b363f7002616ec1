package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/conn"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// A viewer in the actor system: the socket actor that its task sends Deliver messages to,
// over the bounded outbox (package conn) that writes its frames to the connection.

// ViewerOptions configure one viewer.
type ViewerOptions struct {
	TaskID string
	// Buffer is how many frames may wait for the connection before it is closed with
	// 1013 "slow consumer" (the first delivery, hello and replay, is exempt).
	Buffer int
	// WriteTimeout bounds a write of one run of frames.
	WriteTimeout time.Duration
	// CloseAll closes the viewer with everyone else's (a drain).
	CloseAll *conn.Broadcast
	Counters conn.Counters
}

// Viewer is one connection in the actor system: a socket actor that its task sends
// Deliver messages to, and the bounded outbox that a writer goroutine drains to the
// Socket. Its owner calls Start or Stop exactly once.
type Viewer struct {
	root *actor.RootContext
	pid  *actor.PID
	out  *conn.Outbox
	opts ViewerOptions
}

// NewViewer spawns the socket actor of a new connection; frames delivered to PID collect
// until Start.
func NewViewer(root *actor.RootContext, opts ViewerOptions) *Viewer {
	v := &Viewer{root: root, out: conn.NewOutbox(opts.Buffer), opts: opts}
	v.pid = root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &socketActor{taskID: opts.TaskID, out: v.out, counters: opts.Counters}
	}, actor.WithMailbox(actor.Unbounded())))
	return v
}

// PID is the socket actor a task delivers to.
func (v *Viewer) PID() *actor.PID { return v.pid }

// Subscribed tells the viewer which task actor it is subscribed to, so that it leaves
// that task when its connection ends and notices when the task stops.
func (v *Viewer) Subscribed(task *actor.PID) { v.root.Send(v.pid, watchTask{task: task}) }

// Start writes the viewer's frames to s from a goroutine that runs only while frames
// wait, until the connection ends: ctx is done (the peer left), the task closed it, it
// fell behind (1013), a write failed, Close or CloseAll. Then ended is called once, from
// another goroutine, with the failed write's error or nil.
func (v *Viewer) Start(ctx context.Context, s conn.Socket, ended func(error)) {
	v.out.Start(conn.Writer{
		Ctx: ctx, Socket: s, Timeout: v.opts.WriteTimeout, CloseAll: v.opts.CloseAll, Counters: v.opts.Counters,
		Detach: func() { v.root.Send(v.pid, detachSocket{}) },
		End: func(err error) {
			v.root.Stop(v.pid)
			ended(err)
		},
	})
}

// Close ends a started viewer's connection with code and reason, from any goroutine: it
// leaves its task at once, and its writer closes the connection after the frame it may
// be writing.
func (v *Viewer) Close(code wire.CloseCode, reason string) {
	v.root.Send(v.pid, closeSocket{code: code, reason: reason})
}

// Stop gives up a viewer that will not Start: its task forgets it.
func (v *Viewer) Stop() { v.root.Stop(v.pid) }

// watchTask tells a socket actor which task actor it is subscribed to.
type watchTask struct{ task *actor.PID }

// taskGone is a socket actor's note to itself that its task actor stopped.
type taskGone struct{ task *actor.PID }

// closeSocket asks a socket actor to close its connection (Viewer.Close).
type closeSocket struct {
	code   wire.CloseCode
	reason string
}

// detachSocket tells a socket actor that its writer is closing the connection: it stops
// taking frames and leaves its task now, not when the close handshake ends.
type detachSocket struct{}

// socketActor stands for one connection in the actor system: tasks send it Deliver
// messages, it pushes them to the outbox without blocking, and it closes the connection
// with 1013 when the outbox overflows. It stops when its writer returns.
type socketActor struct {
	taskID   string
	out      *conn.Outbox
	counters conn.Counters

	task      *actor.PID
	delivered bool // the first Deliver (hello and replay) has arrived
	closed    bool
}

func (s *socketActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *v1.Deliver:
		s.deliver(ctx, m)
	case watchTask:
		s.task = m.task
		if onOtherMember(ctx, m.task) {
			ctx.Watch(m.task)
		}
		if s.closed {
			s.unsubscribe(ctx)
		}
	case *actor.Terminated:
		// Terminated is a system message and overtakes user messages: the task's last
		// Deliver (the 1000 close of a delete) may still be waiting in the mailbox. Queue
		// the reaction behind it.
		if s.task != nil && s.task.Equal(m.Who) {
			ctx.Send(ctx.Self(), taskGone{task: m.Who})
		}
	case taskGone:
		if s.task != nil && s.task.Equal(m.task) {
			s.task = nil
			s.close(ctx, wire.CloseGoingAway, "task restarting", true)
		}
	case closeSocket:
		if !s.closed {
			s.close(ctx, m.code, m.reason, false)
		}
	case detachSocket:
		s.closed = true
		s.unsubscribe(ctx)
	case *actor.Started:
		s.counters.ViewerOpened()
	case *actor.Stopping:
		s.unsubscribe(ctx)
	case *actor.Stopped:
		s.counters.ViewerClosed()
	}
}

// onOtherMember reports whether task lives on another cluster member. Only such a task is
// watched: one on this node tells its subscribers itself when it stops (TaskActor on
// Stopping), and watching it would cost memory for its whole life, because a watcher's
// PID stays in the watched actor's PIDSet after Unwatch (the library shortens the slice
// without clearing it) and its cached process pointer keeps the stopped socket actor
// reachable.
func onOtherMember(ctx actor.Context, task *actor.PID) bool {
	return task.Address != ctx.Self().Address
}

func (s *socketActor) deliver(ctx actor.Context, m *v1.Deliver) {
	if s.closed {
		return
	}
	first := !s.delivered
	s.delivered = true
	if !s.out.Push(m.Frames, first) {
		s.counters.SlowConsumer()
		s.close(ctx, wire.CloseTryAgainLater, "slow consumer", false)
		return
	}
	if m.CloseCode != 0 {
		s.close(ctx, wire.CloseCode(m.CloseCode), m.CloseReason, true)
	}
}

// close ends the connection with code and reason; drain writes the frames waiting first.
func (s *socketActor) close(ctx actor.Context, code wire.CloseCode, reason string, drain bool) {
	s.closed = true
	s.out.Close(code, reason, drain)
	s.unsubscribe(ctx)
}

func (s *socketActor) unsubscribe(ctx actor.Context) {
	if s.task == nil {
		return
	}
	if onOtherMember(ctx, s.task) {
		ctx.Unwatch(s.task)
	}
	ctx.Send(s.task, &v1.Unsubscribe{TaskId: s.taskID, Subscriber: refOf(ctx.Self())})
	s.task = nil
}
