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
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/client"
)

// TestSoak publishes valid traffic next to garbage and the attackers of tests/hostile_test.go
// for TASKTAIL_SOAK_DURATION (default 1 min, at most 10 min) and checks that valid viewers
// lose nothing, the server's heap and goroutines stay flat, and the probes answer
// throughout. make bench runs it; it needs the soak build tag.
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
	cfg.MaxConnections = 1000
	cfg.MaxBodyMemory = 16 << 20
	cfg.BodyTimeout = 2 * time.Second
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
	junkToken := mint(t, "junk-*", d+time.Minute)
	for g := range 4 {
		wg.Add(2)
		go func() { defer wg.Done(); garbage(ctx, s, g, junkToken) }()
		go func() { defer wg.Done(); attack(ctx, s, g, junkToken) }()
	}

	var heaps, goroutines []int64
	var baseline, baseGoroutines int64
	sample := time.NewTicker(d / 20)
	warmUp := time.Now().Add(d / 5)
	probeFailures := 0
	for done := false; !done; {
		select {
		case <-sample.C:
			h, g := heapInUse(), int64(runtime.NumGoroutine())
			if baseline == 0 && time.Now().After(warmUp) {
				baseline, baseGoroutines = h, g
			}
			heaps, goroutines = append(heaps, h), append(goroutines, g)
			for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
				if got := probe(s.base + p); got != http.StatusOK {
					probeFailures++
					t.Logf("probe %s answered %d", p, got)
				}
			}
		case <-ctx.Done():
			done = true
		}
	}
	sample.Stop()
	wg.Wait()
	if probeFailures > 0 {
		t.Errorf("%d probes failed during the soak", probeFailures)
	}

	total := 0
	for i := range tasks {
		total += published[i]
		if received[i] != published[i] || misordered[i] > 0 {
			t.Errorf("task %d: viewer got %d of %d messages, %d out of order (lost or doubled)", i, received[i], published[i], misordered[i])
		}
	}
	peak, peakGoroutines := slices.Max(heaps), slices.Max(goroutines)
	t.Logf("soak %v: %d valid messages over %d tasks; heap after warm-up %d MiB, peak %d MiB; samples %v MiB; goroutines after warm-up %d, peak %d",
		d, total, tasks, baseline>>20, peak>>20, mib(heaps), baseGoroutines, peakGoroutines)
	if baseline > 0 && peak > baseline*3/2+16<<20 {
		t.Errorf("heap grew from %d MiB to %d MiB: not flat", baseline>>20, peak>>20)
	}
	if baseGoroutines > 0 && peakGoroutines > baseGoroutines*3/2+100 {
		t.Errorf("goroutines grew from %d to %d: not flat", baseGoroutines, peakGoroutines)
	}
}

// probe asks path on a connection of its own and returns the status (0: no answer).
func probe(url string) int {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// attack runs the attackers of tests/hostile_test.go until ctx ends: each holds what it
// can as long as the server lets it.
func attack(ctx context.Context, s *service, seed int, junkToken string) {
	rng := rand.New(rand.NewPCG(uint64(seed), 11))
	addr := strings.TrimPrefix(s.base, "http://")
	raw := func(request string, hold time.Duration) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(hold))
		_, _ = conn.Write([]byte(request))
		_, _ = io.Copy(io.Discard, conn) // until the server closes it or hold passes
	}
	var held sync.WaitGroup
	defer held.Wait()
	for ctx.Err() == nil {
		held.Add(1)
		go func() {
			defer held.Done()
			switch rng.IntN(6) {
			case 0: // an idle keep-alive connection after an anonymous request
				raw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 30*time.Second)
			case 1: // a body sent slowly: one byte of a thousand
				raw("POST /v1/tasks/soak-6/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+testKey+
					"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", 30*time.Second)
			case 2: // a viewer URL fetched without an upgrade
				raw("GET /v1/tasks/junk-"+fmt.Sprint(rng.IntN(1000))+"/ws?token="+junkToken+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 5*time.Second)
			case 3: // a ping flood on a viewer
				raw("GET /v1/tasks/junk-flood/ws?token="+junkToken+" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
					"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"+
					strings.Repeat("\x89\x80\x01\x02\x03\x04", 2000), 10*time.Second)
			case 4: // a key twice in a body
				raw("POST /v1/tasks/soak-7/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+testKey+
					"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 60\r\n\r\n"+
					`{"level":"info","message":"a","message":"bbbbbbbbbbbbbbbbbbbb"}`[:60], 5*time.Second)
			case 5: // a publish key in the URL
				raw("POST /v1/tasks/soak-7/logs?token="+testKey+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 5*time.Second)
			}
		}()
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(20+rng.IntN(20)) * time.Millisecond):
		}
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
func garbage(ctx context.Context, s *service, seed int, junkToken string) {
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
			if c, _, err := websocket.Dial(ctx, wsURL+"/v1/tasks/junk-"+fmt.Sprint(rng.IntN(50))+"/ws?token="+junkToken, nil); err == nil {
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
