// Package actortest is tasktail's actor test kit.
//
// A Probe is an actor that records the user messages it receives, so a test can stand it
// in for a subscriber or any other peer of the actor under test and assert on what
// arrives with Expect and ExpectNoMsg. AwaitCondition polls a condition until it holds.
// Every wait has a deadline: a test that would hang fails instead.
//
// FakeSocket implements conn.Socket: it records the frames written to it and the close
// code, and can be made slow (every write takes a while), stalled (writes block until
// released or their deadline passes) or failing. CountingSocket only counts frames, for
// load tests and benchmarks.
//
// NewSystem returns an actor system that logs nothing and is shut down with the test.
// SpawnTask starts one TaskActor in such a system, to be sent the messages of
// proto/tasktail/v1 directly. VerifyNoLeaks, called from TestMain, fails a package whose
// tests leave goroutines behind.
//
// A test of a task message (this is TestKitExample in example_test.go):
//
//	sys, task := actortest.SpawnTask(t, "import-42", actors.Config{})
//	probe := actortest.NewProbe(t, sys)
//	sys.Root.RequestFuture(task, &v1.Subscribe{TaskId: "import-42", Subscriber: probe.Ref()}, time.Second).Result()
//	actortest.Expect[*v1.Deliver](t, probe, time.Second) // the hello
//	sys.Root.Send(task, &v1.Publish{TaskId: "import-42", Entries: []*v1.LogInput{{Level: v1.Level_LEVEL_INFO, Message: "rows 1-100"}}})
//	live := actortest.DecodeFrames(t, actortest.Expect[*v1.Deliver](t, probe, time.Second).Frames)
//	// live[0].Seq == 1, live[0].Message == "rows 1-100"
//	actortest.ExpectNoMsg(t, probe, 20*time.Millisecond)
package actortest
