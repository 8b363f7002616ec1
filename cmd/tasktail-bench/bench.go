package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tasktail/tasktail/internal/cli"

	"github.com/coder/websocket"
)

const benchSynopsis = `Usage: tasktail-bench [flags]

Loads a running tasktail server (or any server of the same contract subset, such as the
bare net/http and coder/websocket server BENCHMARKS.md compares against) over loopback:
--tasks viewers, one per task, and --producers producers publishing --messages each over
keep-alive HTTP, closed loop or paced with --rate, single or in batches of --batch, or
with --stream each on one streaming (NDJSON) request to one task, written --batch lines
at a time. Every message carries its send time, so viewers measure the end to end
latency. It reports delivered msg/s, p50/p99/p99.9 latency, lost and reordered messages,
and the server's RSS and CPU per delivered message (from its /metrics, or from /proc
with --pid). It refuses any server that is not on loopback.

With --centrifugo-api-key it loads Centrifugo v6 instead (every load but --stream, and
--idle-viewers too): viewers subscribe over its JSON WebSocket protocol to channels named like
the tasks, producers publish with its HTTP API key through /api/publish, or /api/batch
for --batch; order is checked per producer. scripts/centrifugo.json is a configuration.

Example:
  tasktail-bench --tasks 100 --producers 100 --messages 100
  tasktail-bench --tasks 100 --producers 10 --messages 10000 --batch 100
  tasktail-bench --tasks 100 --producers 100 --messages 1000 --stream --batch 100
  tasktail-bench --tasks 100 --producers 50 --messages 200 --rate 5000
  tasktail-bench --server http://127.0.0.1:8081 --view-server http://127.0.0.1:8083
  tasktail-bench --server http://127.0.0.1:8000 --centrifugo-api-key bench --batch 100`

type benchConfig struct {
	server    string
	view      string // where viewers connect (default: server), e.g. another cluster member
	key       string
	cfKey     string // --centrifugo-api-key: the server is Centrifugo v6, with this API key
	tasks     int
	producers int
	messages  int
	rate      float64
	batch     int
	stream    bool
	size      int
	pid       int
	drain     time.Duration
	prefix    string
	json      bool
	idle      int           // --idle-viewers: measure memory per idle viewer instead
	idleFor   time.Duration // --idle-for: then hold them this long and measure the server's CPU
	fill      string        // --fill-journal: write tasks into a journal directory instead
	fsync     string        // --fsync-probe: measure fdatasync in a directory instead
	postgres  bool          // --throwaway-postgres: run a PostgreSQL for a benchmark instead
	downloads int           // --downloads: download the task --prefix this many times at once instead
	listPages int           // --list-pages: measure the CPU of a page of the task list instead
	listQuery string        // --list-query: the page's filter (prefix=…&state=…)
	stall     bool          // --stall: downloads read their first MiB, then stop for 5 s
}

func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, remote := cli.ClientCommand("bench", benchSynopsis, stderr)
	var c benchConfig
	fs.IntVar(&c.tasks, "tasks", 100, "tasks, each with one viewer")
	fs.IntVar(&c.producers, "producers", 100, "concurrent producers")
	fs.IntVar(&c.messages, "messages", 100, "messages each producer publishes")
	fs.Float64Var(&c.rate, "rate", 0, "total messages per second, spread evenly over the producers (0: closed loop, as fast as acknowledged)")
	fs.IntVar(&c.batch, "batch", 1, "messages per publish request (1: single publish); with --stream, lines per write")
	fs.BoolVar(&c.stream, "stream", false, "each producer streams all its messages on one NDJSON request to one task")
	fs.IntVar(&c.size, "size", 100, "message size in bytes")
	fs.IntVar(&c.pid, "pid", 0, "server process to read CPU and RSS from /proc (default: the server's /metrics)")
	fs.DurationVar(&c.drain, "drain", 30*time.Second, "how long to wait for the last deliveries")
	fs.StringVar(&c.prefix, "prefix", fmt.Sprintf("bench-%d-", time.Now().UnixNano()), "task_id prefix")
	fs.StringVar(&c.view, "view-server", "", "server the viewers connect to, when not --server (another cluster member: publish on one, deliver through another)")
	fs.IntVar(&c.idle, "idle-viewers", 0, "instead of a load run: connect this many idle viewers to one task and report the server's RSS per viewer (the server needs --max-viewers-per-task at least this)")
	fs.DurationVar(&c.idleFor, "idle-for", 0, "with --idle-viewers: then hold the viewers this long and report the server's CPU over that time")
	fs.StringVar(&c.fill, "fill-journal", "", "instead of a load run: write --tasks tasks of --messages entries of --size bytes into a new pebble journal in this directory (no server), for restart measurements")
	fs.StringVar(&c.fsync, "fsync-probe", "", "instead of a load run: measure 1,000 rounds of a 4 KiB append and fdatasync in this directory (wall and CPU time each)")
	fs.IntVar(&c.downloads, "downloads", 0, "instead of a load run: download the log of the task named by --prefix this many times at once, reading as fast as it comes, and report the server's highest RSS (needs --pid)")
	fs.BoolVar(&c.stall, "stall", false, "with --downloads: each reads its first MiB, then nothing for 5 s (a reader that stopped)")
	fs.StringVar(&c.listQuery, "list-query", "", "with --list-pages: the page's filter, as a query (state=failed, prefix=import-)")
	fs.IntVar(&c.listPages, "list-pages", 0, "instead of a load run: publish once to each of --tasks tasks over --producers connections, then ask this many times for the list's first page of 50 and report the server's CPU per page (needs --pid)")
	fs.BoolVar(&c.postgres, "throwaway-postgres", false, "instead of a load run: start a throwaway PostgreSQL in a temporary folder, print its URL, and remove it on SIGINT or SIGTERM")
	fs.StringVar(&c.cfKey, "centrifugo-api-key", "", "the server is Centrifugo v6 and this is its HTTP API key: load it through its protocol (see above)")
	output := fs.String("o", "text", "output: text or json")
	if err := cli.ParseWithEnv(fs, args); err != nil {
		return err
	}
	c.server, c.key, c.json = strings.TrimSuffix(remote.Server, "/"), remote.Key, *output == "json"
	switch {
	case c.fill != "":
		return fillJournal(c, stdout)
	case c.fsync != "":
		return fsyncProbe(c.fsync, stdout)
	case c.postgres:
		return throwawayPostgres(ctx, stdout)
	}
	if c.tasks < 1 || c.producers < 1 || c.messages < 1 || c.batch < 1 || c.size < 32 || c.rate < 0 {
		return cli.UsageError{Err: errors.New("--tasks, --producers, --messages and --batch must be positive, --size at least 32")}
	}
	if c.cfKey != "" && (c.stream || c.downloads > 0 || c.listPages > 0) {
		return cli.UsageError{Err: errors.New("--centrifugo-api-key: Centrifugo has no streaming publish, log download or task list")}
	}
	c.view = strings.TrimSuffix(cmp.Or(c.view, c.server), "/")
	for _, s := range []string{c.server, c.view} {
		if u, err := url.Parse(s); err != nil || u.Scheme != "http" || !isLoopbackHost(u.Hostname()) {
			return cli.UsageError{Err: fmt.Errorf("server %s: bench runs only against loopback, over http", s)}
		}
	}
	switch {
	case c.downloads > 0:
		return cliError(downloadMemory(ctx, c, stdout))
	case c.listPages > 0:
		return cliError(listCPU(ctx, c, stdout))
	}
	if c.idle > 0 {
		perViewer, cpu, err := idleViewers(ctx, c)
		if err != nil {
			return cli.ExitError{Code: 2, Err: err}
		}
		fmt.Fprintf(stdout, "server RSS per idle viewer: %.1f KiB (%d viewers)\n", perViewer/1024, c.idle)
		if c.idleFor > 0 {
			fmt.Fprintf(stdout, "server CPU while they idled: %.0f ms in %s\n", cpu*1000, c.idleFor)
		}
		return nil
	}
	r, err := runBench(ctx, c)
	if err != nil {
		return cli.ExitError{Code: 2, Err: err}
	}
	if c.json {
		return json.NewEncoder(stdout).Encode(r)
	}
	r.print(stdout)
	if r.Lost > 0 || r.Reordered > 0 {
		return cli.ExitError{Code: 1, Err: fmt.Errorf("%d lost, %d reordered", r.Lost, r.Reordered)}
	}
	return nil
}

// cliError makes a failed measurement exit 2, as a failed load run does.
func cliError(err error) error {
	if err != nil {
		return cli.ExitError{Code: 2, Err: err}
	}
	return nil
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "::1" || strings.HasPrefix(h, "127.")
}

// benchResult is what a run measured.
type benchResult struct {
	Messages        int     `json:"messages"`
	Delivered       int64   `json:"delivered"`
	Lost            int64   `json:"lost"`
	Reordered       int64   `json:"reordered"`
	Seconds         float64 `json:"seconds"`
	MsgPerSec       float64 `json:"msg_per_sec"`
	P50             float64 `json:"p50_ms"`
	P99             float64 `json:"p99_ms"`
	P999            float64 `json:"p999_ms"`
	ServerCPUPerMsg float64 `json:"server_cpu_us_per_msg"` // microseconds, -1 when unknown
	ServerRSSBytes  int64   `json:"server_rss_bytes"`      // -1 when unknown
	BenchCPUPerMsg  float64 `json:"bench_cpu_us_per_msg"`
}

func (r benchResult) print(w io.Writer) {
	fmt.Fprintf(w, "delivered %d of %d messages in %.2fs: %.0f msg/s\n", r.Delivered, r.Messages, r.Seconds, r.MsgPerSec)
	fmt.Fprintf(w, "latency p50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms\n", r.P50, r.P99, r.P999)
	fmt.Fprintf(w, "lost %d  reordered %d\n", r.Lost, r.Reordered)
	if r.ServerCPUPerMsg >= 0 {
		fmt.Fprintf(w, "server CPU %.1f µs/msg  RSS %.1f MiB\n", r.ServerCPUPerMsg, float64(r.ServerRSSBytes)/(1<<20))
	}
	fmt.Fprintf(w, "bench CPU %.1f µs/msg\n", r.BenchCPUPerMsg)
}

// benchViewer reads one task's frames: it checks seq order and records latencies.
type benchViewer struct {
	conn      *websocket.Conn
	expected  int
	received  atomic.Int64
	reordered int64
	last      []uint64 // the last seq seen, per producer in Centrifugo mode
	latencies []int64  // nanoseconds
}
