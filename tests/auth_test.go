package tests

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/client"
	"github.com/tasktail/tasktail/server"
	"github.com/tasktail/tasktail/token"
)

const (
	testKey    = "pk-0123456789abcdef"
	testSecret = "0123456789abcdef0123456789abcdef"
)

func secured(t *testing.T) *service {
	t.Helper()
	cfg := defaults()
	cfg.PublishKeys = []string{"pk-other-key-000000", testKey}
	cfg.TokenSecret = []byte(testSecret)
	cfg.AllowedOrigins = []string{"app.example.com"}
	return start(t, cfg)
}

func mint(t *testing.T, sub string, ttl time.Duration) string {
	t.Helper()
	tok, err := token.Mint([]byte(testSecret), sub, ttl, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// with sends a request carrying an Authorization header (empty: none).
func (s *service) with(auth, method, path, body string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = decodeJSON(resp, &out.body)
	}
	return out
}

func TestPublishNeedsAKey(t *testing.T) {
	s := secured(t)
	msg := `{"level":"info","message":"x"}`
	cases := []struct {
		name, auth, method, path, body string
		status                         int
		code                           string
	}{
		{"publish without a key", "", "POST", "/v1/tasks/a/logs", msg, 401, "unauthenticated"},
		{"publish with a wrong key", "pk-wrong-key-000000", "POST", "/v1/tasks/a/logs", msg, 403, "permission_denied"},
		{"publish with a token", mint(t, "a", time.Hour), "POST", "/v1/tasks/a/logs", msg, 403, "permission_denied"},
		{"publish with the key", testKey, "POST", "/v1/tasks/a/logs", msg, 202, ""},
		{"delete without a key", "", "DELETE", "/v1/tasks/a", "", 401, "unauthenticated"},
		{"delete with a wrong key", "pk-wrong-key-000000", "DELETE", "/v1/tasks/a", "", 403, "permission_denied"},
		{"delete with the key", testKey, "DELETE", "/v1/tasks/a", "", 204, ""},
	}
	for _, tc := range cases {
		r := s.with(tc.auth, tc.method, tc.path, tc.body)
		if r.status != tc.status || r.errorCode() != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.errorCode(), tc.status, tc.code)
		}
		if r.status == 401 && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
	}
}

func TestViewingNeedsATokenForTheTask(t *testing.T) {
	s := secured(t)
	if r := s.with(testKey, "POST", "/v1/tasks/import-7/logs", `{"level":"info","message":"x"}`); r.status != 202 {
		t.Fatalf("publish: %d", r.status)
	}
	expired, _ := token.Mint([]byte(testSecret), "import-7", -time.Minute, time.Now())
	cases := []struct {
		name, auth string
		status     int
	}{
		{"no token", "", 401},
		{"garbage", "not-a-token", 401},
		{"expired", expired, 401},
		{"signed with another secret", func() string {
			tok, _ := token.Mint([]byte("another-secret-0123456789abcdef0"), "import-7", time.Hour, time.Now())
			return tok
		}(), 401},
		{"another task", mint(t, "import-8", time.Hour), 403},
		{"the task", mint(t, "import-7", time.Hour), 200},
		{"a prefix pattern", mint(t, "import-*", time.Hour), 200},
		{"a publish key", testKey, 200},
	}
	for _, tc := range cases {
		if r := s.with(tc.auth, "GET", "/v1/tasks/import-7", ""); r.status != tc.status {
			t.Errorf("status with %s: %d, want %d", tc.name, r.status, tc.status)
		}
		// The WebSocket is refused before the upgrade, with the same answer. A token may
		// come in the URL; a publish key only in the Authorization header.
		url := "ws" + strings.TrimPrefix(s.base, "http") + "/v1/tasks/import-7/ws?since=0"
		var opts websocket.DialOptions
		switch {
		case tc.auth == testKey:
			opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + testKey}}
		case tc.auth != "":
			url += "&token=" + tc.auth
		}
		c, resp, err := websocket.Dial(context.Background(), url, &opts)
		if tc.status == 200 {
			if err != nil {
				t.Errorf("viewer with %s: %v", tc.name, err)
				continue
			}
			c.CloseNow()
		} else if err == nil || resp == nil || resp.StatusCode != tc.status {
			t.Errorf("viewer with %s: %v %v, want %d before the upgrade", tc.name, err, resp, tc.status)
		}
	}
}

func TestTokenInAuthorizationHeaderAndExpiryClose1008(t *testing.T) {
	s := secured(t)
	s.with(testKey, "POST", "/v1/tasks/short/logs", `{"level":"info","message":"x"}`)
	// exp has one-second resolution: this token ends 1 to 2 s from now.
	c, err := client.New(s.base, &client.Options{HTTPClient: s.client, Token: mint(t, "short", 2*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := c.Tail(ctx, "short", 0)
	if err != nil {
		t.Fatalf("tail with a token in the header: %v", err)
	}
	began := time.Now()
	for {
		_, err := st.Next()
		if err == nil {
			continue
		}
		if !strings.Contains(err.Error(), "token expired") || !strings.Contains(err.Error(), "1008") {
			t.Fatalf("stream ended with %v, want close 1008 token expired", err)
		}
		break
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Fatalf("closed %v after connecting; the token lasted at most 2 s", d)
	}
}

func TestWebSocketOriginIsChecked(t *testing.T) {
	s := secured(t)
	tok := mint(t, "o", time.Hour)
	url := "ws" + strings.TrimPrefix(s.base, "http") + "/v1/tasks/o/ws?token=" + tok
	for _, tc := range []struct {
		origin string
		ok     bool
	}{{"", true}, {"https://app.example.com", true}, {s.base, true}, {"https://evil.example", false}} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, resp, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{HTTPHeader: h})
		if tc.ok != (err == nil) {
			t.Errorf("origin %q: err %v", tc.origin, err)
		}
		if err == nil {
			c.CloseNow()
		} else if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: %v, want 403", tc.origin, resp)
		}
	}
	// The accepted viewers leave (closed by the client) and the refused one never stays:
	// nothing is left waiting on the task nobody published to.
	await(t, "no viewer left waiting", func() bool { return s.metricValue("tasktail_tasks_waiting") == "0" })
	if st := s.with(testKey, "GET", "/v1/tasks/o", ""); st.status != http.StatusNotFound {
		t.Fatalf("a task only viewed: status %d", st.status)
	}
}

// An --allowed-origins host without a port allows a page of that host on any port, as
// browsers' origin patterns do; with a port, only that port. The 403 says so.
func TestAllowedOriginWithoutAPortAllowsEveryPort(t *testing.T) {
	cfg := defaults()
	cfg.AllowedOrigins = []string{"127.0.0.1", "tasks.example.com:8443", "*.example.org", "[::1]"}
	s := start(t, cfg)
	url := "ws" + strings.TrimPrefix(s.base, "http") + "/v1/tasks/o/ws"
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"http://127.0.0.1:24300", true},
		{"http://127.0.0.1", true},
		{"https://tasks.example.com:8443", true},
		{"https://tasks.example.com", false},
		{"https://tasks.example.com:9000", false},
		{"https://app.example.org:3000", true},
		{"http://[::1]:5173", true},
		{"http://127.0.0.2:24300", false},
	} {
		h := http.Header{"Origin": {tc.origin}}
		c, resp, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{HTTPHeader: h})
		if tc.ok != (err == nil) {
			t.Errorf("origin %q: err %v", tc.origin, err)
		}
		if err == nil {
			c.CloseNow()
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: %v, want 403", tc.origin, resp)
		}
	}
	req, _ := http.NewRequest("GET", s.base+"/v1/tasks/o/ws", nil)
	req.Header.Set("Origin", "https://tasks.example.com")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "a host without a port allows every port") {
		t.Fatalf("refused origin: %d %s", resp.StatusCode, body)
	}
}

func TestAuthFailuresAreCounted(t *testing.T) {
	s := secured(t)
	s.with("", "POST", "/v1/tasks/a/logs", `{}`)
	s.with("bad", "GET", "/v1/tasks/a", "")
	body := s.metrics()
	if !strings.Contains(body, "tasktail_auth_failures_total 2") {
		t.Fatalf("metrics lack two auth failures:\n%s", grepLines(body, "auth"))
	}
}

func TestOnlyLoopbackWithoutCredentials(t *testing.T) {
	public := &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8080} // never dialled
	cases := []struct {
		name string
		cfg  server.Config
		addr net.Addr
		ok   bool
	}{
		{"loopback, no auth", server.Config{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, true},
		{"ipv6 loopback, no auth", server.Config{}, &net.TCPAddr{IP: net.IPv6loopback}, true},
		{"public, no auth", server.Config{}, public, false},
		{"public, keys only", server.Config{PublishKeys: []string{testKey}}, public, false},
		{"public, full auth", server.Config{PublishKeys: []string{testKey}, TokenSecret: []byte(testSecret)}, public, true},
		{"public, --insecure", server.Config{Insecure: true}, public, true},
	}
	for _, tc := range cases {
		srv, err := server.New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = srv.CheckExposure(tc.addr)
		if tc.ok != (err == nil) {
			t.Errorf("%s: %v", tc.name, err)
		}
		_ = srv.Manager().Shutdown(context.Background())
	}
	if _, err := server.New(server.Config{TokenSecret: []byte("short")}); err == nil {
		t.Error("a 5-byte token secret was accepted")
	}
}

func TestCLITokenMintsAWorkingToken(t *testing.T) {
	s := secured(t)
	cmd := s.cliCommand("token", "import-*", "--ttl", "10m")
	cmd.Env = append(cmd.Env, "TASKTAIL_TOKEN_SECRET="+testSecret)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	claims, err := token.Verify([]byte(testSecret), strings.TrimSpace(string(out)), time.Now())
	if err != nil || claims.Sub != "import-*" || time.Until(claims.Exp) < 9*time.Minute {
		t.Fatalf("minted %q: %+v %v", out, claims, err)
	}
	if _, stderr, code := s.cli("", "token", "x"); code != 2 || !strings.Contains(stderr, "no secret: set TASKTAIL_TOKEN_SECRET") {
		t.Fatalf("token without a secret: exit %d %q", code, stderr)
	}
	short := s.cliCommand("token", "x")
	short.Env = append(short.Env, "TASKTAIL_TOKEN_SECRET=too-short")
	if _, stderr, code := s.runCommand(short, ""); code != 2 || !strings.Contains(stderr, "TASKTAIL_TOKEN_SECRET has 9 bytes") {
		t.Fatalf("token with a short secret: exit %d %q", code, stderr)
	}
	// The CLI sends --key: publishing and tailing a secured server work.
	if _, stderr, code := s.cli("", "send", "k", "--key", testKey, "hello"); code != 0 {
		t.Fatalf("send with --key: exit %d %s", code, stderr)
	}
	if _, stderr, code := s.cli("", "send", "k", "hello"); code != 1 || !strings.Contains(stderr, "unauthenticated") {
		t.Fatalf("send without a key: exit %d %s", code, stderr)
	}
	if out, _, code := s.cli("", "status", "k", "--key", strings.TrimSpace(string(mustOutput(t, s, "token", "k")))); code != 0 || !strings.Contains(out, "last seq  1") {
		t.Fatalf("status with a minted token: exit %d %q", code, out)
	}
}

func mustOutput(t *testing.T, s *service, args ...string) []byte {
	t.Helper()
	cmd := s.cliCommand(args...)
	cmd.Env = append(cmd.Env, "TASKTAIL_TOKEN_SECRET="+testSecret)
	out, err := cmd.Output()
	var exit interface{ ExitCode() int }
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return out
}
