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
	await(t, "both viewers subscribed", func() bool { return s.status("big").num("subscribers") == 2 })

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
