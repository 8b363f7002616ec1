package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/client"
)

// streamBody posts an NDJSON body as one streaming publish.
func (s *service) stream(taskID, body string) response {
	s.t.Helper()
	return s.do(http.MethodPost, "/v1/tasks/"+taskID+"/logs", "application/x-ndjson", []byte(body))
}

func ndjsonLine(i int) string {
	return fmt.Sprintf(`{"level":"info","message":"line %d","progress":%d}`, i, i%101)
}

// A stream publishes every line in order, to a viewer that watches, and answers once with
// the range. Blank lines, CRLF ends and a last line without a newline are fine.
func TestStreamPublish(t *testing.T) {
	s := start(t, defaults())
	v := s.watch("st", "")
	v.hello()
	var body strings.Builder
	for i := 1; i <= 2500; i++ { // more than MaxBatch (1000): several chunks
		body.WriteString(ndjsonLine(i))
		switch i % 3 {
		case 0:
			body.WriteString("\r\n")
		case 1:
			body.WriteString("\n\n  \n")
		default:
			body.WriteString("\n")
		}
	}
	// A line longer than the server's 64 KiB read buffer: 120 KB of JSON, a 20 KB message.
	body.WriteString(`{"level":"info","message":"` + strings.Repeat(`\u0041`, 20000) + "\"}\n")
	body.WriteString(`{"level":"success","message":"done","progress":100,"finished":true}`)
	r := s.stream("st", body.String())
	if r.status != http.StatusAccepted || r.num("accepted") != 2502 || r.num("first_seq") != 1 || r.num("last_seq") != 2502 {
		t.Fatalf("stream: %d %v", r.status, r.body)
	}
	logs := v.logs(2502)
	for i, l := range logs[:2500] {
		if l.Seq != uint64(i+1) || l.Message != fmt.Sprintf("line %d", i+1) || l.Progress != float64((i+1)%101) {
			t.Fatalf("log %d: %+v", i, l)
		}
	}
	if long := logs[2500]; long.Message != strings.Repeat("A", 20000) {
		t.Fatalf("long line: message of %d bytes", len(long.Message))
	}
	if last := logs[2501]; !last.Finished || last.Level != "success" {
		t.Fatalf("last: %+v", last)
	}
	if code, reason := v.closed(); code != 1000 || reason != "task finished" {
		t.Fatalf("close %d %q", code, reason)
	}
}

// Lines are delivered while the request is still open: a producer that writes a line now
// and then sees each one reach the viewer before it writes the next.
func TestStreamDeliversAsLinesArrive(t *testing.T) {
	s := start(t, defaults())
	v := s.watch("live", "")
	v.hello()
	pr, pw := io.Pipe()
	answered := make(chan response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/tasks/live/logs", pr)
		req.Header.Set("Content-Type", "application/x-ndjson")
		answered <- doRequest(s.client, req)
	}()
	for i := 1; i <= 5; i++ {
		if _, err := io.WriteString(pw, ndjsonLine(i)+"\n"); err != nil {
			t.Fatal(err)
		}
		if l := v.logs(1)[0]; l.Seq != uint64(i) || l.Message != fmt.Sprintf("line %d", i) {
			t.Fatalf("log %d: %+v", i, l)
		}
	}
	pw.Close()
	select {
	case r := <-answered:
		if r.status != http.StatusAccepted || r.num("accepted") != 5 || r.num("last_seq") != 5 || r.body["queued"] != false {
			t.Fatalf("answer: %d %v", r.status, r.body)
		}
	case <-time.After(wait):
		t.Fatal("no answer after the stream ended")
	}
}

// The first bad line ends a stream: every line before it is published, the answer names
// the line and counts what was accepted, and nothing after it is published.
func TestStreamStopsAtTheFirstBadLine(t *testing.T) {
	cfg := defaults()
	cfg.Actors = actors.Config{MaxMessageBytes: 1024}
	cfg.MaxBodyBytes = 4 << 10
	s := start(t, cfg)
	good := ndjsonLine(1) + "\n" + ndjsonLine(2) + "\n"
	cases := []struct {
		name     string
		body     string
		status   int
		code     string
		message  string // the error message starts with it
		accepted uint64
	}{
		{"bad level", good + `{"level":"loud","message":"x"}` + "\n" + ndjsonLine(4), 400, "invalid_argument", "line 3: level", 2},
		{"unknown field", `{"level":"info","message":"x","colour":"red"}`, 400, "invalid_argument", "line 1: colour", 0},
		{"array line", good + `[{"level":"info","message":"x"}]`, 400, "invalid_argument", "line 3: body", 2},
		{"malformed", good + "\n" + `{"level":"info",` + "\n" + ndjsonLine(5), 400, "invalid_argument", "line 4: body", 2},
		{"long message", good + `{"level":"info","message":"` + strings.Repeat("m", 1025) + `"}`, 413, "too_large", "line 3: message", 2},
		{"long line", good + `{"level":"info","message":"` + strings.Repeat("m", 5000) + `"}` + "\n" + ndjsonLine(4), 413, "too_large", "line 3: body", 2},
		{"empty stream", "\n \n", 400, "invalid_argument", "body", 0},
		{"after finished", good + `{"level":"info","message":"end","finished":true}` + "\n" + ndjsonLine(4), 409, "task_finished", "task has finished", 3},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			taskID := fmt.Sprintf("bad-%d", i)
			r := s.stream(taskID, tc.body)
			msg, _ := r.body["error"].(map[string]any)["message"].(string)
			if r.status != tc.status || r.errorCode() != tc.code || !strings.HasPrefix(msg, tc.message) || r.num("accepted") != tc.accepted {
				t.Fatalf("got %d %s %q accepted %v, want %d %s %s… accepted %d", r.status, r.errorCode(), msg, r.body["accepted"], tc.status, tc.code, tc.message, tc.accepted)
			}
			st := s.status(taskID)
			switch {
			case tc.accepted == 0 && st.status != http.StatusNotFound:
				t.Fatalf("nothing accepted, yet the task exists: %v", st.body)
			case tc.accepted > 0 && (st.num("last_seq") != tc.accepted || r.num("last_seq") != tc.accepted || r.num("first_seq") != 1):
				t.Fatalf("status %v, answer %v: want last_seq %d", st.body, r.body, tc.accepted)
			}
		})
	}
}

// A producer that stops sending without ending its request is cut off after IdleTimeout,
// with what it had sent published.
func TestStreamIdleTimeout(t *testing.T) {
	cfg := defaults()
	cfg.IdleTimeout = 300 * time.Millisecond
	s := start(t, cfg)
	conn, br := openStream(t, s, "idle")
	fmt.Fprintf(conn, "%x\r\n%s\n\r\n", len(ndjsonLine(1))+1, ndjsonLine(1))
	r := readStreamAnswer(t, conn, br)
	if r.status != http.StatusBadRequest || !strings.Contains(r.message(), "no line for 300ms") || r.num("accepted") != 1 {
		t.Fatalf("answer: %d %v", r.status, r.body)
	}
}

// A server that drains ends open streams at once with 503, counting what was accepted.
func TestStreamEndsWhenServerDrains(t *testing.T) {
	s := start(t, defaults())
	v := s.watch("drain", "")
	v.hello()
	conn, br := openStream(t, s, "drain")
	fmt.Fprintf(conn, "%x\r\n%s\n\r\n", len(ndjsonLine(1))+1, ndjsonLine(1))
	v.logs(1) // the line is in: the stream now waits for the next
	shutdown := make(chan error, 1)
	go func() { shutdown <- s.shutdown() }()
	r := readStreamAnswer(t, conn, br)
	if r.status != http.StatusServiceUnavailable || r.errorCode() != "unavailable" || r.num("accepted") != 1 || r.num("last_seq") != 1 {
		t.Fatalf("answer: %d %v", r.status, r.body)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// openStream starts a chunked NDJSON publish on a raw connection and returns it with a
// reader for the answer; the test writes the chunks itself.
func openStream(t *testing.T, s *service, taskID string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /v1/tasks/%s/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n", taskID)
	return conn, bufio.NewReader(conn)
}

func readStreamAnswer(t *testing.T, conn net.Conn, br *bufio.Reader) response {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header}
	if err := json.NewDecoder(resp.Body).Decode(&out.body); err != nil {
		t.Fatalf("decode answer: %v", err)
	}
	return out
}

func doRequest(c *http.Client, req *http.Request) response {
	resp, err := c.Do(req)
	if err != nil {
		return response{status: -1, body: map[string]any{"transport error": err.Error()}}
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header}
	_ = json.NewDecoder(resp.Body).Decode(&out.body)
	return out
}

func (r response) message() string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// The Go client's LogWriter streams messages on one request; after a bad message Close
// reports the error and how many were accepted before it.
func TestClientLogWriter(t *testing.T) {
	s := start(t, defaults())
	c, err := client.New(s.base, &client.Options{HTTPClient: s.client})
	if err != nil {
		t.Fatal(err)
	}
	v := s.watch("lw", "")
	v.hello()
	ctx := context.Background()
	w := c.NewLogWriter(ctx, "lw")
	for i := 1; i <= 300; i++ {
		if err := w.Send(client.Log{Level: client.Info, Message: fmt.Sprintf("m%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if l := v.logs(300)[299]; l.Seq != 300 || l.Message != "m300" {
		t.Fatalf("after Flush: %+v", l)
	}
	ack, err := w.Close()
	if err != nil || ack.Accepted != 300 || ack.FirstSeq != 1 || ack.LastSeq != 300 || ack.TaskID != "lw" {
		t.Fatalf("Close: %+v %v", ack, err)
	}

	w = c.NewLogWriter(ctx, "lw")
	_ = w.Send(client.Log{Level: client.Info, Message: "good"})
	_ = w.Send(client.Log{Level: "loud", Message: "bad"})
	ack, err = w.Close()
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.HasPrefix(apiErr.Message, "line 2: level") || ack.Accepted != 1 || ack.LastSeq != 301 {
		t.Fatalf("Close after a bad line: %+v %v", ack, err)
	}
}
