package tests

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/internal/pgtest"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/backends"
	"github.com/tasktail/tasktail/journal/postgres"
	"github.com/tasktail/tasktail/server"
)

// durableDefaults is defaults() with a Pebble journal of the test's own.
func durableDefaults(t *testing.T) server.Config {
	t.Helper()
	j, err := backends.Open(journal.KindPebble, backends.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaults()
	cfg.Journal = j
	return cfg
}

// bigTask publishes batches of ten 30 KB messages to taskID: 300 KB a batch.
func (s *service) bigTask(taskID string, batches int) {
	s.t.Helper()
	text := strings.Repeat("d", 30_000)
	batch := "[" + strings.Repeat(`{"level":"info","message":"`+text+`"},`, 9) + `{"level":"info","message":"` + text + `"}]`
	for range batches {
		if r := s.publishRaw(taskID, []byte(batch)); r.status != http.StatusAccepted {
			s.t.Fatalf("batch: %d %v", r.status, r.body)
		}
	}
}

// startDownload asks for taskID's log on a connection of its own with a small receive
// buffer, and reads the answer's headers only: until the test reads its body, the server's
// writes stall once the socket buffers are full.
func (s *service) startDownload(taskID string) (*http.Response, net.Conn) {
	s.t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("GET /v1/tasks/" + taskID + "/log HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")); err != nil {
		s.t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 1024), nil)
	if err != nil {
		s.t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return resp, c
}

// downloadStatus asks for taskID's log, reads it all and returns its status, its bytes
// and the error reading the body ended with.
func (s *service) downloadStatus(taskID string) (*http.Response, int64, error) {
	s.t.Helper()
	resp, err := s.client.Get(s.base + "/v1/tasks/" + taskID + "/log")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return resp, n, err
}

// A download whose reader stops reading is cut within the write timeout, its slot given
// back; past the limit of downloads per credential, one more gets 503 with Retry-After.
func TestStalledDownloadIsCutAndDownloadsAreBounded(t *testing.T) {
	cfg := durableDefaults(t)
	cfg.Actors = actors.Config{WriteTimeout: 500 * time.Millisecond}
	cfg.MaxDownloadsPerCredential = 1
	s := start(t, cfg)
	s.bigTask("big", 40) // 12 MB: more than the socket buffers hold
	stalled, _ := s.startDownload("big")
	if stalled.StatusCode != http.StatusOK {
		t.Fatalf("download: %d", stalled.StatusCode)
	}
	if resp, _, _ := s.downloadStatus("big"); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a second download of one credential: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	began := time.Now()
	awaitWithin(t, 3*time.Second, "the stalled download cut, its slot free", func() bool {
		resp, n, err := s.downloadStatus("big")
		return resp.StatusCode == http.StatusOK && err == nil && n > 12_000_000
	})
	t.Logf("the stalled download was cut: a new one answered %v after a second was refused", time.Since(began))
	if _, err := io.Copy(io.Discard, stalled.Body); err == nil {
		t.Fatal("the stalled download ended as if complete")
	}
}

// A download that cannot finish (here the task restarts under it) is aborted: the client
// sees a broken transfer, never a clean end of a shorter or mixed log.
func TestDownloadThatCannotFinishIsAborted(t *testing.T) {
	cfg := durableDefaults(t)
	s := start(t, cfg)
	s.bigTask("big", 40)
	resp, _ := s.startDownload("big")
	if r := s.do(http.MethodPost, "/v1/tasks/big/restart", "", nil); r.status != http.StatusOK {
		t.Fatalf("restart: %d %v", r.status, r.body)
	}
	s.bigTask("big", 2)
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil {
		t.Fatalf("a download across a restart ended cleanly after %d bytes", n)
	}
}

// On PostgreSQL a download slower than the journal's query timeout is whole, and stalled
// downloads hold no connection a publish needs.
func TestPostgresDownloadsAreWholeAndStarveNoPublish(t *testing.T) {
	j, err := postgres.Open(pgtest.ForTest(t), postgres.Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaults()
	cfg.Journal = j
	s := start(t, cfg)
	s.bigTask("big", 30) // 9 MB, 300 lines
	// A reader slower than the query timeout.
	resp, _ := s.startDownload("big")
	br := bufio.NewReader(resp.Body)
	lines := 0
	began := time.Now()
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF && line == "" {
			break
		}
		if err != nil {
			t.Fatalf("slow download broke after %d lines: %v", lines, err)
		}
		lines++
		time.Sleep(3 * time.Millisecond) // a slow reader, not an ordering
	}
	if lines != 300 || time.Since(began) < time.Second {
		t.Fatalf("slow download: %d lines in %v, want all 300 over more than the 500ms query timeout", lines, time.Since(began))
	}
	// Four stalled downloads (as many as the pool's connections) and a publish.
	for range 4 {
		if r, _ := s.startDownload("big"); r.StatusCode != http.StatusOK {
			t.Fatalf("download: %d", r.StatusCode)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/v1/tasks/other/logs", strings.NewReader(`{"level":"info","message":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	pub, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("publish beside stalled downloads: %v", err)
	}
	pub.Body.Close()
	if pub.StatusCode != http.StatusAccepted {
		t.Fatalf("publish beside stalled downloads: %d", pub.StatusCode)
	}
}
