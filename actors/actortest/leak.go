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
// It ignores one goroutine of the actor library that ends on its own timer: the
// dead-letter log throttle lives for one throttle interval after a dead letter.
func VerifyNoLeaks(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, cleanup := range cleanups {
		cleanup()
	}
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left behind after the tests:\n%v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
