package actors

import (
	"sync/atomic"

	"github.com/tasktail/tasktail/journal"
)

// Stats are the Manager's running counters, read by the metrics endpoint. They are counters
// about the service, not task state: tasks never read them.
type Stats struct {
	LiveTasks       atomic.Int64   // tasks alive now: a publish created them (or the journal had them)
	WaitingTasks    atomic.Int64   // task actors that hold only viewers waiting for a first publish
	Sockets         atomic.Int64   // sockets attached now
	Published       atomic.Uint64  // messages accepted
	Queued          atomic.Uint64  // messages queued because no subscriber was connected
	Delivered       atomic.Uint64  // frames written to sockets
	Trimmed         atomic.Uint64  // queued messages dropped by the trim rule
	SlowConsumers   atomic.Uint64  // sockets closed with 1013
	WriteFailures   atomic.Uint64  // sockets closed because a write failed
	TaskPanics      atomic.Uint64  // messages whose handling panicked (the task resumed)
	TasksStopped    atomic.Uint64  // tasks stopped for exceeding their failure budget
	TasksPassivated atomic.Uint64  // tasks stopped after their idle or finished TTL
	Journal         journal.Counts // commits the journal wrote, and the task writes they stored
}

// viewerCounters are the conn.Counters that viewers update, kept in Stats.
type viewerCounters struct{ s *Stats }

func (c viewerCounters) ViewerOpened()        { c.s.Sockets.Add(1) }
func (c viewerCounters) ViewerClosed()        { c.s.Sockets.Add(-1) }
func (c viewerCounters) Delivered(frames int) { c.s.Delivered.Add(uint64(frames)) }
func (c viewerCounters) WriteFailed()         { c.s.WriteFailures.Add(1) }
func (c viewerCounters) SlowConsumer()        { c.s.SlowConsumers.Add(1) }
