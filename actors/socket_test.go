package actors

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// runSocket records the runs a writer hands to WriteFrames; failAt makes the run holding
// that frame fail after writing the frames before it.
type runSocket struct {
	runs    []int
	written int
	failAt  int
}

func (s *runSocket) Write(context.Context, []byte) error { return errors.New("want WriteFrames") }
func (s *runSocket) Close(CloseCode, string) error       { return nil }

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
