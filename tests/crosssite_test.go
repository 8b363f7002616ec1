package tests

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// A page of another origin cannot write to a keyless server on loopback: its simple
// requests (no preflight) are refused, whatever their body.
func TestCrossSiteWritesAreRefusedInChromium(t *testing.T) {
	s := start(t, defaults())
	s.publish("victim", "info", "mine", 10, false)
	epoch := s.status("victim").body["epoch"]

	// The attacker's page: another origin (localhost, not 127.0.0.1, and another port).
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><title>evil</title>`))
	}))
	t.Cleanup(evil.Close)
	page := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	ctx := browser(t)
	run(t, ctx, chromedp.Navigate(page))
	var done string
	target := s.base + "/v1/tasks/"
	run(t, ctx, chromedp.Evaluate(`(async () => {
		const t = `+"`"+target+"`"+`;
		// A Blob without a type goes without a Content-Type.
		await fetch(t + "created/logs", {method: "POST", mode: "no-cors", body: new Blob(['{"level":"info","message":"pwned","finished":true}'])});
		await fetch(t + "created/logs", {method: "POST", mode: "no-cors", body: '{"level":"info","message":"pwned","finished":true}'});
		await fetch(t + "created/logs", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: '[{"level":"info","message":"pwned"}]'});
		await fetch(t + "victim/logs", {method: "POST", mode: "no-cors", body: '{"level":"error","message":"pwned"}'});
		await fetch(t + "victim/restart", {method: "POST", mode: "no-cors"});
		await fetch(t + "victim/restart", {method: "POST", mode: "no-cors", body: "{}"});
		return "sent";
	})()`, &done, awaitPromise))
	if done != "sent" {
		t.Fatalf("page: %q", done)
	}
	if r := s.status("created"); r.status != http.StatusNotFound {
		t.Fatalf("a foreign page created a task: %d %v", r.status, r.body)
	}
	if r := s.status("victim"); r.body["epoch"] != epoch || r.num("last_seq") != 1 {
		t.Fatalf("a foreign page changed a task: %v (epoch was %v)", r.body, epoch)
	}
}

// What a browser says of a request's origin decides; clients that say nothing (the CLI,
// SDKs, curl) and the server's own pages keep working.
func TestStateChangesFromAnotherOriginAreRefused(t *testing.T) {
	s := start(t, defaults())
	s.publish("job", "info", "first", 0, false)
	host := strings.TrimPrefix(s.base, "http://")
	send := func(method, path, contentType string, header map[string]string, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: no X-Content-Type-Options: nosniff", method, path)
		}
		return resp.StatusCode
	}
	entry := `{"level":"info","message":"x"}`
	foreign := map[string]string{"Origin": "http://localhost:20099"}
	for _, tc := range []struct {
		name, method, path, contentType string
		header                          map[string]string
		want                            int
	}{
		{"publish without a Content-Type", "POST", "/v1/tasks/job/logs", "", nil, 415},
		{"publish as text", "POST", "/v1/tasks/job/logs", "text/plain", nil, 415},
		{"publish from a foreign Origin", "POST", "/v1/tasks/job/logs", "application/json", foreign, 403},
		{"stream from a foreign Origin", "POST", "/v1/tasks/job/logs", "application/x-ndjson", foreign, 403},
		{"publish from another site", "POST", "/v1/tasks/job/logs", "application/json", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"restart from a foreign Origin", "POST", "/v1/tasks/job/restart", "", foreign, 403},
		{"delete from a foreign Origin", "DELETE", "/v1/tasks/job", "", foreign, 403},
		{"publish from the server's own origin", "POST", "/v1/tasks/job/logs", "application/json", map[string]string{"Origin": s.base}, 202},
		{"publish from the server's own page", "POST", "/v1/tasks/job/logs", "application/json", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + host}, 202},
		{"publish from a client that is no browser", "POST", "/v1/tasks/job/logs", "application/json", nil, 202},
	} {
		body := entry
		if tc.method != "POST" || strings.HasSuffix(tc.path, "restart") {
			body = ""
		}
		if got := send(tc.method, tc.path, tc.contentType, tc.header, body); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if r := s.status("job"); r.num("last_seq") != 4 {
		t.Fatalf("last_seq %d, want 4 (the first and three accepted)", r.num("last_seq"))
	}
	// The list, a status and a download answer nosniff too.
	for _, path := range []string{"/v1/tasks", "/v1/tasks/job", "/v1/tasks/job/log"} {
		if got := send("GET", path, "", nil, ""); got != 200 {
			t.Errorf("GET %s: %d", path, got)
		}
	}
}
