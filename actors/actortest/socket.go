package actortest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasktail/tasktail/wire"
)

// ErrWriteFailed is what a failing FakeSocket's Write returns.
var ErrWriteFailed = errors.New("fake socket: write failed")

// FakeSocket is an conn.Socket that records frames. It is safe for concurrent use.
type FakeSocket struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change, to wake waiters
	frames  [][]byte
	closed  bool
	code    wire.CloseCode
	reason  string
	fail    bool
	stall   chan struct{} // non-nil: writes block until it is closed or their deadline
	delay   time.Duration // each write takes this long (or until its deadline)
}

// NewFakeSocket returns a socket that accepts every write.
func NewFakeSocket() *FakeSocket { return &FakeSocket{changed: make(chan struct{})} }

// Write implements conn.Socket.
func (s *FakeSocket) Write(ctx context.Context, frame []byte) error {
	s.mu.Lock()
	stall, fail, delay := s.stall, s.fail, s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if stall != nil {
		select {
		case <-stall:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail {
		return ErrWriteFailed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, append([]byte(nil), frame...))
	s.notifyLocked()
	return nil
}

// Close implements conn.Socket.
func (s *FakeSocket) Close(code wire.CloseCode, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed, s.code, s.reason = true, code, reason
		s.notifyLocked()
	}
	return nil
}

func (s *FakeSocket) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Stall makes writes block until Release (or their deadline).
func (s *FakeSocket) Stall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stall == nil {
		s.stall = make(chan struct{})
	}
}

// Release lets stalled writes go on.
func (s *FakeSocket) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stall != nil {
		close(s.stall)
		s.stall = nil
	}
}

// Slow makes every later write take d, as a reader on a slow link would.
func (s *FakeSocket) Slow(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Fail makes every later write fail.
func (s *FakeSocket) Fail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = true
}

// Frames returns a copy of the frames written so far.
func (s *FakeSocket) Frames() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.frames...)
}

// CloseCode returns the close code and reason, and whether the socket was closed.
func (s *FakeSocket) CloseCode() (wire.CloseCode, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code, s.reason, s.closed
}

// WaitFrames waits up to timeout until at least n frames were written and returns them.
func (s *FakeSocket) WaitFrames(t testing.TB, n int, timeout time.Duration) [][]byte {
	t.Helper()
	s.waitFor(t, timeout, "frames", func() bool { return len(s.frames) >= n })
	return s.Frames()
}

// WaitClosed waits up to timeout for the socket to be closed and returns the code.
func (s *FakeSocket) WaitClosed(t testing.TB, timeout time.Duration) (wire.CloseCode, string) {
	t.Helper()
	s.waitFor(t, timeout, "close", func() bool { return s.closed })
	code, reason, _ := s.CloseCode()
	return code, reason
}

func (s *FakeSocket) waitFor(t testing.TB, timeout time.Duration, what string, condLocked func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, changed, got := condLocked(), s.changed, len(s.frames)
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("fake socket: no %s within %v (%d frames written)", what, timeout, got)
		}
	}
}

// CountingSocket is an conn.Socket that only counts frames, for load tests and
// benchmarks where recording them would cost more than what is measured.
type CountingSocket struct {
	frames atomic.Int64
	closed atomic.Bool
}

// Write implements conn.Socket.
func (s *CountingSocket) Write(context.Context, []byte) error {
	s.frames.Add(1)
	return nil
}

// Close implements conn.Socket.
func (s *CountingSocket) Close(wire.CloseCode, string) error {
	s.closed.Store(true)
	return nil
}

// Frames is how many frames were written.
func (s *CountingSocket) Frames() int64 { return s.frames.Load() }
