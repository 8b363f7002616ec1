package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// idleViewers connects c.idle viewers to one task, waits for each one's hello, and
// returns how much the server's RSS grew per viewer; then, with c.idleFor, it holds them
// that long and returns the server's CPU seconds meanwhile. The task exists before the
// first measurement, so only connections are counted; on tasktail it has a message, so
// the journal keeps it.
func idleViewers(ctx context.Context, c benchConfig) (perViewer, cpu float64, err error) {
	task := c.prefix + "idle"
	dial := func() (*websocket.Conn, error) { return c.dialViewer(ctx, task) }
	first, err := dial()
	if err != nil {
		return 0, 0, fmt.Errorf("viewer: %w", err)
	}
	defer first.CloseNow()
	if c.cfKey == "" {
		p, err := c.newPoster()
		if err != nil {
			return 0, 0, err
		}
		err = p.post(ctx, task, c.appendMessage(nil, strings.Repeat("x", c.size)))
		p.close()
		if err != nil {
			return 0, 0, fmt.Errorf("publish: %w", err)
		}
	}
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
			return 0, 0, fmt.Errorf("viewer %d: %w", i, err)
		}
		conns = append(conns, conn)
	}
	time.Sleep(time.Second)
	cpuBefore, after := serverUsage(ctx, c)
	if before < 0 || after < 0 {
		return 0, 0, errors.New("server RSS unknown: pass --pid or expose process metrics")
	}
	perViewer = float64(after-before) / float64(c.idle)
	if c.idleFor <= 0 {
		return perViewer, 0, nil
	}
	select {
	case <-time.After(c.idleFor):
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	cpuAfter, _ := serverUsage(ctx, c)
	return perViewer, cpuAfter - cpuBefore, nil
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
