package pebble

import (
	"sync"

	pebbledb "github.com/cockroachdb/pebble/v2"
)

// compactionScheduler grants Pebble's compactions up to the number the database allows,
// as Pebble's own ConcurrencyLimitScheduler does, but only when something happens: a
// compaction asks, one ends, or a flush raises the number allowed. Pebble's scheduler
// also looks every 100 ms, which costs an idle server about 2 ms of CPU a second; here
// an idle journal wakes nothing. What the 100 ms look would catch sooner is a rise in
// the number allowed that no flush reported: it waits for the next compaction's end.
type compactionScheduler struct {
	db   pebbledb.DBForCompaction
	poke chan struct{} // a flush may have raised the number allowed
	stop chan struct{}
	done chan struct{}

	mu           sync.Mutex
	running      int
	allowed      int // as last seen
	granting     bool
	granted      *sync.Cond // granting ended
	unregistered bool
}

var _ pebbledb.CompactionScheduler = (*compactionScheduler)(nil)

func newCompactionScheduler() *compactionScheduler {
	s := &compactionScheduler{poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.granted = sync.NewCond(&s.mu)
	return s
}

// Register implements pebbledb.CompactionScheduler.
func (s *compactionScheduler) Register(_ int, db pebbledb.DBForCompaction) {
	s.db = db
	go s.pokes()
}

// pokes grants what a flush allowed, off the flush's goroutine: Pebble reports a flush
// holding its own lock, which granting takes.
func (s *compactionScheduler) pokes() {
	defer close(s.done)
	for {
		select {
		case <-s.poke:
			s.mu.Lock()
			s.grantAndUnlock()
		case <-s.stop:
			return
		}
	}
}

// Unregister implements pebbledb.CompactionScheduler: no grant after it returns.
func (s *compactionScheduler) Unregister() {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unregistered = true
	for s.granting {
		s.granted.Wait()
	}
}

// TrySchedule implements pebbledb.CompactionScheduler.
func (s *compactionScheduler) TrySchedule() (bool, pebbledb.CompactionGrantHandle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unregistered {
		return false, nil
	}
	s.allowed = s.db.GetAllowedWithoutPermission()
	if s.allowed > s.running {
		s.running++
		return true, s
	}
	return false, nil
}

// UpdateGetAllowedWithoutPermission implements pebbledb.CompactionScheduler.
func (s *compactionScheduler) UpdateGetAllowedWithoutPermission() {
	s.mu.Lock()
	allowed := s.db.GetAllowedWithoutPermission()
	raised := allowed > s.allowed
	s.allowed = allowed
	s.mu.Unlock()
	if raised {
		select {
		case s.poke <- struct{}{}:
		default:
		}
	}
}

// Started, MeasureCPU and CumulativeStats implement pebbledb.CompactionGrantHandle.
func (s *compactionScheduler) Started()                                            {}
func (s *compactionScheduler) MeasureCPU(pebbledb.CompactionGoroutineKind)         {}
func (s *compactionScheduler) CumulativeStats(pebbledb.CompactionGrantHandleStats) {}

// Done implements pebbledb.CompactionGrantHandle: a compaction ended, so another may run.
func (s *compactionScheduler) Done() {
	s.mu.Lock()
	s.running--
	s.grantAndUnlock()
}

// grantAndUnlock grants the compactions that wait, while the number allowed leaves room,
// one granter at a time, and unlocks s.mu.
func (s *compactionScheduler) grantAndUnlock() {
	defer s.mu.Unlock()
	for s.granting && !s.unregistered {
		s.granted.Wait()
	}
	if s.unregistered {
		return
	}
	s.allowed = s.db.GetAllowedWithoutPermission()
	room := s.allowed - s.running
	if room <= 0 {
		return
	}
	s.granting = true
	s.mu.Unlock()
	// GetWaitingCompaction and Schedule take the database's lock, which is ordered
	// before s.mu.
	for ; room > 0; room-- {
		if waiting, _ := s.db.GetWaitingCompaction(); !waiting || !s.db.Schedule(s) {
			break
		}
		s.mu.Lock()
		s.running++
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.granting = false
	s.granted.Broadcast()
}
