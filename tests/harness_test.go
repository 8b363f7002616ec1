package tests

import (
	"bytes"
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

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	"github.com/tasktail/tasktail/client"
	"github.com/tasktail/tasktail/internal/pgserver"
	"github.com/tasktail/tasktail/server"
)

func TestMain(m *testing.M) { actortest.VerifyNoLeaks(m, removeBinary, pgserver.StopShared) }

const wait = 10 * time.Second

// service is a tasktail server on 127.0.0.1:0, running in this process.
type service struct {
	t      testing.TB
	srv    *server.Server
	base   string // http://127.0.0.1:port
	stop   context.CancelFunc
	served chan error
	client *http.Client
}

// start runs a server with cfg; it is shut down when the test ends.
func start(t testing.TB, cfg server.Config) *service {
	t.Helper()
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{t: t, srv: srv, base: "http://" + ln.Addr().String(), stop: cancel, served: make(chan error, 1),
		client: newClient()}
	go func() { s.served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		s.shutdown()
		s.client.CloseIdleConnections()
	})
	return s
}

// newClient returns an HTTP client of its own, so idle connections end with the test.
func newClient() *http.Client {
	return &http.Client{Timeout: wait, Transport: &http.Transport{}}
}

// shutdown stops the server and waits for Serve to return (at most once per service).
func (s *service) shutdown() error {
	s.t.Helper()
	s.stop()
	select {
	case err, ok := <-s.served:
		if ok {
			close(s.served)
		}
		return err
	case <-time.After(15 * time.Second):
		s.t.Fatal("server did not shut down within 15s")
	}
	return nil
}

// response is a decoded HTTP answer.
type response struct {
	status int
	body   map[string]any
	header http.Header
}

func (r response) errorCode() string {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (r response) num(key string) uint64 {
	n, _ := r.body[key].(float64)
	return uint64(n)
}

func (s *service) do(method, path, contentType string, body []byte) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	out := response{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			s.t.Fatalf("%s %s: body %q: %v", method, path, raw, err)
		}
	}
	return out
}

func (s *service) publishRaw(taskID string, body []byte) response {
	s.t.Helper()
	return s.do(http.MethodPost, "/v1/tasks/"+taskID+"/logs", "application/json", body)
}

// publish sends one message and fails the test unless it is accepted.
func (s *service) publish(taskID, level, message string, progress float64, finished bool) response {
	s.t.Helper()
	b, _ := json.Marshal(map[string]any{"level": level, "message": message, "progress": progress, "finished": finished})
	r := s.publishRaw(taskID, b)
	if r.status != http.StatusAccepted {
		s.t.Fatalf("publish %q to %s: %d %v", message, taskID, r.status, r.body)
	}
	return r
}

// publishBatch publishes messages "m<from>" … "m<to>" in one batch request.
func (s *service) publishBatch(taskID string, from, to int) {
	s.t.Helper()
	batch := make([]map[string]any, 0, to-from+1)
	for i := from; i <= to; i++ {
		batch = append(batch, map[string]any{"level": "info", "message": fmt.Sprintf("m%d", i)})
	}
	b, _ := json.Marshal(batch)
	if r := s.publishRaw(taskID, b); r.status != http.StatusAccepted {
		s.t.Fatalf("batch %d-%d: %d %v", from, to, r.status, r.body)
	}
}

func (s *service) publishN(taskID string, from, to int) {
	s.t.Helper()
	for i := from; i <= to; i++ {
		s.publish(taskID, "info", fmt.Sprintf("m%d", i), 0, false)
	}
}

func (s *service) status(taskID string) response {
	s.t.Helper()
	return s.do(http.MethodGet, "/v1/tasks/"+taskID, "", nil)
}

// viewer is a WebSocket client of one task.
type viewer struct {
	t      testing.TB
	c      *websocket.Conn
	frames chan frameOrErr
}

type frameOrErr struct {
	f   client.Event
	err error
}

// watch connects a viewer; query is appended to the URL ("since=0&epoch=…").
func (s *service) watch(taskID, query string) *viewer {
	s.t.Helper()
	v := s.dial(taskID, query)
	v.startReading()
	return v
}

// dial connects without reading, for a viewer that stalls.
func (s *service) dial(taskID, query string) *viewer {
	s.t.Helper()
	url := "ws" + strings.TrimPrefix(s.base, "http") + "/v1/tasks/" + taskID + "/ws"
	if query != "" {
		url += "?" + query
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		s.t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(4 << 20)
	v := &viewer{t: s.t, c: c, frames: make(chan frameOrErr, 1<<16)}
	s.t.Cleanup(func() { c.CloseNow() })
	return v
}

// startReading reads frames into v.frames until the connection ends.
func (v *viewer) startReading() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, b, err := v.c.Read(context.Background())
			if err != nil {
				v.frames <- frameOrErr{err: err}
				return
			}
			f, err := client.ParseEvent(b)
			if err != nil {
				v.frames <- frameOrErr{err: err}
				return
			}
			v.frames <- frameOrErr{f: f}
		}
	}()
	v.t.Cleanup(func() {
		v.c.CloseNow()
		<-done
	})
}

// next returns the next frame, failing if the connection ends or nothing arrives in time.
func (v *viewer) next() client.Event {
	v.t.Helper()
	select {
	case fe := <-v.frames:
		if fe.err != nil {
			v.t.Fatalf("viewer: connection ended: %v", fe.err)
		}
		return fe.f
	case <-time.After(wait):
		v.t.Fatalf("viewer: no frame within %v", wait)
	}
	return client.Event{}
}

// hello reads the first frame and checks that it is hello.
func (v *viewer) hello() client.Event {
	v.t.Helper()
	f := v.next()
	if f.Type != "hello" {
		v.t.Fatalf("first frame %+v, want hello", f)
	}
	return f
}

// logs reads n frames and checks they are log frames with strictly increasing seq.
func (v *viewer) logs(n int) []client.Event {
	v.t.Helper()
	out := make([]client.Event, n)
	for i := range out {
		out[i] = v.next()
		if out[i].Type != "log" {
			v.t.Fatalf("frame %d: %+v, want log", i, out[i])
		}
		if i > 0 && out[i].Seq <= out[i-1].Seq {
			v.t.Fatalf("seq %d after %d", out[i].Seq, out[i-1].Seq)
		}
	}
	return out
}

// closed waits for the connection to end and returns its close code and reason, skipping
// any frames still on their way.
func (v *viewer) closed() (websocket.StatusCode, string) {
	v.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case fe := <-v.frames:
			if fe.err == nil {
				continue
			}
			var ce websocket.CloseError
			if errors.As(fe.err, &ce) {
				return ce.Code, ce.Reason
			}
			return websocket.CloseStatus(fe.err), ""
		case <-deadline:
			v.t.Fatalf("viewer: not closed within %v", wait)
		}
	}
}

// await polls cond until it holds or fails the test.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	actortest.AwaitCondition(t, wait, what, cond)
}

// awaitWithin is await with a bound of its own.
func awaitWithin(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	actortest.AwaitCondition(t, within, what, cond)
}

func defaults() server.Config { return server.Config{Actors: actors.Config{}} }

func decodeJSON(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}

// metrics returns the server's /metrics text.
func (s *service) metrics() string {
	s.t.Helper()
	resp, err := s.client.Get(s.base + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

// grepLines returns the lines of text that contain word.
func grepLines(text, word string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
