package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
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
