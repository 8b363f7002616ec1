//go:build soak

package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/client"
)

// TestSoak publishes valid and garbage traffic together for TASKTAIL_SOAK_DURATION
// (default 1 min, at most 10 min) and checks that valid viewers lose nothing and the
// server's heap stays flat. make bench runs it; it needs the soak build tag.
func TestSoak(t *testing.T) {
	d := 1 * time.Minute
	if v := os.Getenv("TASKTAIL_SOAK_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	d = min(d, 10*time.Minute)
	cfg := defaults()
	cfg.PublishKeys = []string{testKey}
	cfg.TokenSecret = []byte(testSecret)
	cfg.PublishRate, cfg.PublishBurst = 1e6, 1e6
	s := start(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	const tasks = 8
	var wg sync.WaitGroup
	published := make([]int, tasks)
	received := make([]int, tasks)   // in order, each seq once
	misordered := make([]int, tasks) // a seq that was not the next one
	for i := range tasks {
		taskID := fmt.Sprintf("soak-%d", i)
		viewer, err := client.New(s.base, &client.Options{Token: mint(t, taskID, d+time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		stream, err := viewer.Tail(context.Background(), taskID, 0)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		go func() { // the viewer, until the task finishes
			defer wg.Done()
			for {
				ev, err := stream.Next()
				if err != nil {
					return
				}
				if ev.Type == "log" {
					if ev.Seq != uint64(received[i]+1) {
						misordered[i]++
					}
					received[i]++
				}
			}
		}()
		go func() { // the producer, until the soak ends, then the final message
			defer wg.Done()
			producer, _ := client.New(s.base, &client.Options{Token: testKey})
			for ctx.Err() == nil {
				if _, err := producer.Publish(context.Background(), taskID, client.Log{Level: client.Info, Message: fmt.Sprintf("valid %d", published[i]+1)}); err != nil {
					t.Errorf("valid publish: %v", err)
					return
				}
				published[i]++
				time.Sleep(2 * time.Millisecond) // paced, not ordering: ~500 msg/s per task
			}
			if _, err := producer.Publish(context.Background(), taskID, client.Log{Level: client.Success, Message: "end", Finished: true}); err != nil {
				t.Errorf("final publish: %v", err)
			}
			published[i]++
		}()
	}
	for g := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); garbage(ctx, s, g) }()
	}

	var heaps []int64
	var baseline int64
	sample := time.NewTicker(d / 20)
	warmUp := time.Now().Add(d / 5)
	for done := false; !done; {
		select {
		case <-sample.C:
			h := heapInUse()
			if baseline == 0 && time.Now().After(warmUp) {
				baseline = h
			}
			heaps = append(heaps, h)
		case <-ctx.Done():
			done = true
		}
	}
	sample.Stop()
	wg.Wait()

	total := 0
	for i := range tasks {
		total += published[i]
		if received[i] != published[i] || misordered[i] > 0 {
			t.Errorf("task %d: viewer got %d of %d messages, %d out of order (lost or doubled)", i, received[i], published[i], misordered[i])
		}
	}
	peak := int64(0)
	for _, h := range heaps {
		peak = max(peak, h)
	}
	t.Logf("soak %v: %d valid messages over %d tasks; heap after warm-up %d MiB, peak %d MiB; samples %v MiB",
		d, total, tasks, baseline>>20, peak>>20, mib(heaps))
	if baseline > 0 && peak > baseline*3/2+16<<20 {
		t.Errorf("heap grew from %d MiB to %d MiB: not flat", baseline>>20, peak>>20)
	}
}

func mib(xs []int64) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = x >> 20
	}
	return out
}

// oversized is one body past the server's limit, shared by every garbage sender: the
// soak runs in the server's process, so its own allocations would count as the server's.
var oversized = bytes.Repeat([]byte("y"), 9<<20)

// garbage sends invalid traffic of every kind until ctx ends.
func garbage(ctx context.Context, s *service, seed int) {
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	wsURL := "ws" + strings.TrimPrefix(s.base, "http")
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	post := func(path, auth string, body []byte) {
		req, _ := http.NewRequestWithContext(ctx, "POST", s.base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		if resp, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	for ctx.Err() == nil {
		switch rng.IntN(9) {
		case 0:
			post("/v1/tasks/soak-0/logs", testKey, randBytes(rng.IntN(512)))
		case 1:
			post("/v1/tasks/soak-1/logs", testKey, []byte(`[{"level":"info","message":"x"},{"level":"nope"}]`))
		case 2:
			post("/v1/tasks/soak-2/logs", testKey, oversized) // past the body limit
		case 3:
			post("/v1/tasks/soak-3/logs", "pk-wrong-key-000000", []byte(`{"level":"info","message":"x"}`))
		case 4:
			post("/v1/tasks/"+strings.Repeat("z", 200)+"/logs", testKey, []byte(`{"level":"info","message":"x"}`))
		case 5: // a forged token on the WebSocket
			if c, _, err := websocket.Dial(ctx, wsURL+"/v1/tasks/soak-4/ws?token=a.b.c", nil); err == nil {
				c.CloseNow()
			}
		case 6: // a bad query
			if c, _, err := websocket.Dial(ctx, wsURL+"/v1/tasks/soak-5/ws?since=-"+fmt.Sprint(rng.Int())+"&token="+testKey, nil); err == nil {
				c.CloseNow()
			}
		case 7: // a viewer that sends junk and vanishes
			if c, _, err := websocket.Dial(ctx, wsURL+"/v1/tasks/junk-"+fmt.Sprint(rng.IntN(50))+"/ws?token="+testKey, nil); err == nil {
				_ = c.Write(ctx, websocket.MessageBinary, randBytes(4096))
				c.CloseNow()
			}
		case 8: // a raw connection that says nonsense
			if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(s.base, "http://"), time.Second); err == nil {
				_ = conn.SetDeadline(time.Now().Add(time.Second))
				_, _ = conn.Write(randBytes(rng.IntN(300)))
				_, _ = io.Copy(io.Discard, conn)
				conn.Close()
			}
		}
	}

}
