package conn

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tasktail/tasktail/wire"
)

// runSocket records the runs a writer hands to WriteFrames; failAt makes the run holding
// that frame fail after writing the frames before it.
type runSocket struct {
	runs    []int
	written int
	failAt  int
}

func (s *runSocket) Write(context.Context, []byte) error { return errors.New("want WriteFrames") }
func (s *runSocket) Close(wire.CloseCode, string) error  { return nil }

func (s *runSocket) WriteFrames(deadline time.Time, frames [][]byte) (int, error) {
	if deadline.IsZero() {
		return 0, errors.New("run without a deadline")
	}
	s.runs = append(s.runs, len(frames))
	if s.failAt >= s.written && s.failAt < s.written+len(frames) {
		n := s.failAt - s.written
		s.written += n
		return n, errors.New("connection reset")
	}
	s.written += len(frames)
	return len(frames), nil
}

func framesOf(sizes ...int) [][]byte {
	var frames [][]byte
	for _, size := range sizes {
		frames = append(frames, make([]byte, size))
	}
	return frames
}

func repeat(n, size int) []int { return slices.Repeat([]int{size}, n) }

func TestWriteFramesInRuns(t *testing.T) {
	cases := []struct {
		name  string
		sizes []int
		runs  []int
	}{
		{"a burst is cut at 64 frames", repeat(150, 100), []int{64, 64, 22}},
		{"and at 64 KiB", repeat(5, 20<<10), []int{3, 2}},
		{"a frame over 64 KiB goes alone", []int{100, 100 << 10, 100}, []int{1, 1, 1}},
		{"one frame", []int{10}, []int{1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &runSocket{failAt: -1}
			frames := framesOf(tc.sizes...)
			n, err := writeFrames(context.Background(), s, frames, time.Second)
			if err != nil || n != len(frames) {
				t.Fatalf("writeFrames = %d, %v; want %d, nil", n, err, len(frames))
			}
			if !slices.Equal(s.runs, tc.runs) {
				t.Fatalf("runs %v, want %v", s.runs, tc.runs)
			}
			for i, f := range frames {
				if f != nil {
					t.Fatalf("frame %d still held after it was written", i)
				}
			}
		})
	}
}

func TestWriteFramesStopsAtAFailedRun(t *testing.T) {
	s := &runSocket{failAt: 70}
	frames := framesOf(repeat(100, 10)...)
	n, err := writeFrames(context.Background(), s, frames, time.Second)
	if err == nil || n != 70 {
		t.Fatalf("writeFrames = %d, %v; want 70 written and the error", n, err)
	}
	if frames[69] != nil || frames[70] == nil {
		t.Fatal("want exactly the written frames released")
	}
}

// memSocket records what a writer writes and how it closes.
type memSocket struct {
	mu     sync.Mutex
	frames []string
	closed wire.CloseCode
}

func (s *memSocket) Write(_ context.Context, frame []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, string(frame))
	return nil
}

func (s *memSocket) Close(code wire.CloseCode, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = code
	return nil
}

func (s *memSocket) state() ([]string, wire.CloseCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.frames), s.closed
}

func (o *Outbox) writing() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.active
}

func awaitTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
	}
}

// An idle connection has no writer goroutine; frames, the peer leaving and a close of all
// viewers each bring one back.
func TestOutboxWritesOnlyWhileThereIsWork(t *testing.T) {
	start := func() (*Outbox, *memSocket, context.CancelFunc, *Broadcast, chan error) {
		o, s := NewOutbox(16), &memSocket{}
		ctx, leave := context.WithCancel(context.Background())
		all, ended := NewBroadcast(), make(chan error, 1)
		o.Push([][]byte{[]byte("hello")}, true) // before start: waits
		o.Start(Writer{Ctx: ctx, Socket: s, Timeout: time.Second, CloseAll: all, Detach: func() {}, Counters: nopCounters{},
			End: func(err error) { ended <- err }})
		return o, s, leave, all, ended
	}
	written := func(s *memSocket, n int) func() bool {
		return func() bool { frames, _ := s.state(); return len(frames) == n }
	}
	endedWith := func(t *testing.T, ended chan error) error {
		t.Helper()
		select {
		case err := <-ended:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("the connection did not end")
			return nil
		}
	}

	o, s, leave, _, ended := start()
	awaitTrue(t, "hello written", written(s, 1))
	awaitTrue(t, "writer gone when idle", func() bool { return !o.writing() })
	o.Push([][]byte{[]byte("a"), []byte("b")}, false)
	awaitTrue(t, "frames pushed to an idle outbox written", written(s, 3))
	awaitTrue(t, "writer gone again", func() bool { return !o.writing() })
	if frames, _ := s.state(); !slices.Equal(frames, []string{"hello", "a", "b"}) {
		t.Fatalf("wrote %q", frames)
	}
	leave()
	if err := endedWith(t, ended); err != nil {
		t.Fatalf("peer left: ended with %v, want nil", err)
	}
	if o.Push([][]byte{[]byte("late")}, false); o.writing() {
		t.Fatal("a writer started after the connection ended")
	}

	o2, s2, _, all, ended2 := start()
	awaitTrue(t, "writer gone when idle", func() bool { return written(s2, 1)() && !o2.writing() })
	all.Fire(wire.CloseGoingAway, "shutdown")
	if err := endedWith(t, ended2); err != nil {
		t.Fatalf("close of all viewers: ended with %v", err)
	}
	if _, code := s2.state(); code != wire.CloseGoingAway {
		t.Fatalf("closed with %d, want %d", code, wire.CloseGoingAway)
	}
}

// nopCounters counts nothing.
type nopCounters struct{}

func (nopCounters) ViewerOpened() {}
func (nopCounters) ViewerClosed() {}
func (nopCounters) Delivered(int) {}
func (nopCounters) WriteFailed()  {}
func (nopCounters) SlowConsumer() {}

// stuckSocket takes writes until stuck is closed and then blocks them, and blocks a close
// (a handshake the peer never answers), until Abort.
type stuckSocket struct {
	stuck   chan struct{}
	aborted chan struct{}
	once    sync.Once
}

func (s *stuckSocket) Write(ctx context.Context, _ []byte) error {
	select {
	case <-s.stuck:
	default:
		return nil
	}
	select {
	case <-s.aborted:
		return errors.New("aborted")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *stuckSocket) Close(wire.CloseCode, string) error {
	<-s.aborted
	return errors.New("aborted")
}

func (s *stuckSocket) Abort() { s.once.Do(func() { close(s.aborted) }) }

// A close that does not drain (a slow consumer) drops the frames waiting at once, and the
// write in flight and the close handshake end within the write timeout of it, together.
func TestCloseWithoutDrainEndsWithinTheWriteTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	o, s := NewOutbox(16), &stuckSocket{stuck: make(chan struct{}), aborted: make(chan struct{})}
	ended := make(chan error, 1)
	o.Start(Writer{Ctx: context.Background(), Socket: s, Timeout: timeout, CloseAll: NewBroadcast(), Detach: func() {},
		Counters: nopCounters{}, End: func(err error) { ended <- err }})
	close(s.stuck)
	o.Push(framesOf(10), false)
	awaitTrue(t, "a write in flight", o.writing)
	o.Push(framesOf(10, 10), false)
	began := time.Now()
	o.Close(wire.CloseTryAgainLater, "slow consumer", false)
	if o.mu.Lock(); len(o.frames) != 0 {
		t.Errorf("%d frames still held after the close", len(o.frames))
	}
	o.mu.Unlock()
	select {
	case <-ended:
		if d := time.Since(began); d > timeout+200*time.Millisecond {
			t.Fatalf("ended %v after the close; the write timeout is %v", d, timeout)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not end: the close waits on a peer that never answers")
	}
}
