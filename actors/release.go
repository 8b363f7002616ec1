package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	cmap "github.com/orcaman/concurrent-map"
)

// Memory that outlives tasks. A server that held many tasks should come back near its
// baseline once they have gone; two things in the way are ours to undo.
//
//   - A parent's set of children (actor.PIDSet) keeps removed PIDs in its backing array,
//     and a PID caches the process it named: the whole stopped actor, its state included,
//     stays reachable from the slot. A PID forgets a dead process the next time it is
//     used, so the registry uses each child's PID once more when it has stopped.
//   - Go maps never shrink: a map that held 300,000 tasks keeps its buckets. The maps
//     keyed by task are made again, smaller, once they hold far fewer than they did.
//   - The library's process registry is 1,024 concurrent maps of 32 Go maps each: every
//     one that an actor's id ever hashed to keeps a group of slots, so a process that
//     started some 100,000 actors holds about 9 MiB there for good (2.6 MiB from the
//     start). A registry of processRegistryBuckets concurrent maps takes its place before
//     any actor starts (compactProcessRegistry): its maps keep only what the most actors
//     alive at once needed.

// forgetProcess is sent to a stopped task's PID so that the PID drops its cached process.
// It goes to dead letters, which do not log it.
type forgetProcess struct{}

func (forgetProcess) IgnoreDeadLetterLogging() {}

// releaseProcess makes pid, whose actor has stopped, forget it.
func releaseProcess(ctx actor.Context, pid *actor.PID) { ctx.Send(pid, forgetProcess{}) }

// shrinkFloor is the size below which a map is never made again: small maps cost little.
const shrinkFloor = 4096

// shrunk returns m, or a copy of it sized for what it holds once it holds less than a
// quarter of *peak (the most it held since it was made, which the caller keeps).
func shrunk[K comparable, V any](m map[K]V, peak *int) map[K]V {
	if *peak < shrinkFloor || len(m) >= *peak/4 {
		return m
	}
	fresh := make(map[K]V, len(m))
	for k, v := range m {
		fresh[k] = v
	}
	*peak = len(fresh)
	return fresh
}

// processRegistryBuckets is how many concurrent maps (of 32 shards, each its own lock)
// hold the process's actors.
const processRegistryBuckets = 16

// compactProcessRegistry gives a new actor system a registry of processRegistryBuckets
// concurrent maps in place of the library's 1,024, with what the library registered while
// it made the system. It runs before anything else uses the system.
func compactProcessRegistry(system *actor.ActorSystem) {
	compact := &actor.SliceMap{LocalPIDs: make([]cmap.ConcurrentMap, processRegistryBuckets)}
	for i := range compact.LocalPIDs {
		compact.LocalPIDs[i] = cmap.New()
	}
	for _, bucket := range system.ProcessRegistry.LocalPIDs.LocalPIDs {
		for item := range bucket.IterBuffered() {
			compact.GetBucket(item.Key).Set(item.Key, item.Val)
		}
	}
	system.ProcessRegistry.LocalPIDs = compact
}
