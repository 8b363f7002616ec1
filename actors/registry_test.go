package actors_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"google.golang.org/protobuf/proto"
)

// newRegistry starts a registry and a probe in one quiet actor system.
func newRegistry(t *testing.T, cfg actors.Config) (*actors.Registry, *actortest.Probe, *actor.ActorSystem) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sys := actortest.NewSystem(t)
	r := actors.NewRegistry(sys, &cfg, &actors.Stats{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(r.Shutdown)
	return r, actortest.NewProbe(t, sys), sys
}

func ask[T any](t *testing.T, r *actors.Registry, msg actors.TaskMessage) T {
	t.Helper()
	reply, err := r.Request(msg, time.Second)
	if err != nil {
		t.Fatalf("%T: %v", msg, err)
	}
	v, ok := reply.(T)
	if !ok {
		t.Fatalf("%T answered %T %v", msg, reply, reply)
	}
	return v
}

// publish publishes one message and returns the outcome of its one group.
func publish(t *testing.T, r *actors.Registry, taskID, text string) *v1.GroupAck {
	t.Helper()
	ack := ask[*v1.PublishAck](t, r, &v1.Publish{TaskId: taskID, Entries: []*v1.LogInput{{Level: v1.Level_LEVEL_INFO, Message: text}}})
	if len(ack.Groups) != 1 {
		t.Fatalf("publish of one group answered %v", ack)
	}
	return ack.Groups[0]
}

func TestSubscriberGetsQueueThenLiveThenNothingAfterUnsubscribe(t *testing.T) {
	r, probe, sys := newRegistry(t, actors.Config{})
	for _, text := range []string{"a", "b"} {
		if ack := publish(t, r, "t", text); !ack.Queued {
			t.Fatalf("publish %s: not queued with no subscriber", text)
		}
	}
	sub := ask[*v1.SubscribeAck](t, r, &v1.Subscribe{TaskId: "t", Subscriber: probe.Ref()})
	if sub.LastSeq != 2 || sub.Task == nil {
		t.Fatalf("subscribe ack %v", sub)
	}
	first := actortest.Expect[*v1.Deliver](t, probe, time.Second)
	if f := actortest.DecodeFrames(t, first.Frames); len(f) != 3 || f[0].Type != "hello" || f[1].Message != "a" || f[2].Message != "b" {
		t.Fatalf("first delivery %+v, want hello, a, b", f)
	}
	if ack := publish(t, r, "t", "c"); ack.Queued || ack.LastSeq != 3 {
		t.Fatalf("live publish ack %v", ack)
	}
	live := actortest.Expect[*v1.Deliver](t, probe, time.Second)
	if f := actortest.DecodeFrames(t, live.Frames); len(f) != 1 || f[0].Seq != 3 {
		t.Fatalf("live delivery %+v", f)
	}
	// Unsubscribe is not routed: it goes straight to the task actor.
	sys.Root.Send(actortest.PIDOf(sub.Task), &v1.Unsubscribe{TaskId: "t", Subscriber: probe.Ref()})
	actortest.AwaitCondition(t, time.Second, "unsubscribed", func() bool {
		return !ask[*v1.Status](t, r, &v1.GetStatus{TaskId: "t"}).Connected
	})
	if ack := publish(t, r, "t", "d"); !ack.Queued {
		t.Fatal("publish after unsubscribe was not queued")
	}
	actortest.ExpectNoMsg(t, probe, 100*time.Millisecond)
}

func TestDeleteSendsCloseToSubscriberAndForgetsTask(t *testing.T) {
	r, probe, _ := newRegistry(t, actors.Config{})
	publish(t, r, "t", "a")
	ask[*v1.SubscribeAck](t, r, &v1.Subscribe{TaskId: "t", Subscriber: probe.Ref()})
	actortest.Expect[*v1.Deliver](t, probe, time.Second)
	if ack := ask[*v1.DeleteAck](t, r, &v1.Delete{TaskId: "t"}); !ack.Found {
		t.Fatal("delete: not found")
	}
	closing := actortest.Expect[*v1.Deliver](t, probe, time.Second)
	if closing.CloseCode != 1000 || closing.CloseReason != "task deleted" || len(closing.Frames) != 0 {
		t.Fatalf("delete delivery %v", closing)
	}
	if st := ask[*v1.Status](t, r, &v1.GetStatus{TaskId: "t"}); st.Found {
		t.Fatalf("status after delete: %v", st)
	}
	if ack := ask[*v1.DeleteAck](t, r, &v1.Delete{TaskId: "t"}); ack.Found {
		t.Fatal("second delete found the task")
	}
}

func TestFinishedDeliveryCarriesClose(t *testing.T) {
	r, probe, _ := newRegistry(t, actors.Config{})
	ask[*v1.SubscribeAck](t, r, &v1.Subscribe{TaskId: "t", Subscriber: probe.Ref()})
	actortest.Expect[*v1.Deliver](t, probe, time.Second)
	ask[*v1.PublishAck](t, r, &v1.Publish{TaskId: "t", Entries: []*v1.LogInput{{Level: v1.Level_LEVEL_ERROR, Message: "failed", Finished: true}}})
	d := actortest.Expect[*v1.Deliver](t, probe, time.Second)
	if d.CloseCode != 1000 || d.CloseReason != "task finished" || len(d.Frames) != 1 {
		t.Fatalf("finished delivery %v", d)
	}
	if ack := publish(t, r, "t", "late"); ack.Status != v1.PublishStatus_PUBLISH_STATUS_FINISHED {
		t.Fatalf("publish after finished: %v", ack)
	}
	actortest.ExpectNoMsg(t, probe, 50*time.Millisecond)
}

// Restart: a new epoch and numbering from 1; the subscriber stays and is told with an
// epoch gap and the new hello; a finished task takes publishes again; an unknown task is
// answered not found and not created.
func TestRestartStartsANewIncarnation(t *testing.T) {
	r, probe, _ := newRegistry(t, actors.Config{})
	publish(t, r, "t", "a")
	publish(t, r, "t", "b")
	sub := ask[*v1.SubscribeAck](t, r, &v1.Subscribe{TaskId: "t", Subscriber: probe.Ref()})
	actortest.Expect[*v1.Deliver](t, probe, time.Second)

	ack := ask[*v1.RestartAck](t, r, &v1.Restart{TaskId: "t"})
	if !ack.Found || ack.Epoch == "" || ack.Epoch == sub.Epoch {
		t.Fatalf("restart ack %v, want found with a new epoch (old %s)", ack, sub.Epoch)
	}
	told := actortest.Expect[*v1.Deliver](t, probe, time.Second)
	f := actortest.DecodeFrames(t, told.Frames)
	if told.CloseCode != 0 || len(f) != 2 || f[0].Type != "gap" || f[0].Reason != "epoch" || f[0].FromSeq != 3 ||
		f[1].Type != "hello" || f[1].Epoch != ack.Epoch || f[1].LastSeq != 0 {
		t.Fatalf("subscriber told %+v (close %d), want an epoch gap from 3 and the new hello", f, told.CloseCode)
	}
	if g := publish(t, r, "t", "c"); g.FirstSeq != 1 || g.Queued {
		t.Fatalf("first publish after restart: %v, want seq 1 delivered live", g)
	}
	if f := actortest.DecodeFrames(t, actortest.Expect[*v1.Deliver](t, probe, time.Second).Frames); len(f) != 1 || f[0].Seq != 1 || f[0].Message != "c" {
		t.Fatalf("live after restart: %+v", f)
	}
	if st := ask[*v1.Status](t, r, &v1.GetStatus{TaskId: "t"}); st.Epoch != ack.Epoch || st.LastSeq != 1 || !st.Connected {
		t.Fatalf("status after restart: %v", st)
	}

	ask[*v1.PublishAck](t, r, &v1.Publish{TaskId: "f", Entries: []*v1.LogInput{{Level: v1.Level_LEVEL_SUCCESS, Message: "done", Progress: proto.Float64(100), Finished: true}}})
	ask[*v1.RestartAck](t, r, &v1.Restart{TaskId: "f"})
	if g := publish(t, r, "f", "again"); g.Status != v1.PublishStatus_PUBLISH_STATUS_ACCEPTED || g.FirstSeq != 1 {
		t.Fatalf("publish to a restarted finished task: %v", g)
	}
	if st := ask[*v1.Status](t, r, &v1.GetStatus{TaskId: "f"}); st.Finished || st.Progress != 0 || st.Queued != 1 {
		t.Fatalf("restarted finished task: %v", st)
	}

	if ack := ask[*v1.RestartAck](t, r, &v1.Restart{TaskId: "nobody"}); ack.Found || ack.TaskId != "nobody" {
		t.Fatalf("restart of an unknown task: %v", ack)
	}
	if st := ask[*v1.Status](t, r, &v1.GetStatus{TaskId: "nobody"}); st.Found {
		t.Fatal("restart created the unknown task")
	}
	actortest.ExpectNoMsg(t, probe, 50*time.Millisecond)
}
