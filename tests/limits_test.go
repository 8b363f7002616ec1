package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/server"
)

func TestMaxLiveTasksAnswers503(t *testing.T) {
	cfg := defaults()
	cfg.Actors = actors.Config{MaxTasks: 2}
	s := start(t, cfg)
	s.publish("t1", "info", "a", 0, false)
	s.publish("t2", "info", "b", 0, false)
	r := s.publishRaw("t3", []byte(`{"level":"info","message":"c"}`))
	if r.status != http.StatusServiceUnavailable || r.errorCode() != "unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("third task: %d %v %v", r.status, r.body, r.header)
	}
	if st := s.status("t1"); st.num("last_seq") != 1 {
		t.Fatalf("t1 corrupted: %v", st.body)
	}
	if r := s.do(http.MethodGet, "/v1/tasks/t3/ws", "", nil); r.status != http.StatusUpgradeRequired {
		t.Fatalf("viewer of a third task: %d, want 426: a viewer waits for its task without a task slot", r.status)
	}
}

func TestMaxViewersPerTaskAnswers503BeforeUpgrade(t *testing.T) {
	cfg := defaults()
	cfg.Actors = actors.Config{MaxViewersPerTask: 1}
	s := start(t, cfg)
	v := s.watch("busy", "")
	v.hello()
	url := "ws" + strings.TrimPrefix(s.base, "http") + "/v1/tasks/busy/ws"
	_, resp, err := websocket.Dial(context.Background(), url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second viewer: %v %v", err, resp)
	}
	s.publish("busy", "info", "still served", 0, false)
	if l := v.logs(1); l[0].Message != "still served" {
		t.Fatalf("first viewer got %+v", l[0])
	}
}

func TestPublishRatePerKeyAnswers429(t *testing.T) {
	cfg := defaults()
	cfg.PublishKeys = []string{testKey, "pk-second-key-00000"}
	cfg.PublishRate, cfg.PublishBurst = 1, 3
	s := start(t, cfg)
	msg := `{"level":"info","message":"x"}`
	for i := 1; i <= 3; i++ {
		if r := s.with(testKey, "POST", "/v1/tasks/r/logs", msg); r.status != 202 {
			t.Fatalf("publish %d within the burst: %d", i, r.status)
		}
	}
	r := s.with(testKey, "POST", "/v1/tasks/r/logs", msg)
	if r.status != http.StatusTooManyRequests || r.errorCode() != "rate_limited" || r.header.Get("Retry-After") != "1" {
		t.Fatalf("past the burst: %d %v %v", r.status, r.body, r.header)
	}
	if r := s.with("pk-second-key-00000", "POST", "/v1/tasks/r/logs", msg); r.status != 202 {
		t.Fatalf("another key has its own bucket: %d", r.status)
	}
	if st := s.with(testKey, "GET", "/v1/tasks/r", ""); st.num("last_seq") != 4 {
		t.Fatalf("a refused publish was appended: %v", st.body)
	}
}

// rawConn opens a TCP connection to s with a deadline and writes request to it as is.
func (s *service) rawConn(request string) (net.Conn, *bufio.Reader, error) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(wait))
	if _, err := conn.Write([]byte(request)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, bufio.NewReader(conn), nil
}

func TestMaxConnectionsAnswers503(t *testing.T) {
	cfg := defaults()
	cfg.MaxConnections = 2
	s := start(t, cfg)
	a, b := s.watch("c", ""), s.watch("c", "")
	a.hello()
	b.hello()
	conn, br, err := s.rawConn("GET /v1/tasks/c HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third connection: %v %v", err, resp)
	}
	var body struct{ Error struct{ Code string } }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Code != "unavailable" {
		t.Fatalf("refusal body: %v %+v", err, body)
	}
	b.c.CloseNow()
	await(t, "a connection is free again", func() bool {
		c, br, err := s.rawConn("GET /v1/tasks/c HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
		if err != nil {
			return false
		}
		defer c.Close()
		resp, err := http.ReadResponse(br, nil)
		return err == nil && resp.StatusCode != http.StatusServiceUnavailable
	})
}

func TestIdleKeepAliveConnectionsAreClosed(t *testing.T) {
	cfg := defaults()
	cfg.IdleTimeout = 200 * time.Millisecond
	s := start(t, cfg)
	conn, br, err := s.rawConn("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request: %v %v", err, resp)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	began := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want the server to close it", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("closed after %v, want about 200ms", d)
	}
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	cfg := defaults()
	cfg.ReadHeaderTimeout = 200 * time.Millisecond
	s := start(t, cfg)
	conn, br, err := s.rawConn("GET /healthz HTTP/1.1\r\nHost: x\r\n") // and never the blank line
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.ReadAll(br); err != nil {
		t.Fatalf("slow client: %v, want the server to hang up", err)
	}
}

func TestViewerMessagesAreLimited(t *testing.T) {
	cfg := defaults()
	cfg.WebSocketReadLimit = 64
	s := start(t, cfg)
	v := s.dial("rl", "")
	v.startReading()
	v.hello()
	// A small message (a client's own keepalive) is ignored.
	if err := v.c.Write(context.Background(), websocket.MessageText, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	s.publish("rl", "info", "still here", 0, false)
	if l := v.logs(1); l[0].Message != "still here" {
		t.Fatalf("got %+v", l[0])
	}
	if err := v.c.Write(context.Background(), websocket.MessageText, []byte(strings.Repeat("x", 65))); err != nil {
		t.Fatal(err)
	}
	if code, _ := v.closed(); code != websocket.StatusMessageTooBig {
		t.Fatalf("a 65-byte message: closed with %d, want 1009", code)
	}
}

func TestMaxTaskIDLength(t *testing.T) {
	cfg := defaults()
	cfg.Actors = actors.Config{MaxTaskIDLength: 8}
	s := start(t, cfg)
	if r := s.publishRaw("12345678", []byte(`{"level":"info","message":"x"}`)); r.status != 202 {
		t.Fatalf("8 chars: %d", r.status)
	}
	if r := s.publishRaw("123456789", []byte(`{"level":"info","message":"x"}`)); r.status != 400 || r.errorCode() != "invalid_argument" {
		t.Fatalf("9 chars: %d %v", r.status, r.body)
	}
	if _, err := server.New(server.Config{Actors: actors.Config{MaxTaskIDLength: 129}}); err == nil {
		t.Fatal("a max task id length past the contract's 128 was accepted")
	}
}
