package actortest

import (
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// NewSystem returns an actor system that logs nothing; it is shut down when t ends.
func NewSystem(t testing.TB) *actor.ActorSystem {
	t.Helper()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	t.Cleanup(sys.Shutdown)
	return sys
}

// Probe is an actor that records every user message it receives, in order.
type Probe struct {
	pid      *actor.PID
	received chan any
}

// probeCapacity bounds what a probe holds unread; a test that lets more pile up fails.
const probeCapacity = 1 << 16

// NewProbe spawns a probe in sys; it is stopped when t ends.
func NewProbe(t testing.TB, sys *actor.ActorSystem) *Probe {
	t.Helper()
	p := &Probe{received: make(chan any, probeCapacity)}
	p.pid = sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
			return
		}
		select {
		case p.received <- ctx.Message():
		default:
			t.Errorf("probe %s: more than %d unread messages", p.pid.Id, probeCapacity)
		}
	}))
	t.Cleanup(func() { _ = sys.Root.StopFuture(p.pid).Wait() })
	return p
}

// PID is the probe's address.
func (p *Probe) PID() *actor.PID { return p.pid }

// Ref is the probe as messages name an actor (v1.Subscribe's subscriber).
func (p *Probe) Ref() *v1.ActorRef { return &v1.ActorRef{Address: p.pid.Address, Id: p.pid.Id} }

// PIDOf is the actor that a message's ref names (v1.SubscribeAck's task).
func PIDOf(ref *v1.ActorRef) *actor.PID { return actor.NewPID(ref.Address, ref.Id) }

// Expect waits up to timeout for the probe's next message and fails t unless it is a T.
func Expect[T any](t testing.TB, p *Probe, timeout time.Duration) T {
	t.Helper()
	var zero T
	select {
	case m := <-p.received:
		v, ok := m.(T)
		if !ok {
			t.Fatalf("probe %s: got %T %v, want %v", p.pid.Id, m, m, reflect.TypeOf(&zero).Elem())
		}
		return v
	case <-time.After(timeout):
		t.Fatalf("probe %s: no %v within %v", p.pid.Id, reflect.TypeOf(&zero).Elem(), timeout)
	}
	return zero
}

// ExpectNoMsg fails t if the probe receives anything within d.
func ExpectNoMsg(t testing.TB, p *Probe, d time.Duration) {
	t.Helper()
	select {
	case m := <-p.received:
		t.Fatalf("probe %s: got %T %v, want nothing for %v", p.pid.Id, m, m, d)
	case <-time.After(d):
	}
}

// AwaitCondition polls cond until it returns true, failing t with what if it does not
// within timeout.
func AwaitCondition(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(wait)
	}
}
