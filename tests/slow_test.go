package tests

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/actors"
)

// Rule 8: a viewer that stops reading is closed with 1013 while another viewer of the
// same task receives every message without stalling, and server memory stays bounded.
func TestSlowConsumer(t *testing.T) {
	const (
		messages = 1200
		size     = 32 << 10 // 1200 × 32 KiB ≈ 38 MiB through the task
	)
	cfg := defaults()
	cfg.Actors = actors.Config{SocketBuffer: 64, MaxBatch: 64, QueueLimit: 50, QueueKeep: 25, HistoryLimit: 50,
		MaxMessageBytes: size, WriteTimeout: time.Minute}
	s := start(t, cfg)

	fast := s.watch("big", "")
	fast.hello()
	stalled := s.dial("big", "") // never reads until told to
	await(t, "both viewers subscribed", func() bool { return s.metricValue("tasktail_viewers") == "2" })

	before := heapInUse()
	text := strings.Repeat("x", size-16)
	received := make(chan int, 1)
	go func() {
		n := 0
		for n < messages {
			fe := <-fast.frames
			if fe.err != nil {
				break
			}
			n++
		}
		received <- n
	}()
	for i := 0; i < messages; i++ {
		s.publish("big", "info", text, 0, false)
	}
	select {
	case n := <-received:
		if n != messages {
			t.Fatalf("fast viewer got %d of %d", n, messages)
		}
	case <-time.After(wait):
		t.Fatal("fast viewer stalled")
	}
	await(t, "stalled viewer dropped", func() bool { return s.status("big").num("subscribers") == 1 })
	if grown := heapInUse() - before; grown > 16<<20 {
		t.Fatalf("heap grew by %d MiB while a viewer stalled; want it bounded by buffers, not traffic", grown>>20)
	}
	// Reading again, the stalled viewer finds what was already on its way, then 1013.
	stalled.startReading()
	if code, reason := stalled.closed(); code != websocket.StatusTryAgainLater || reason != "slow consumer" {
		t.Fatalf("stalled viewer closed with %d %q, want 1013 slow consumer", code, reason)
	}
	if got := s.srv.Manager().Stats().SlowConsumers.Load(); got != 1 {
		t.Fatalf("slow consumer closes = %d, want 1", got)
	}
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// A viewer that stops reading while its buffer still has room is cut off by the write
// timeout: the server's writer does not wait on it for ever, and counts a write failure.
func TestWriteTimeoutEndsStalledViewer(t *testing.T) {
	const size = 32 << 10
	cfg := defaults()
	cfg.Actors = actors.Config{MaxMessageBytes: size, WriteTimeout: 300 * time.Millisecond}
	s := start(t, cfg)
	s.publish("stuck", "info", "first", 0, false)
	s.dial("stuck", "") // never reads
	await(t, "viewer subscribed", func() bool { return s.status("stuck").num("subscribers") == 1 })

	// 1000 × 32 KiB is far more than loopback socket buffers hold (a few MiB) and far
	// fewer frames than the viewer's buffer (4096), so only the write timeout can end it.
	text := strings.Repeat("x", size-16)
	for i := 0; i < 1000 && s.status("stuck").num("subscribers") == 1; i++ {
		s.publish("stuck", "info", text, 0, false)
	}
	await(t, "stalled viewer cut off", func() bool { return s.status("stuck").num("subscribers") == 0 })
	stats := s.srv.Manager().Stats()
	if got := stats.WriteFailures.Load(); got != 1 {
		t.Fatalf("write failures = %d, want 1", got)
	}
	if got := stats.SlowConsumers.Load(); got != 0 {
		t.Fatalf("slow consumer closes = %d, want 0: the buffer never filled", got)
	}
}
