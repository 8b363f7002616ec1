package actortest

import "runtime"

// HeapAfterGC is the live heap once garbage is collected, for tests of what memory comes
// back.
func HeapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
