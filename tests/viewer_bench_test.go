package tests

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"

	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/pebble"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// The large-log targets, measured in headless chromium against a server in this process
// (BENCHMARKS.md has the command). Each runs once whatever b.N is: its setup is the cost.

// fillLargeTask writes a finished task of n entries into a new Pebble journal: about 90
// bytes each, every 10th coloured, every 1,000th an error.
func fillLargeTask(b *testing.B, dir, taskID string, n int) {
	b.Helper()
	j, err := pebble.Open(dir, pebble.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	epoch, now := journal.NewEpoch(), time.Now().Add(-time.Hour).UnixNano()
	const chunk = 10_000
	for from := 1; from <= n; from += chunk {
		entries := make([]journal.Entry, 0, chunk)
		for seq := from; seq < from+chunk && seq <= n; seq++ {
			e := journal.Entry{Seq: uint64(seq), TimeUnixNano: now + int64(seq)*int64(time.Millisecond), Level: v1.Level_LEVEL_INFO,
				Message: fmt.Sprintf("step %07d: processed batch of records from shard %03d in %d ms", seq, seq%997, seq%250)}
			if seq%10 == 0 {
				e.Message = fmt.Sprintf("\x1b[32mok\x1b[0m step %07d: \x1b[1mcommitted\x1b[0m %d rows", seq, seq%5000)
			}
			if seq%1000 == 0 {
				e.Level, e.Message = v1.Level_LEVEL_ERROR, fmt.Sprintf("step %07d: retrying after a timeout", seq)
			}
			e.Finished = seq == n
			entries = append(entries, e)
		}
		last := entries[len(entries)-1]
		meta := journal.Meta{Epoch: epoch, LastSeq: last.Seq, Seen: last.Seq, Active: now, Finished: last.Finished}
		if last.Finished {
			meta.FinishedAt = now
		}
		if err := j.Commit([]journal.Append{{TaskID: taskID, Entries: entries, Meta: meta}}); err != nil {
			b.Fatal(err)
		}
	}
}

func metric(b *testing.B, ctx context.Context, name string) float64 {
	b.Helper()
	var metrics []*performance.Metric
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) (err error) {
		metrics, err = performance.GetMetrics().Do(ctx)
		return err
	})); err != nil {
		b.Fatal(err)
	}
	for _, m := range metrics {
		if m.Name == name {
			return m.Value
		}
	}
	b.Fatalf("no metric %s", name)
	return 0
}

// waitFor polls a JavaScript expression until it is true and returns how long that took.
func waitFor(b *testing.B, ctx context.Context, expr string, within time.Duration) time.Duration {
	b.Helper()
	began := time.Now()
	pollCtx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var ok bool
	if err := chromedp.Run(pollCtx, chromedp.Poll(expr, &ok, chromedp.WithPollingInterval(5*time.Millisecond))); err != nil {
		b.Fatalf("%s: %v", expr, err)
	}
	return time.Since(began)
}

// settle waits, up to 30 s, until this process has spent less than 5 % of a core for a
// quarter of a second: until the background work of what came before has ended.
func settle(b *testing.B) {
	b.Helper()
	const window = 250 * time.Millisecond
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		cpu0 := processCPU()
		time.Sleep(window) // measuring a quiet interval, not waiting for an event
		if processCPU()-cpu0 < window/20 {
			return
		}
	}
	b.Log("the process did not settle within 30 s")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkViewerMillionLines: a finished task of 1,000,000 lines opens with its last
// screen in view; the rows in the page and its JS heap; scrolling to the first line; a
// search of all of it, in this process's CPU (the server's, and the client's request).
func BenchmarkViewerMillionLines(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	began := time.Now()
	fillLargeTask(b, dir, "million", n)
	b.Logf("filled %d entries in %v", n, time.Since(began).Round(time.Millisecond))
	s := start(b, withPebble(b, dir))
	defer s.shutdown()
	ctx := browserFor(b)
	if err := chromedp.Run(ctx, performance.Enable(), chromedp.Navigate(s.base+"/tasks/million")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	// The navigation above loaded the page once (warm caches); this load is measured.
	began = time.Now()
	if err := chromedp.Run(ctx, chromedp.Navigate(s.base+"/tasks/million")); err != nil {
		b.Fatal(err)
	}
	lastVisible := `(() => { const r = document.getElementById("seq-1000000"), l = document.getElementById("log");
		if (!r) return false; const a = r.getBoundingClientRect(), c = l.getBoundingClientRect(); return a.bottom <= c.bottom + 1 && a.top >= c.top })()`
	waitFor(b, ctx, lastVisible, time.Minute)
	open := time.Since(began)
	b.Log(evalString(b, ctx, `JSON.stringify(performance.getEntriesByType("resource").map(r => [r.name.replace(location.origin, ""), Math.round(r.startTime), Math.round(r.responseEnd)]).concat([["domContentLoaded", Math.round(performance.timing.domContentLoadedEventEnd - performance.timing.navigationStart)]]))`))
	rows := evalNumber(b, ctx, `document.querySelectorAll("#log .rows > *").length`)
	nodes := evalNumber(b, ctx, `document.getElementsByTagName("*").length`)
	heap := metric(b, ctx, "JSHeapUsedSize")

	first := waitFor(b, ctx, `(() => { const l = document.getElementById("log"); if (!window.scrolledUp) { window.scrolledUp = true; l.scrollTop = 0 }
		const r = document.getElementById("seq-1"); return r !== null && r.getBoundingClientRect().top >= l.getBoundingClientRect().top - 1 })()`, time.Minute)

	// A search that matches nothing reads every message; the server answers within its
	// time budget and says where to go on, and the client asks until the end.
	runtime.GC() // the fill's garbage is not the search's
	settle(b)    // nor are the compactions the fill left to Pebble
	cpu0, wall0 := processCPU(), time.Now()
	requests := 0
	for from := uint64(1); from != 0; requests++ {
		resp, err := s.client.Get(fmt.Sprintf("%s/v1/tasks/million/search?q=never+printed&from_seq=%d", s.base, from))
		if err != nil {
			b.Fatal(err)
		}
		var found searchBody
		_ = decodeJSON(resp, &found)
		if resp.StatusCode != http.StatusOK || len(found.Seqs) != 0 {
			b.Fatalf("search: %d %+v", resp.StatusCode, found)
		}
		from = found.Next
	}
	searchCPU, searchWall := processCPU()-cpu0, time.Since(wall0)
	b.ReportMetric(float64(requests), "search-requests")
	b.StopTimer()
	b.ReportMetric(float64(open.Milliseconds()), "ms-open")
	b.ReportMetric(rows, "rows-in-DOM")
	b.ReportMetric(nodes, "DOM-elements")
	b.ReportMetric(heap/1e6, "MB-JS-heap")
	b.ReportMetric(float64(first.Milliseconds()), "ms-to-first-line")
	b.ReportMetric(float64(searchCPU.Milliseconds()), "ms-search-CPU")
	b.ReportMetric(float64(searchWall.Milliseconds()), "ms-search-wall")
}

// BenchmarkViewerLive2000PerSecond: a page following a task that gets 2,000 lines a
// second for 10 s, in batches of 100 every 50 ms; its main thread's busy time (CDP's
// TaskDuration) per second of wall time.
func BenchmarkViewerLive2000PerSecond(b *testing.B) {
	s := start(b, defaults())
	defer s.shutdown()
	ctx := browserFor(b)
	if err := chromedp.Run(ctx, performance.Enable(), chromedp.Navigate(s.base+"/tasks/live")); err != nil {
		b.Fatal(err)
	}
	waitFor(b, ctx, `document.getElementById("status").textContent === "live"`, 10*time.Second)
	b.ResetTimer()
	busy0, began, seq := liveLoad(b, ctx, s, "live", 1)
	waitFor(b, ctx, fmt.Sprintf(`document.querySelector("#log .line:last-child")?.dataset.seq === "%d"`, seq), 30*time.Second)
	busy, wall := metric(b, ctx, "TaskDuration")-busy0, time.Since(began).Seconds()
	rows := evalNumber(b, ctx, `document.querySelectorAll("#log .rows > *").length`)
	b.StopTimer()
	b.ReportMetric(100*busy/wall, "%-of-a-core")
	b.ReportMetric(rows, "rows-in-DOM")
}

// BenchmarkRunTqdm: `tasktail run` of a command that draws a tqdm bar (Debian's
// python3-tqdm) for 10 s: how many messages the bar became.
func BenchmarkRunTqdm(b *testing.B) {
	if err := exec.Command("/usr/bin/python3", "-c", "import tqdm").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("python3-tqdm: %v", err)
		}
		b.Skipf("needs Debian's python3-tqdm: %v", err)
	}
	s := start(b, defaults())
	defer s.shutdown()
	bar := `import time
from tqdm import tqdm
for _ in tqdm(range(1000)):
    time.sleep(0.01)`
	cmd := s.cliCommand("run", "tqdm", "--progress-pattern", `(\d+)%`, "--", "/usr/bin/python3", "-c", bar)
	b.ResetTimer()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("run: %v\n%s", err, out)
	}
	b.StopTimer()
	v := s.watch("tqdm", "since=0")
	hello := v.hello()
	b.ReportMetric(float64(hello.LastSeq-1), "messages-for-the-bar") // the last is run's own
}

func evalNumber(b *testing.B, ctx context.Context, expr string) float64 {
	b.Helper()
	var v float64
	if err := chromedp.Run(ctx, chromedp.Evaluate(expr, &v)); err != nil {
		b.Fatal(err)
	}
	return v
}

// browserFor starts headless chromium for a benchmark.
func browserFor(b *testing.B) context.Context {
	b.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.WindowSize(1100, 700))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Run(ctx); err != nil {
		b.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// BenchmarkViewerLiveFloor: the least a page can spend on 2,000 messages a second, for
// comparison: a bare WebSocket that only parses each message (no rendering), same load;
// one frame per message, or batches (the subprotocol the viewer page asks for).
func BenchmarkViewerLiveFloor(b *testing.B) {
	for _, mode := range []struct{ name, protocols string }{{"frames", "[]"}, {"batches", `["` + wire.BatchSubprotocol + `"]`}} {
		b.Run(mode.name, func(b *testing.B) {
			s := start(b, defaults())
			defer s.shutdown()
			ctx := browserFor(b)
			if err := chromedp.Run(ctx, performance.Enable(), chromedp.Navigate(s.base+"/healthz")); err != nil {
				b.Fatal(err)
			}
			s.publish("floor", "info", "first", 0, false)
			run(b, ctx, chromedp.Evaluate(`window.n = 0; const ws = new WebSocket(location.origin.replace("http", "ws") + "/v1/tasks/floor/ws?since=0", `+mode.protocols+`);
				ws.onmessage = (e) => { const d = JSON.parse(e.data); n += Array.isArray(d) ? d.length : 1 }; true`, nil))
			waitFor(b, ctx, `window.n >= 2`, 10*time.Second)
			b.ResetTimer()
			busy0, began, seq := liveLoad(b, ctx, s, "floor", 1)
			waitFor(b, ctx, fmt.Sprintf(`window.n >= %d`, seq+2), 30*time.Second)
			busy, wall := metric(b, ctx, "TaskDuration")-busy0, time.Since(began).Seconds()
			b.StopTimer()
			b.ReportMetric(100*busy/wall, "%-of-a-core")
		})
	}
}

// liveLoad publishes 2,000 messages a second for 10 s to taskID, after from-1 were
// published, in batches of 100 every 50 ms; it returns the page's busy time and the time
// when it began, and the last seq.
func liveLoad(b *testing.B, ctx context.Context, s *service, taskID string, from int) (float64, time.Time, int) {
	b.Helper()
	busy0, began := metric(b, ctx, "TaskDuration"), time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	seq := from - 1
	for range 200 {
		<-tick.C
		batch := make([]string, 100)
		for i := range batch {
			seq++
			batch[i] = fmt.Sprintf(`{"level":"info","message":"\u001b[36mstep\u001b[0m %d: copied 4,096 rows from the staging table"}`, seq)
		}
		if r := s.publishRaw(taskID, []byte("["+strings.Join(batch, ",")+"]")); r.status != http.StatusAccepted {
			b.Fatalf("publish: %d", r.status)
		}
	}
	return busy0, began, seq
}
