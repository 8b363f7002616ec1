package actortest

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// VerifyNoLeaks runs a package's tests, then cleanups, and fails the run if goroutines
// are left behind. Call it from TestMain.
//
// It ignores two goroutines of the actor library that end on their own timers: the
// dead-letter and the cluster gossip log throttles live for one throttle interval after
// they logged.
func VerifyNoLeaks(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, cleanup := range cleanups {
		cleanup()
	}
	if code == 0 {
		if err := goleak.Find(
			goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
			goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/cluster.(*Gossiper).StartGossiping.NewThrottle.func3.1"),
		); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left behind after the tests:\n%v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
