package actortest_test

import (
	"testing"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

func TestMain(m *testing.M) { actortest.VerifyNoLeaks(m) }

// TestKitExample is the example of doc.go: how a test of a task message reads. Spawn a
// task, stand a probe in for the subscriber, send messages, expect what arrives.
func TestKitExample(t *testing.T) {
	sys, task := actortest.SpawnTask(t, "import-42", actors.Config{})
	probe := actortest.NewProbe(t, sys)

	reply, err := sys.Root.RequestFuture(task, &v1.Subscribe{TaskId: "import-42", Subscriber: probe.Ref()}, time.Second).Result()
	if ack, ok := reply.(*v1.SubscribeAck); err != nil || !ok || ack.LastSeq != 0 {
		t.Fatalf("subscribe: %v %v", reply, err)
	}
	if hello := actortest.Expect[*v1.Deliver](t, probe, time.Second); len(hello.Frames) != 1 {
		t.Fatalf("first delivery has %d frames, want the hello", len(hello.Frames))
	}

	sys.Root.Send(task, &v1.Publish{TaskId: "import-42", Entries: []*v1.LogInput{{Level: v1.Level_LEVEL_INFO, Message: "rows 1-100"}}})
	live := actortest.DecodeFrames(t, actortest.Expect[*v1.Deliver](t, probe, time.Second).Frames)
	if live[0].Seq != 1 || live[0].Level != "info" || live[0].Message != "rows 1-100" {
		t.Fatalf("live frame %+v", live[0])
	}
	actortest.ExpectNoMsg(t, probe, 20*time.Millisecond)
}

func TestFakeSocketSlow(t *testing.T) {
	s := actortest.NewFakeSocket()
	s.Slow(30 * time.Millisecond)
	began := time.Now()
	if err := s.Write(t.Context(), []byte("x")); err != nil || time.Since(began) < 30*time.Millisecond {
		t.Fatalf("a slow write took %v (%v)", time.Since(began), err)
	}
}
