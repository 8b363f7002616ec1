package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tasktail/tasktail/internal/cli"

	"github.com/coder/websocket"
)

const benchSynopsis = `Usage: tasktail-bench [flags]

Loads a running tasktail server (or any server of the same contract subset, such as the
floor yardstick) over loopback: --tasks viewers, one per task, and --producers producers
publishing --messages each over keep-alive HTTP, closed loop or paced with --rate, single
or in batches of --batch, or with --stream each on one streaming (NDJSON) request to one task,
written --batch lines at a time. Every message carries its send time, so viewers measure the end
to end latency. It reports delivered msg/s, p50/p99/p99.9 latency, lost and reordered
messages, and the server's RSS and CPU per delivered message (from its /metrics, or from
/proc with --pid). It refuses any server that is not on loopback.

Example:
  tasktail-bench --tasks 100 --producers 100 --messages 100
  tasktail-bench --tasks 100 --producers 10 --messages 10000 --batch 100
  tasktail-bench --tasks 100 --producers 100 --messages 1000 --stream --batch 100
  tasktail-bench --tasks 100 --producers 50 --messages 200 --rate 5000
  tasktail-bench --server http://127.0.0.1:8081 --view-server http://127.0.0.1:8083`

type benchConfig struct {
	server    string
	view      string // where viewers connect (default: server), e.g. another cluster member
	key       string
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
	idle      int // --idle-viewers: measure memory per idle viewer instead
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
	output := fs.String("o", "text", "output: text or json")
	if err := cli.ParseWithEnv(fs, args); err != nil {
		return err
	}
	c.server, c.key, c.json = strings.TrimSuffix(remote.Server, "/"), remote.Key, *output == "json"
	if c.tasks < 1 || c.producers < 1 || c.messages < 1 || c.batch < 1 || c.size < 32 || c.rate < 0 {
		return cli.UsageError{Err: errors.New("--tasks, --producers, --messages and --batch must be positive, --size at least 32")}
	}
	c.view = strings.TrimSuffix(cmp.Or(c.view, c.server), "/")
	for _, s := range []string{c.server, c.view} {
		if u, err := url.Parse(s); err != nil || u.Scheme != "http" || !isLoopbackHost(u.Hostname()) {
			return cli.UsageError{Err: fmt.Errorf("server %s: bench runs only against loopback, over http", s)}
		}
	}
	if c.idle > 0 {
		perViewer, err := idleViewerMemory(ctx, c)
		if err != nil {
			return cli.ExitError{Code: 2, Err: err}
		}
		fmt.Fprintf(stdout, "server RSS per idle viewer: %.1f KiB (%d viewers)\n", perViewer/1024, c.idle)
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
	latencies []int64 // nanoseconds
}

func runBench(ctx context.Context, c benchConfig) (benchResult, error) {
	total := c.producers * c.messages
	perTask := make([]int, c.tasks)
	for p := range c.producers {
		for m := range c.messages {
			perTask[c.taskOf(p, m)]++
		}
	}
	header := http.Header{}
	if c.key != "" {
		header.Set("Authorization", "Bearer "+c.key)
	}
	viewers := make([]*benchViewer, c.tasks)
	wsBase := "ws" + strings.TrimPrefix(c.view, "http")
	for i := range viewers {
		conn, _, err := websocket.Dial(ctx, fmt.Sprintf("%s/v1/tasks/%s%d/ws", wsBase, c.prefix, i), &websocket.DialOptions{HTTPHeader: header})
		if err != nil {
			return benchResult{}, fmt.Errorf("viewer %d: %w", i, err)
		}
		conn.SetReadLimit(1 << 20)
		defer conn.CloseNow()
		if _, _, err := conn.Read(ctx); err != nil { // the hello: subscribed from here on
			return benchResult{}, fmt.Errorf("viewer %d hello: %w", i, err)
		}
		viewers[i] = &benchViewer{conn: conn, expected: perTask[i], latencies: make([]int64, 0, perTask[i])}
	}
	cpu0, _ := serverUsage(ctx, c)
	self0 := selfCPU()
	began := time.Now()
	var readers sync.WaitGroup
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	for _, v := range viewers {
		readers.Add(1)
		go func() { defer readers.Done(); v.read(readCtx) }()
	}
	if err := produce(ctx, c, header); err != nil {
		return benchResult{}, err
	}
	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(c.drain):
		stopReading()
		<-drained
	}
	elapsed := time.Since(began)
	cpu1, rss := serverUsage(ctx, c)
	var all []int64
	r := benchResult{Messages: total, Seconds: elapsed.Seconds(), ServerCPUPerMsg: -1, ServerRSSBytes: rss}
	for _, v := range viewers {
		got := v.received.Load()
		r.Delivered += got
		r.Reordered += v.reordered
		all = append(all, v.latencies...)
	}
	r.Lost = int64(total) - r.Delivered
	r.MsgPerSec = float64(r.Delivered) / elapsed.Seconds()
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))]) / 1e6
	}
	r.P50, r.P99, r.P999 = pct(0.50), pct(0.99), pct(0.999)
	if cpu0 >= 0 && cpu1 >= 0 && r.Delivered > 0 {
		r.ServerCPUPerMsg = (cpu1 - cpu0) / float64(r.Delivered) * 1e6
	}
	if r.Delivered > 0 {
		r.BenchCPUPerMsg = (selfCPU() - self0) / float64(r.Delivered) * 1e6
	}
	return r, nil
}

// read takes frames until the viewer has its share or ctx ends.
func (v *benchViewer) read(ctx context.Context) {
	last := uint64(0)
	for int(v.received.Load()) < v.expected {
		_, b, err := v.conn.Read(ctx)
		if err != nil {
			return
		}
		if !bytes.Contains(b, []byte(`"type":"log"`)) { // anywhere: other servers order keys differently
			continue
		}
		now := time.Now().UnixNano()
		seq := frameNumber(b, `"seq":`)
		if seq <= last {
			v.reordered++
		}
		last = seq
		if sent := frameNumber(b, `"message":"t=`); sent > 0 {
			v.latencies = append(v.latencies, now-int64(sent))
		}
		v.received.Add(1)
	}
}

// frameNumber reads the decimal number after key in a frame, without decoding it.
func frameNumber(b []byte, key string) uint64 {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0
	}
	n := uint64(0)
	for _, ch := range b[i+len(key):] {
		if ch < '0' || ch > '9' {
			break
		}
		n = n*10 + uint64(ch-'0')
	}
	return n
}

// taskOf is the task producer p sends its m-th message to: the batches of all producers
// go round the tasks in turn. A stream goes to one task.
func (c benchConfig) taskOf(p, m int) int {
	if c.stream {
		return p % c.tasks
	}
	return (p + m/c.batch*c.producers) % c.tasks
}

// appendMessage appends one message stamped with its send time, of about c.size bytes.
func (c benchConfig) appendMessage(b []byte, padding string) []byte {
	b = append(b, `{"level":"info","message":"t=`...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, ' ')
	b = append(b, padding[:max(0, c.size-22)]...) // "t=" + 19 digits + " "
	return append(b, `"}`...)
}

// pace waits until message m of producer p is due under --rate. The producers take turns:
// messages are spread evenly over time, not sent by every producer at once in bursts.
func (c benchConfig) pace(began time.Time, p, m int) {
	if c.rate > 0 {
		step := c.batch // messages per request
		if c.stream {
			step = 1 // a paced stream writes each line on its own
		}
		slot := float64(m*c.producers + p*step)
		time.Sleep(time.Until(began.Add(time.Duration(slot / c.rate * float64(time.Second)))))
	}
}

// produce runs the producers.
func produce(ctx context.Context, c benchConfig, header http.Header) error {
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: c.producers, MaxConnsPerHost: c.producers}}
	defer hc.CloseIdleConnections()
	padding := strings.Repeat("x", c.size)
	began := time.Now()
	errs := make(chan error, c.producers)
	var wg sync.WaitGroup
	for p := range c.producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.stream {
				if err := streamLogs(ctx, hc, c, p, header, padding, began); err != nil {
					errs <- err
				}
				return
			}
			poster, err := newPoster(c.server, c.key)
			if err != nil {
				errs <- err
				return
			}
			defer poster.close()
			var body []byte
			for m := 0; m < c.messages; m += c.batch {
				n := min(c.batch, c.messages-m)
				c.pace(began, p, m)
				task := c.taskOf(p, m)
				body = body[:0]
				if c.batch > 1 {
					body = append(body, '[')
				}
				for k := range n {
					if k > 0 {
						body = append(body, ',')
					}
					body = c.appendMessage(body, padding)
				}
				if c.batch > 1 {
					body = append(body, ']')
				}
				if err := poster.post(ctx, c.prefix+strconv.Itoa(task), body); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// streamLogs sends producer p's messages on one streaming publish, c.batch lines per write.
func streamLogs(ctx context.Context, hc *http.Client, c benchConfig, p int, header http.Header, padding string, began time.Time) error {
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/v1/tasks/%s%d/logs", c.server, c.prefix, c.taskOf(p, 0)), pr)
	if err != nil {
		return err
	}
	req.Header = header.Clone()
	req.Header.Set("Content-Type", "application/x-ndjson")
	answered := make(chan error, 1)
	go func() {
		resp, err := hc.Do(req)
		if err == nil {
			var ack struct{ Accepted int }
			err = json.NewDecoder(resp.Body).Decode(&ack)
			resp.Body.Close()
			if err == nil && (resp.StatusCode != http.StatusAccepted || ack.Accepted != c.messages) {
				err = fmt.Errorf("stream: %s, %d of %d accepted", resp.Status, ack.Accepted, c.messages)
			}
		}
		pr.CloseWithError(errors.New("stream answered"))
		answered <- err
	}()
	var lines []byte
	for m := range c.messages {
		c.pace(began, p, m)
		lines = append(c.appendMessage(lines, padding), '\n')
		if (m+1)%c.batch == 0 || m == c.messages-1 || c.rate > 0 {
			if _, err := pw.Write(lines); err != nil {
				break // the answer says why
			}
			lines = lines[:0]
		}
	}
	pw.Close()
	return <-answered
}

// idleViewerMemory connects c.idle viewers to one task, waits for each one's hello, and
// returns how much the server's RSS grew per viewer. The task exists before the first
// measurement, so only connections are counted.
func idleViewerMemory(ctx context.Context, c benchConfig) (float64, error) {
	header := http.Header{}
	if c.key != "" {
		header.Set("Authorization", "Bearer "+c.key)
	}
	url := fmt.Sprintf("%s/v1/tasks/%sidle/ws", "ws"+strings.TrimPrefix(c.view, "http"), c.prefix)
	dial := func() (*websocket.Conn, error) {
		conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header})
		if err != nil {
			return nil, err
		}
		if _, _, err := conn.Read(ctx); err != nil { // the hello: attached
			conn.CloseNow()
			return nil, err
		}
		return conn, nil
	}
	first, err := dial()
	if err != nil {
		return 0, fmt.Errorf("viewer: %w", err)
	}
	defer first.CloseNow()
	time.Sleep(time.Second) // let the server settle before the baseline
	_, before := serverUsage(ctx, c)
	conns := make([]*websocket.Conn, 0, c.idle)
	defer func() {
		for _, conn := range conns {
			conn.CloseNow()
		}
	}()
	for i := range c.idle {
		conn, err := dial()
		if err != nil {
			return 0, fmt.Errorf("viewer %d: %w", i, err)
		}
		conns = append(conns, conn)
	}
	time.Sleep(time.Second)
	_, after := serverUsage(ctx, c)
	if before < 0 || after < 0 {
		return 0, errors.New("server RSS unknown: pass --pid or expose process metrics")
	}
	return float64(after-before) / float64(c.idle), nil
}

// serverUsage returns the server's CPU seconds and RSS bytes, or -1 when unknown.
func serverUsage(ctx context.Context, c benchConfig) (float64, int64) {
	if c.pid > 0 {
		return procUsage(c.pid)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.server+"/metrics", nil)
	if err != nil {
		return -1, -1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1, -1
	}
	defer resp.Body.Close()
	cpu, rss := -1.0, int64(-1)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_cpu_seconds_total "); ok {
			cpu, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			rss = int64(f)
		}
	}
	return cpu, rss
}

// procUsage reads utime+stime and RSS of a process from /proc.
func procUsage(pid int) (float64, int64) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1, -1
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	rssPages, _ := strconv.ParseInt(fields[21], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return (utime + stime) / ticks, rssPages * int64(os.Getpagesize())
}

func selfCPU() float64 {
	cpu, _ := procUsage(os.Getpid())
	return cpu
}
