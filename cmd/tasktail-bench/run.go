package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

func runBench(ctx context.Context, c benchConfig) (benchResult, error) {
	total := c.producers * c.messages
	perTask := make([]int, c.tasks)
	for p := range c.producers {
		for m := range c.messages {
			perTask[c.taskOf(p, m)]++
		}
	}
	viewers := make([]*benchViewer, c.tasks)
	for i := range viewers {
		conn, err := c.dialViewer(ctx, c.prefix+strconv.Itoa(i))
		if err != nil {
			return benchResult{}, fmt.Errorf("viewer %d: %w", i, err)
		}
		conn.SetReadLimit(1 << 20)
		defer conn.CloseNow()
		viewers[i] = &benchViewer{conn: conn, expected: perTask[i], latencies: make([]int64, 0, perTask[i]), last: make([]uint64, 1)}
		if c.cfKey != "" {
			viewers[i].last = make([]uint64, c.producers) // order is per producer
		}
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
	if err := produce(ctx, c); err != nil {
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

// dialViewer connects a viewer to task and waits until it is subscribed.
func (c benchConfig) dialViewer(ctx context.Context, task string) (*websocket.Conn, error) {
	if c.cfKey != "" {
		return dialCentrifugo(ctx, c.view, task)
	}
	conn, _, err := websocket.Dial(ctx, fmt.Sprintf("%s/v1/tasks/%s/ws", wsURL(c.view), url.PathEscape(task)), &websocket.DialOptions{HTTPHeader: c.header()})
	if err != nil {
		return nil, err
	}
	if _, _, err := conn.Read(ctx); err != nil { // the hello: subscribed from here on
		conn.CloseNow()
		return nil, fmt.Errorf("hello: %w", err)
	}
	return conn, nil
}

// header authenticates a request to tasktail with --key.
func (c benchConfig) header() http.Header {
	header := http.Header{}
	if c.key != "" {
		header.Set("Authorization", "Bearer "+c.key)
	}
	return header
}

// wsURL is the WebSocket URL of an http server URL.
func wsURL(server string) string {
	return "ws" + strings.TrimPrefix(server, "http")
}

// read takes frames until the viewer has its share or ctx ends. A frame may hold several
// messages, one a line (Centrifugo's JSON protocol); a bare {} is Centrifugo's ping.
func (v *benchViewer) read(ctx context.Context) {
	for int(v.received.Load()) < v.expected {
		_, frame, err := v.conn.Read(ctx)
		if err != nil {
			return
		}
		for len(frame) > 0 {
			var b []byte
			b, frame, _ = bytes.Cut(frame, []byte{'\n'})
			if string(b) == "{}" {
				_ = v.conn.Write(ctx, websocket.MessageText, b) // pong
			}
			if !bytes.Contains(b, []byte(`"type":"log"`)) { // anywhere: other servers order keys differently
				continue
			}
			now := time.Now().UnixNano()
			from := 0
			if len(v.last) > 1 {
				from = int(frameNumber(b, `"producer":`)) % len(v.last)
			}
			seq := frameNumber(b, `"seq":`)
			if seq <= v.last[from] {
				v.reordered++
			}
			v.last[from] = seq
			if sent := frameNumber(b, `"message":"t=`); sent > 0 {
				v.latencies = append(v.latencies, now-int64(sent))
			}
			v.received.Add(1)
		}
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
