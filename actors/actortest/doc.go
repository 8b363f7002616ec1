// Package actortest is tasktail's actor test kit.
//
// A Probe is an actor that records the user messages it receives, so a test can stand it
// in for a subscriber or any other peer of the actor under test and assert on what
// arrives with Expect and ExpectNoMsg. AwaitCondition polls a condition until it holds.
// Every wait has a deadline: a test that would hang fails instead.
//
// FakeSocket implements actors.Socket: it records the frames written to it and the close
// code, and can be made to stall (writes block until released or their deadline passes)
// or to fail.
//
// NewSystem returns an actor system that logs nothing and is shut down with the test.
//
//	sys := actortest.NewSystem(t)
//	probe := actortest.NewProbe(t, sys)
//	sys.Root.Send(probe.PID(), &v1.Hello{TaskId: "t1"})
//	hello := actortest.Expect[*v1.Hello](t, probe, time.Second)
package actortest
