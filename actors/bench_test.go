package actors_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"google.golang.org/protobuf/proto"
)

// benchManager is a Manager with defaults and a history limit that keeps memory small.
func benchManager(b *testing.B) *actors.Manager {
	return benchManagerWith(b, actors.Config{})
}

func benchManagerWith(b *testing.B, cfg actors.Config) *actors.Manager {
	b.Helper()
	m, err := actors.NewManager(cfg, actors.Options{})
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

var entry = []*v1.LogInput{{Level: v1.Level_LEVEL_INFO, Message: "rows 1000-2000 imported into customers (batch 17 of 40)", Progress: proto.Float64(42)}}

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

// liveBytes is the heap still reachable plus goroutine stacks, after a collection.
func liveBytes() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc + ms.StackInuse)
}

// BenchmarkMemoryWaitingTask reports the memory of a viewer waiting for a task nobody
// has published to: each op attaches one to a task of its own (the waiting task actor
// and the viewer's socket actor and outbox; not the connection).
func BenchmarkMemoryWaitingTask(b *testing.B) {
	m := benchManagerWith(b, actors.Config{MaxWaitingTasks: 10_000_000})
	ctx := context.Background()
	var waiting []*actors.Attachment
	before := liveBytes()
	for i := 0; b.Loop(); i++ {
		a, err := m.Attach(ctx, "waiting-"+strconv.Itoa(i), actors.Resume{})
		if err != nil {
			b.Fatal(err)
		}
		waiting = append(waiting, a)
	}
	b.ReportMetric((liveBytes()-before)/float64(b.N), "B/waiting")
	b.ReportMetric(float64(m.Stats().WaitingTasks.Load()), "tasks")
	for _, a := range waiting {
		a.Cancel()
	}
	actortest.AwaitCondition(b, time.Minute, "waiting tasks gone", func() bool { return m.Stats().WaitingTasks.Load() == 0 })
}

// BenchmarkMemoryQueuedTask reports the memory of a task nobody watches that holds 50
// queued 100-byte messages: each op creates one with a batch publish. Run it with
// -benchtime 100000x for issue 7's 100,000-task figure.
func BenchmarkMemoryQueuedTask(b *testing.B) {
	m := benchManagerWith(b, actors.Config{MaxTasks: 10_000_000})
	ctx := context.Background()
	batch := make([]*v1.LogInput, 50)
	for i := range batch {
		batch[i] = &v1.LogInput{Level: v1.Level_LEVEL_INFO, Message: strings.Repeat("x", 90) + fmt.Sprintf("%010d", i)}
	}
	before := liveBytes()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Publish(ctx, "queued-"+strconv.Itoa(i), batch); err != nil {
			b.Fatal(err)
		}
	}
	perTask := (liveBytes() - before) / float64(b.N)
	b.ReportMetric(perTask, "B/task")
	b.ReportMetric(perTask*100_000/(1<<30), "GiB/100k-tasks")
}

// BenchmarkSendLogConcurrent is SendLog from many goroutines to one task with one viewer
// (a job that logs from its workers): publishes made at the same time travel to the task
// in one message. It reports the messages delivered to the viewer per second.
func BenchmarkSendLogConcurrent(b *testing.B) {
	for _, perCore := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("goroutines=%dxGOMAXPROCS", perCore), func(b *testing.B) {
			m := benchManager(b)
			ctx := context.Background()
			viewer := &actortest.CountingSocket{}
			if err := m.Connect(ctx, "workers", viewer); err != nil {
				b.Fatal(err)
			}
			waitFrames(b, []*actortest.CountingSocket{viewer}, 1) // hello
			msg := entry[0].Message
			b.ReportAllocs()
			b.SetParallelism(perCore)
			b.ResetTimer()
			began := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.SendLog(ctx, "workers", v1.Level_LEVEL_INFO, msg, 42, false); err != nil {
						b.Error(err)
						return
					}
				}
			})
			waitFrames(b, []*actortest.CountingSocket{viewer}, int64(1+b.N))
			b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "msg/s")
		})
	}
}

// BenchmarkProducer is one goroutine publishing through a Producer to a task with one
// viewer: it does not wait per message. It reports the messages delivered per second.
// The viewer's buffer is large: the producer outruns the viewer's writer goroutine at
// times, and a viewer that falls 4096 frames behind (the default) is closed with 1013.
func BenchmarkProducer(b *testing.B) {
	m := benchManagerWith(b, actors.Config{SocketBuffer: 1 << 20})
	ctx := context.Background()
	viewer := &actortest.CountingSocket{}
	if err := m.Connect(ctx, "producer", viewer); err != nil {
		b.Fatal(err)
	}
	waitFrames(b, []*actortest.CountingSocket{viewer}, 1) // hello
	pr, err := m.Producer("producer")
	if err != nil {
		b.Fatal(err)
	}
	msg := entry[0].Message
	b.ReportAllocs()
	b.ResetTimer()
	began := time.Now()
	for b.Loop() {
		if err := pr.SendLog(ctx, v1.Level_LEVEL_INFO, msg, 42, false); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pr.Close(ctx); err != nil {
		b.Fatal(err)
	}
	waitFrames(b, []*actortest.CountingSocket{viewer}, int64(1+b.N))
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "msg/s")
}

// managerWithTasks is a Manager holding n tasks, each made by one publish.
func managerWithTasks(b *testing.B, n int) *actors.Manager {
	m := benchManagerWith(b, actors.Config{MaxTasks: 1_000_000})
	for i := range n {
		if _, err := m.Publish(context.Background(), "list-"+strconv.Itoa(i), entry); err != nil {
			b.Fatal(err)
		}
	}
	return m
}

// BenchmarkListTasks reports how long the task list takes to read every task of a node,
// page by page (GET /v1/tasks reads one page): 10,000 and 100,000 tasks, each made by one
// publish. BenchmarkListPage reads the first page.
func BenchmarkListTasks(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			m := managerWithTasks(b, n)
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				list, err := m.ListTasks(ctx, "")
				if err != nil || len(list) != n {
					b.Fatalf("listed %d of %d: %v", len(list), n, err)
				}
			}
		})
	}
}

// BenchmarkListPage reports how long the first page of 50 of the task list takes among
// 10,000 and 100,000 tasks in memory: about the same.
func BenchmarkListPage(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			m := managerWithTasks(b, n)
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				page, err := m.ListPage(ctx, actors.ListQuery{After: journal.Newest, Limit: 50})
				if err != nil || len(page) != 51 {
					b.Fatalf("a page of %d: %v", len(page), err)
				}
			}
		})
	}
}
