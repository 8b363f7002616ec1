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

// idleViewerMemory connects c.idle viewers to one task, waits for each one's hello, and
// returns how much the server's RSS grew per viewer. The task exists before the first
// measurement, so only connections are counted.
func idleViewerMemory(ctx context.Context, c benchConfig) (float64, error) {
	dial := func() (*websocket.Conn, error) { return c.dialViewer(ctx, c.prefix+"idle") }
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
