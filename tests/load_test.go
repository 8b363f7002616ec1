package tests

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/client"
)

// A thousand WebSocket viewers over loopback, ten per task, while twenty HTTP publishers
// publish to the hundred tasks: every viewer gets every message of its task, in order,
// and nothing is left running afterwards.
func TestLoadThousandViewers(t *testing.T) {
	const (
		tasks, perTask    = 100, 10
		publishers, sends = 20, 100 // each publisher sends to every task in turn
	)
	s := start(t, defaults())
	baseline := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	type result struct {
		task, got int
		err       error
	}
	results := make(chan result, tasks*perTask)
	var viewers sync.WaitGroup
	wsBase := "ws" + strings.TrimPrefix(s.base, "http")
	want := publishers * sends / tasks // messages per task
	for i := range tasks * perTask {
		task := i % tasks
		c, _, err := websocket.Dial(ctx, fmt.Sprintf("%s/v1/tasks/lt-%d/ws?since=0", wsBase, task), nil)
		if err != nil {
			t.Fatalf("viewer %d: %v", i, err)
		}
		viewers.Add(1)
		go func() {
			defer viewers.Done()
			defer c.CloseNow()
			got := 0
			for got < want {
				_, b, err := c.Read(ctx)
				if err != nil {
					results <- result{task, got, err}
					return
				}
				ev, err := client.ParseEvent(b)
				if err != nil || (ev.Type == "log" && ev.Seq != uint64(got+1)) || ev.Type == "gap" {
					results <- result{task, got, fmt.Errorf("frame %s after %d logs (%v)", b, got, err)}
					return
				}
				if ev.Type == "log" {
					got++
				}
			}
			results <- result{task, got, nil}
		}()
	}
	await(t, "all viewers subscribed", func() bool { return s.metricValue("tasktail_viewers") == strconv.Itoa(tasks*perTask) })
	began := time.Now()
	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			c := newAPIClient(t, s)
			for n := range sends {
				task := (p*sends + n) % tasks
				if _, err := c.Publish(ctx, fmt.Sprintf("lt-%d", task), client.Log{Level: client.Info, Message: "x"}); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		}()
	}
	pubs.Wait()
	viewers.Wait()
	close(results)
	for r := range results {
		if r.err != nil || r.got != want {
			t.Fatalf("a viewer of task %d got %d of %d: %v", r.task, r.got, want, r.err)
		}
	}
	t.Logf("%d viewers × %d messages delivered in %v", tasks*perTask, want, time.Since(began))
	s.client.CloseIdleConnections()
	await(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseline+5 })
}

// Twenty thousand viewers connect and leave while publishing goes on: afterwards the
// server holds no more goroutines, sockets or heap than before.
func TestLoadViewerChurn(t *testing.T) {
	const workers, each = 20, 1000
	s := start(t, defaults())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s.publishN("churn", 1, 10)
	s.client.CloseIdleConnections()
	baseGoroutines, baseHeap := runtime.NumGoroutine(), heapInUse()

	stop := make(chan struct{})
	publishing := make(chan int)
	go func() { // publishing goes on throughout
		c := newAPIClient(t, s)
		n := 0
		defer func() { publishing <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Publish(ctx, "churn", client.Log{Level: client.Info, Message: "tick"}); err != nil {
				t.Errorf("publish: %v", err)
				return
			}
			n++
		}
	}()
	wsURL := "ws" + strings.TrimPrefix(s.base, "http") + "/v1/tasks/churn/ws" // the queue, not the history: churn, not replay
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				c, _, err := websocket.Dial(ctx, wsURL, nil)
				if err != nil {
					t.Errorf("viewer: %v", err)
					return
				}
				if i%2 == 0 { // half read their hello first, half leave at once
					_, _, _ = c.Read(ctx)
				}
				c.CloseNow()
			}
		}()
	}
	wg.Wait()
	close(stop)
	published := <-publishing
	s.client.CloseIdleConnections()
	await(t, "viewers gone", func() bool { return s.status("churn").num("subscribers") == 0 })
	await(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseGoroutines+5 })
	heap := heapInUse()
	t.Logf("%d viewers came and went while %d messages were published; goroutines %d → %d, heap %d → %d MiB",
		workers*each, published, baseGoroutines, runtime.NumGoroutine(), baseHeap>>20, heap>>20)
	if heap > baseHeap+32<<20 {
		t.Fatalf("heap grew from %d MiB to %d MiB", baseHeap>>20, heap>>20)
	}
	if got := s.srv.Manager().Stats().Sockets.Load(); got != 0 {
		t.Fatalf("%d socket actors left", got)
	}
}
