package actortest

import (
	"testing"

	"go.uber.org/goleak"
)

// VerifyNoLeaks runs a package's tests and fails the run if goroutines are left behind.
// Call it from TestMain.
//
// It ignores one goroutine of the actor library that ends on its own timer: the
// dead-letter log throttle lives for one throttle interval after a dead letter.
func VerifyNoLeaks(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}
