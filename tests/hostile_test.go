package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/actors"
)

// The attacks of an outsider, each through the real server: what they must not achieve.

// metricValue returns the value of a metric line "name value" of s's /metrics.
func (s *service) metricValue(name string) string {
	s.t.Helper()
	for _, l := range strings.Split(s.metrics(), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	s.t.Fatalf("no metric %s", name)
	return ""
}

func TestViewingCreatesNoTask(t *testing.T) {
	cfg := defaults()
	cfg.Actors = actors.Config{MaxTasks: 5, MaxWaitingTasks: 3}
	s := start(t, cfg)
	// Requests that do not upgrade leave nothing behind.
	for i := range 10 {
		id := "probe" + string(rune('a'+i))
		if r := s.do(http.MethodGet, "/v1/tasks/"+id+"/ws", "", nil); r.status != http.StatusUpgradeRequired {
			t.Fatalf("plain GET of a viewer URL: %d, want 426", r.status)
		}
		if st := s.status(id); st.status != http.StatusNotFound {
			t.Fatalf("status of %s after a plain GET: %d %v, want 404", id, st.status, st.body)
		}
	}
	if v := s.metricValue("tasktail_tasks_live"); v != "0" {
		t.Fatalf("tasks live after plain GETs: %s", v)
	}
	// Viewers of tasks nobody published to wait without holding task slots, up to their
	// own limit.
	early := s.watch("later", "")
	if h := early.hello(); h.LastSeq != 0 {
		t.Fatalf("hello of a task not published yet: %+v", h)
	}
	if st := s.status("later"); st.status != http.StatusNotFound {
		t.Fatalf("status of a task only viewed: %d %v, want 404", st.status, st.body)
	}
	s.watch("w2", "").hello()
	s.watch("w3", "").hello()
	_, resp, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(s.base, "http")+"/v1/tasks/w4/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("viewer past --max-waiting-tasks: %v %v", resp, err)
	}
	for i := 1; i <= 5; i++ {
		s.publish("job"+string(rune('0'+i)), "info", "x", 0, false) // viewers waiting take no task slot
	}
	// The waiting viewer gets what is published once its task exists (slots permitting).
	if r := s.publishRaw("later", []byte(`{"level":"info","message":"sixth"}`)); r.status != http.StatusServiceUnavailable {
		t.Fatalf("a sixth task: %d, want 503", r.status)
	}
	if r := s.do(http.MethodDelete, "/v1/tasks/job1", "", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.status)
	}
	s.publish("later", "info", "first", 10, false)
	if l := early.logs(1); l[0].Message != "first" || l[0].Seq != 1 {
		t.Fatalf("waiting viewer got %+v", l[0])
	}
	if st := s.status("later"); st.status != http.StatusOK || st.num("subscribers") != 1 {
		t.Fatalf("status once published: %d %v", st.status, st.body)
	}
	// A waiting viewer that leaves leaves nothing behind.
	s2 := start(t, cfg)
	v := s2.watch("gone", "")
	v.hello()
	if got := s2.metricValue("tasktail_tasks_waiting"); got != "1" {
		t.Fatalf("tasks waiting with one viewer: %s", got)
	}
	v.c.CloseNow()
	await(t, "the waiting task to go with its viewer", func() bool { return s2.metricValue("tasktail_tasks_waiting") == "0" })
}

// Keys twice, or in another case, are refused in every body form; nothing is stored.
func TestLenientJSONIsRefused(t *testing.T) {
	s := start(t, defaults())
	s.publish("strict", "info", "before", 0, false)
	for _, tc := range []struct{ contentType, body, field string }{
		{"application/json", `{"level":"debug","message":"FIRST","message":"SECOND","level":"critical"}`, "message"},
		{"application/json", `{"LEVEL":"info","Message":"x"}`, "LEVEL"},
		{"application/json", `[{"level":"info","message":"ok"},{"level":"info","message":"a","level":"error"}]`, "[1].level"},
		{"application/x-ndjson", "{\"level\":\"info\",\"Message\":\"x\"}\n{\"level\":\"info\",\"message\":\"never\"}\n", "Message"},
		{"application/x-ndjson", "{\"level\":\"info\",\"message\":\"a\",\"message\":\"b\"}\n", "message"},
	} {
		r := s.do(http.MethodPost, "/v1/tasks/strict/logs", tc.contentType, []byte(tc.body))
		msg, _ := r.body["error"].(map[string]any)["message"].(string)
		if r.status != http.StatusBadRequest || !strings.Contains(msg, tc.field) {
			t.Errorf("%s %s: %d %v, want 400 naming %s", tc.contentType, tc.body, r.status, r.body, tc.field)
		}
	}
	if st := s.status("strict"); st.num("last_seq") != 1 {
		t.Fatalf("refused bodies were stored: %v", st.body)
	}
}

// A since past every seq is refused rather than overflowing into a full replay; a task_id
// no viewer URL can carry is refused.
func TestEdgeValues(t *testing.T) {
	s := start(t, defaults())
	s.publish("edge", "info", "x", 0, false)
	if r := s.do(http.MethodGet, "/v1/tasks/edge/ws?since=18446744073709551615", "", nil); r.status != http.StatusBadRequest {
		t.Fatalf("since=2^64-1: %d %v, want 400", r.status, r.body)
	}
	v := s.watch("edge", "since=9007199254740991")
	v.hello()
	if g := v.next(); g.Type != "gap" || g.FromSeq != 9007199254740992 {
		t.Fatalf("since past the end: %+v, want a gap from since+1", g)
	}
	for _, id := range []string{".", ".."} {
		r := s.do(http.MethodPost, "/v1/tasks/"+id+"/logs", "application/json", []byte(`{"level":"info","message":"x"}`))
		if r.status == http.StatusAccepted {
			t.Fatalf("task_id %q accepted", id)
		}
	}
	// Sent as is, without the client's path cleaning.
	for _, path := range []string{"/v1/tasks/%2e%2e/logs", "/v1/tasks/%2E/logs"} {
		r := s.do(http.MethodPost, path, "application/json", []byte(`{"level":"info","message":"x"}`))
		if r.status != http.StatusBadRequest {
			t.Fatalf("POST %s: %d %v, want 400", path, r.status, r.body)
		}
	}
}

// signJWT signs claims with the test secret, for tokens token.Mint does not make.
func signJWT(claims string) string {
	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestTokenAndKeyRules(t *testing.T) {
	s := secured(t)
	s.with(testKey, http.MethodPost, "/v1/tasks/k/logs", `{"level":"info","message":"x"}`)
	// A publish key in the URL is refused, on POST and on a viewer alike.
	r := s.with("", http.MethodPost, "/v1/tasks/k/logs?token="+testKey, `{"level":"info","message":"x"}`)
	if msg := fmt.Sprint(r.body); r.status != http.StatusUnauthorized || !strings.Contains(msg, "Authorization header") {
		t.Fatalf("publish key as ?token= on POST: %d %v", r.status, r.body)
	}
	if r := s.with("", http.MethodGet, "/v1/tasks/k/ws?token="+testKey, ""); r.status != http.StatusUnauthorized {
		t.Fatalf("publish key as ?token= on a viewer: %d %v", r.status, r.body)
	}
	now := time.Now().Unix()
	for _, tc := range []struct {
		name, claims, says string
	}{
		{"100 years", fmt.Sprintf(`{"sub":"k","exp":%d}`, now+100*365*86400), "--max-token-ttl"},
		{"25 hours", fmt.Sprintf(`{"sub":"k","exp":%d,"iat":%d}`, now+25*3600, now), "--max-token-ttl"},
		{"nbf ahead", fmt.Sprintf(`{"sub":"k","exp":%d,"nbf":%d}`, now+3600, now+600), "not valid yet"},
	} {
		r := s.with(signJWT(tc.claims), http.MethodGet, "/v1/tasks/k", "")
		if msg := fmt.Sprint(r.body); r.status != http.StatusUnauthorized || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: %d %v, want 401 saying %q", tc.name, r.status, r.body, tc.says)
		}
	}
	ok := signJWT(fmt.Sprintf(`{"sub":"k","exp":%d,"nbf":%d}`, now+23*3600, now-5))
	if r := s.with(ok, http.MethodGet, "/v1/tasks/k", ""); r.status != http.StatusOK {
		t.Fatalf("a token within the rules: %d %v", r.status, r.body)
	}
}

// Without a token secret, only loopback host names are answered: a page on a rebinding
// domain cannot read or write a developer's tasks.
func TestForeignHostIsRefusedWithoutSecret(t *testing.T) {
	s := start(t, defaults())
	s.publish("dev", "info", "secret build log", 0, false)
	port := s.base[strings.LastIndexByte(s.base, ':'):]
	for _, host := range []string{"evil.example", "evil.example" + port, "127.0.0.1.evil.example" + port} {
		for _, path := range []string{"/v1/tasks/dev", "/v1/tasks/dev/ws", "/v1/tasks/dev/log"} {
			req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
			req.Host = host
			req.Header.Set("Origin", "http://"+host)
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(string(body), "--allowed-hosts") {
				t.Errorf("Host %s %s: %d %s, want 421 naming --allowed-hosts", host, path, resp.StatusCode, body)
			}
		}
	}
	for _, host := range []string{"localhost" + port, "127.0.0.1" + port, "[::1]" + port, "localhost"} {
		req, _ := http.NewRequest(http.MethodGet, s.base+"/v1/tasks/dev", nil)
		req.Host = host
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Host %s: %d", host, resp.StatusCode)
		}
	}
	cfg := defaults()
	cfg.AllowedHosts = []string{"tasks.internal"}
	named := start(t, cfg)
	req, _ := http.NewRequest(http.MethodGet, named.base+"/v1/tasks/none", nil)
	req.Host = "tasks.internal:8080"
	resp, err := named.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a host named in --allowed-hosts: %d, want the task's 404", resp.StatusCode)
	}
}

// roundTrip sends one request on a connection of its own and returns the status.
func (s *service) roundTrip(request string) int {
	s.t.Helper()
	c, br, err := s.rawConn(request)
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		s.t.Fatalf("%.40q: %v", request, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

const publishRequest = "POST /v1/tasks/fine/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 31\r\n\r\n" +
	`{"level":"info","message":"ok"}`

// probesAnswer fails unless health, readiness and metrics all answer 200 now.
func (s *service) probesAnswer(when string) {
	s.t.Helper()
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if got := s.roundTrip("GET " + p + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); got != http.StatusOK {
			s.t.Fatalf("%s %s: %d", when, p, got)
		}
	}
}

// Clients that hold every connection slot, idle after one anonymous request or sending a
// body slowly, blind no probe and hold their slots only briefly.
func TestSlotHoldersDoNotBlindProbes(t *testing.T) {
	const slots = 20
	cfg := defaults()
	cfg.MaxConnections = slots
	cfg.AnonymousIdleTimeout = 300 * time.Millisecond
	cfg.BodyTimeout = 500 * time.Millisecond
	s := start(t, cfg)

	idle := make([]*bufio.Reader, slots)
	for i := range idle {
		c, br, err := s.rawConn("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("idle holder %d: %v %v", i, resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		idle[i] = br
	}
	s.probesAnswer("with every slot idle")
	for i, br := range idle {
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("anonymous idle connection %d: %v, want the server to close it", i, err)
		}
	}
	await(t, "a publish once the idle holders are gone", func() bool { return s.roundTrip(publishRequest) == http.StatusAccepted })

	slow := make([]*bufio.Reader, slots)
	for i := range slow {
		c, br, err := s.rawConn("POST /v1/tasks/slow/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		slow[i] = br
	}
	s.probesAnswer("with every slot sending a body slowly")
	for i, br := range slow {
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("slow body %d: %v %v, want 408", i, resp, err)
		}
	}
	await(t, "a publish once the slow bodies are cut", func() bool { return s.roundTrip(publishRequest) == http.StatusAccepted })
}

// The attack of finding 3 against the memory formula of the operator guide ("Memory"): tasks of
// large messages hold at most their history bytes plus their queue, and bodies being read
// at once hold at most twice --max-body-memory.
func TestMemoryStaysWithinTheFormula(t *testing.T) {
	const (
		tasks      = 5
		size       = 65_000
		bodyMemory = 16 << 20
		slack      = 16 << 20 // the runtime, the test's own buffers
	)
	cfg := defaults()
	cfg.Actors = actors.Config{HistoryBytes: 1 << 20}
	cfg.MaxBodyMemory = bodyMemory
	s := start(t, cfg)
	queueLimit := int64(actors.DefaultConfig().QueueLimit)
	perTask := int64(1<<20) + queueLimit*(size+256)
	base := heapInUse()

	text := strings.Repeat("L", size)
	batch := "[" + strings.Repeat(`{"level":"info","message":"`+text+`"},`, 9) + `{"level":"info","message":"` + text + `"}]`
	for task := range tasks {
		for range 108 { // 1,080 messages of 65 KB each
			if r := s.publishRaw(fmt.Sprintf("big-%d", task), []byte(batch)); r.status != http.StatusAccepted {
				t.Fatalf("batch: %d %v", r.status, r.body)
			}
		}
	}
	held := heapInUse() - base
	t.Logf("%d tasks of 1,080 × 65 KB hold %d MiB (bound %d MiB)", tasks, held>>20, (tasks*perTask)>>20)
	if held > tasks*perTask+slack {
		t.Fatalf("tasks hold %d MiB, more than %d × (history bytes + queue) = %d MiB", held>>20, tasks, (tasks*perTask)>>20)
	}

	// 40 chunked 8 MiB bodies at once; the heap is sampled live while they are read.
	stop, peak := make(chan struct{}), make(chan int64)
	go func() {
		var top int64
		for {
			select {
			case <-stop:
				peak <- top
				return
			default:
				top = max(top, heapInUse()-base)
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	var wg sync.WaitGroup
	statuses := make(chan int, 40)
	for range 40 {
		wg.Go(func() {
			pr, pw := io.Pipe()
			go func() {
				chunk := []byte(strings.Repeat("x", 64<<10))
				for range 8 << 20 / len(chunk) {
					if _, err := pw.Write(chunk); err != nil {
						return
					}
				}
				pw.Close()
			}()
			req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/tasks/bodies/logs", pr)
			req.Header.Set("Content-Type", "application/json")
			req.ContentLength = -1 // chunked: the server cannot reserve ahead
			resp, err := newClient().Do(req)
			pr.CloseWithError(io.ErrClosedPipe)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(stop)
	close(statuses)
	top := <-peak
	refused := 0
	for st := range statuses {
		switch st {
		case http.StatusServiceUnavailable:
			refused++
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, 0:
			// read whole and refused as JSON, or cut off as too large (the client may see
			// the connection close before the answer)
		default:
			t.Errorf("an 8 MiB body answered %d", st)
		}
	}
	bound := tasks*perTask + 2*bodyMemory + slack
	t.Logf("40 bodies at once: peak live heap +%d MiB (bound %d MiB), %d refused for the body budget", top>>20, bound>>20, refused)
	if refused == 0 {
		t.Fatal("no body was refused: the budget never engaged")
	}
	if top > bound {
		t.Fatalf("peak live heap +%d MiB while bodies were read, more than the formula's %d MiB", top>>20, bound>>20)
	}
}

// rawViewer opens a viewer WebSocket by hand, as a client the library would not let us
// write: it speaks the handshake and then only what a test makes it.
func (s *service) rawViewer(taskID string) (net.Conn, *bufio.Reader) {
	s.t.Helper()
	c, br, err := s.rawConn("GET /v1/tasks/" + taskID + "/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		s.t.Fatalf("raw upgrade: %v %v", resp, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, br
}

// A viewer that stops reading is released (its frames dropped, its connection closed, its
// actor gone) within the write timeout of the decision to drop it: that it is too slow
// (1013), or that a write timed out. (conn's TestCloseWithoutDrainEndsWithinTheWriteTimeout
// covers a close handshake the peer never answers, which a real client rarely reaches.)
func TestSlowViewerIsReleasedWithinTheWriteTimeout(t *testing.T) {
	const (
		size    = 32 << 10
		timeout = time.Second
	)
	cfg := defaults()
	cfg.Actors = actors.Config{SocketBuffer: 64, MaxBatch: 64, MaxMessageBytes: size, WriteTimeout: timeout}
	s := start(t, cfg)
	s.publish("stall", "info", "first", 0, false)
	s.rawViewer("stall") // never reads, never answers a close
	await(t, "viewer attached", func() bool { return s.metricValue("tasktail_viewers") == "1" })
	text := strings.Repeat("x", size-16)
	var decided time.Time
	for i := 0; i < 2000 && decided.IsZero(); i++ {
		s.publish("stall", "info", text, 0, false)
		if s.metricValue("tasktail_slow_consumer_closes_total") != "0" || s.metricValue("tasktail_write_failures_total") != "0" {
			decided = time.Now()
		}
	}
	if decided.IsZero() {
		t.Fatal("the viewer was never dropped")
	}
	await(t, "the viewer released", func() bool { return s.metricValue("tasktail_viewers") == "0" })
	if d := time.Since(decided); d > timeout+500*time.Millisecond {
		t.Fatalf("released %v after it was dropped; the write timeout is %v", d, timeout)
	}
}

// readServerFrame reads one unmasked frame the server sent: its opcode and payload.
func readServerFrame(br *bufio.Reader) (byte, []byte, error) {
	var head [2]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126, 127:
		ext := make([]byte, map[uint64]int{126: 2, 127: 8}[n])
		if _, err := io.ReadFull(br, ext); err != nil {
			return 0, nil, err
		}
		n = 0
		for _, b := range ext {
			n = n<<8 | uint64(b)
		}
	}
	payload := make([]byte, n)
	_, err := io.ReadFull(br, payload)
	return head[0] & 0x0f, payload, err
}

// A client that floods pings is closed with 1008 once past its control-frame budget,
// and another viewer of the same task is served all the while.
func TestPingFloodIsClosed(t *testing.T) {
	s := start(t, defaults())
	s.publish("flood", "info", "first", 0, false)
	calm := s.watch("flood", "")
	calm.hello()
	conn, br := s.rawViewer("flood")
	ping := bytes.Repeat([]byte{0x89, 0x80, 1, 2, 3, 4}, 100) // FIN pings, masked, empty
	flooding := make(chan struct{})
	go func() {
		defer close(flooding)
		for end := time.Now().Add(wait); time.Now().Before(end); {
			if _, err := conn.Write(ping); err != nil {
				return // the server cut the connection
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	pongs := 0
	for {
		op, payload, err := readServerFrame(br)
		if err != nil {
			t.Fatalf("after %d pongs: %v, want a close frame", pongs, err)
		}
		if op == 0xA {
			pongs++
		}
		if op == 0x8 {
			if len(payload) < 2 || int(payload[0])<<8|int(payload[1]) != 1008 {
				t.Fatalf("closed with %x, want 1008", payload)
			}
			break
		}
	}
	if pongs > 25 {
		t.Fatalf("%d pongs before the close: the budget did not hold", pongs)
	}
	// After the 1008 the server reads no more of the flood: it cuts the connection rather
	// than wait (5 s) for a close answer among the pings.
	closed := time.Now()
	select {
	case <-flooding:
		t.Logf("connection cut %v after the close frame", time.Since(closed))
	case <-time.After(3 * time.Second):
		t.Fatal("the server went on reading the flood for 3s after its close frame")
	}
	s.publish("flood", "info", "second", 0, false)
	if l := calm.logs(2); l[1].Message != "second" {
		t.Fatalf("the other viewer got %+v", l)
	}
}

// With --admin-addr the probes answer on a listener of their own, even when clients hold
// every connection the main listener has, its overflow included.
func TestAdminAddrAnswersWhateverClientsHold(t *testing.T) {
	ln := listen(t)
	admin := ln.Addr().String()
	ln.Close()
	cfg := defaults()
	cfg.MaxConnections = 2
	cfg.AdminAddr = admin
	s := start(t, cfg)
	for range 2 + 64 { // the slots and the overflow
		c, _, err := s.rawConn("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n") // never finished
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	await(t, "the main listener refusing", func() bool {
		return s.roundTrip("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n") == http.StatusServiceUnavailable
	})
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := s.client.Get("http://" + admin + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("admin %s: %d", p, resp.StatusCode)
		}
	}
}

// A viewer resuming from 0 on a large task gets at most --history-bytes of messages from
// the journal besides the history, and a gap for what is older: replays are bounded in
// memory however many viewers ask.
func TestReplayFromTheJournalIsBoundedInBytes(t *testing.T) {
	const (
		size         = 60_000
		historyBytes = 1 << 20
	)
	cfg := durableDefaults(t)
	cfg.Actors = actors.Config{HistoryBytes: historyBytes}
	s := start(t, cfg)
	text := strings.Repeat("r", size)
	batch := "[" + strings.Repeat(`{"level":"info","message":"`+text+`"},`, 9) + `{"level":"info","message":"` + text + `"}]`
	for range 30 { // 300 messages, 18 MB
		if r := s.publishRaw("big", []byte(batch)); r.status != http.StatusAccepted {
			t.Fatalf("batch: %d %v", r.status, r.body)
		}
	}
	v := s.watch("big", "since=0")
	v.hello()
	gap := v.next()
	if gap.Type != "gap" || gap.FromSeq != 1 || gap.Reason != "history" {
		t.Fatalf("first frame of the replay: %+v, want a history gap from 1", gap)
	}
	replayed, next := 0, gap.ToSeq+1
	for next <= 300 {
		l := v.next()
		if l.Type != "log" || l.Seq != next {
			t.Fatalf("frame %+v, want log %d", l, next)
		}
		replayed += len(l.Message)
		next++
	}
	// The history keeps --history-bytes, or the queue (nobody watched) when that is more.
	history := max(historyBytes, actors.DefaultConfig().QueueLimit*size)
	t.Logf("replayed %d..300: %d KiB of messages", gap.ToSeq+1, replayed>>10)
	if bound := history + historyBytes + size; replayed > bound {
		t.Fatalf("replayed %d KiB, more than the history and --history-bytes from the journal (%d KiB)", replayed>>10, bound>>10)
	}
}
