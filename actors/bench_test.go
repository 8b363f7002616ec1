package actors_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// benchManager is a Manager with defaults and a history limit that keeps memory small.
func benchManager(b *testing.B) *actors.Manager {
	b.Helper()
	m, err := actors.NewManager(actors.Config{}, actors.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	})
	return m
}

var entry = []*v1.LogInput{{Level: v1.Level_LEVEL_INFO, Message: "rows 1000-2000 imported into customers (batch 17 of 40)", Progress: 42}}

// BenchmarkPublishNoViewer is one SendLog round trip to a task nobody watches.
func BenchmarkPublishNoViewer(b *testing.B) {
	m := benchManager(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Publish(ctx, "bench", entry); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFanOut publishes to one task with N viewers and waits until every viewer has
// every message; it reports delivered frames per second.
func BenchmarkFanOut(b *testing.B) {
	for _, viewers := range []int{1, 10, 1000} {
		b.Run(fmt.Sprintf("viewers=%d", viewers), func(b *testing.B) {
			m := benchManager(b)
			ctx := context.Background()
			sockets := make([]*actortest.CountingSocket, viewers)
			for i := range sockets {
				sockets[i] = &actortest.CountingSocket{}
				if err := m.Connect(ctx, "fan", sockets[i]); err != nil {
					b.Fatal(err)
				}
			}
			waitFrames(b, sockets, 1) // hello
			b.ReportAllocs()
			b.ResetTimer()
			began := time.Now()
			for b.Loop() {
				if _, err := m.Publish(ctx, "fan", entry); err != nil {
					b.Fatal(err)
				}
			}
			waitFrames(b, sockets, int64(1+b.N))
			b.ReportMetric(float64(b.N*viewers)/time.Since(began).Seconds(), "frames/s")
		})
	}
}

func waitFrames(b *testing.B, sockets []*actortest.CountingSocket, n int64) {
	b.Helper()
	actortest.AwaitCondition(b, time.Minute, "frames delivered", func() bool {
		for _, s := range sockets {
			if s.Frames() < n {
				return false
			}
		}
		return true
	})
}

// BenchmarkParallelTasks publishes from many goroutines to 10,000 tasks at once.
func BenchmarkParallelTasks(b *testing.B) {
	const tasks = 10_000
	m := benchManager(b)
	ctx := context.Background()
	ids := make([]string, tasks)
	for i := range ids {
		ids[i] = fmt.Sprintf("task-%d", i)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Publish(ctx, ids[next.Add(1)%tasks], entry); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
