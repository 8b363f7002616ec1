package actors

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// NewActorSystem is the actor system of a tasktail process, for tests that stand up
// processes that talk through the library's remote.
var NewActorSystem = newActorSystem

// RemoteConfig is the library's remote as cluster members use it.
var RemoteConfig = remoteConfig

// LeaveCluster is a member's leave, which survives the library's panic there.
var LeaveCluster = leaveCluster

// SweepAt runs one retention sweep of the Manager's journal as its own sweep does, at
// now instead of the ticker's time, and returns how many tasks it removed. Without a
// journal it removes none.
func (m *Manager) SweepAt(now time.Time) (int, error) {
	if m.store == nil {
		return 0, nil
	}
	return m.sweepOnce(now)
}

// Listed is how many tasks the Manager's list index holds.
func (m *Manager) Listed() int { return m.index.len() }

// ListWalked is how many index entries the Manager's list pages have read.
func (m *Manager) ListWalked() uint64 { return m.index.walked.Load() }

// SpawnAndStop starts n actors that are not tasks in the Manager's actor system and stops
// them, as a busy process will have: the library's process registry is 32,768 small maps
// that never shrink, and this grows them to what they will keep.
func (m *Manager) SpawnAndStop(n int) {
	var stopped sync.WaitGroup
	props := actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Stopped); ok {
			stopped.Done()
		}
	})
	for range n {
		stopped.Add(1)
		m.system.Root.Stop(m.system.Root.Spawn(props))
	}
	stopped.Wait()
}
