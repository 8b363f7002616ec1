package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tasktail/tasktail/actors"
)

// Rule 9: every kind of bad input gets its documented status and error code, and a
// refused publish changes nothing.
func TestBadInput(t *testing.T) {
	cfg := defaults()
	cfg.Actors = actors.Config{MaxMessageBytes: 1024, MaxBatch: 3, SocketBuffer: 3}
	cfg.MaxBodyBytes = 64 << 10
	s := start(t, cfg)
	big := strings.Repeat("x", 1025)
	cases := []struct {
		name        string
		taskID      string
		contentType string
		body        string
		status      int
		code        string
		field       string // the error message starts with it
	}{
		{"unknown level", "ok", "application/json", `{"level":"loud","message":"x"}`, 400, "invalid_argument", "level"},
		{"missing level", "ok", "application/json", `{"message":"x"}`, 400, "invalid_argument", "level"},
		{"missing message", "ok", "application/json", `{"level":"info"}`, 400, "invalid_argument", "message"},
		{"progress -1", "ok", "application/json", `{"level":"info","message":"x","progress":-1}`, 400, "invalid_argument", "progress"},
		{"progress 101", "ok", "application/json", `{"level":"info","message":"x","progress":101}`, 400, "invalid_argument", "progress"},
		{"progress as string", "ok", "application/json", `{"level":"info","message":"x","progress":"5"}`, 400, "invalid_argument", "progress"},
		{"bad task id", "a%20b", "application/json", `{"level":"info","message":"x"}`, 400, "invalid_argument", "task_id"},
		{"129-char task id", strings.Repeat("a", 129), "application/json", `{"level":"info","message":"x"}`, 400, "invalid_argument", "task_id"},
		{"unknown field", "ok", "application/json", `{"level":"info","message":"x","colour":"red"}`, 400, "invalid_argument", "colour"},
		{"malformed JSON", "ok", "application/json", `{"level":"info",`, 400, "invalid_argument", "body"},
		{"not an object", "ok", "application/json", `"hello"`, 400, "invalid_argument", "body"},
		{"two values", "ok", "application/json", `{"level":"info","message":"x"} {}`, 400, "invalid_argument", "body"},
		{"empty body", "ok", "application/json", ``, 400, "invalid_argument", "body"},
		{"invalid UTF-8", "ok", "application/json", "{\"level\":\"info\",\"message\":\"\xff\xfe\"}", 400, "invalid_argument", "body"},
		{"oversized message", "ok", "application/json", `{"level":"info","message":"` + big + `"}`, 413, "too_large", "message"},
		{"oversized body", "ok", "application/json", `{"level":"info","message":"` + strings.Repeat("y", 70<<10) + `"}`, 413, "too_large", "body"},
		{"batch with one bad item", "ok", "application/json", `[{"level":"info","message":"a"},{"level":"info","message":"b","progress":200}]`, 400, "invalid_argument", "[1].progress"},
		{"batch with a null item", "ok", "application/json", `[{"level":"info","message":"a"},null]`, 400, "invalid_argument", "[1]"},
		{"empty batch", "ok", "application/json", `[]`, 400, "invalid_argument", "entries"},
		{"batch past --max-batch", "ok", "application/json", "[" + strings.Repeat(`{"level":"info","message":"m"},`, 3) + `{"level":"info","message":"m"}]`, 413, "too_large", "entries"},
		{"finished before the end of a batch", "ok", "application/json", `[{"level":"info","message":"a","finished":true},{"level":"info","message":"b"}]`, 400, "invalid_argument", "[0].finished"},
		{"wrong content type", "ok", "text/plain", `{"level":"info","message":"x"}`, 415, "unsupported_media_type", "Content-Type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(http.MethodPost, "/v1/tasks/"+tc.taskID+"/logs", tc.contentType, []byte(tc.body))
			msg, _ := r.body["error"].(map[string]any)["message"].(string)
			if r.status != tc.status || r.errorCode() != tc.code || !strings.HasPrefix(msg, tc.field) {
				t.Fatalf("got %d %s %q, want %d %s %s…", r.status, r.errorCode(), msg, tc.status, tc.code, tc.field)
			}
		})
	}
	if r := s.status("ok"); r.status != http.StatusNotFound {
		t.Fatalf("refused publishes created the task: %d %v", r.status, r.body)
	}
	// A good batch still goes through, as a whole.
	r := s.publishRaw("ok", []byte(`[{"level":"info","message":"a"},{"level":"debug","message":"b","progress":50}]`))
	if r.status != http.StatusAccepted || r.num("first_seq") != 1 || r.num("last_seq") != 2 {
		t.Fatalf("batch: %d %v", r.status, r.body)
	}
}

func TestUnknownRouteIsJSON404(t *testing.T) {
	s := start(t, defaults())
	for _, path := range []string{"/nope", "/v1/tasks/a/b/c"} {
		if r := s.do(http.MethodGet, path, "", nil); r.status != http.StatusNotFound || r.errorCode() != "not_found" {
			t.Fatalf("%s: %d %v", path, r.status, r.body)
		}
	}
	if r := s.status(strings.Repeat("z", 129)); r.status != http.StatusBadRequest {
		t.Fatalf("status of a bad task id: %d", r.status)
	}
	if r := s.do(http.MethodGet, fmt.Sprintf("/v1/tasks/%s/ws", strings.Repeat("z", 129)), "", nil); r.status != http.StatusBadRequest {
		t.Fatalf("ws with a bad task id: %d", r.status)
	}
}

func TestViewerRoutes(t *testing.T) {
	s := start(t, defaults())
	page := s.do(http.MethodGet, "/tasks/import-42", "", nil)
	if page.status != http.StatusOK || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(page.header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("page: %d %v", page.status, page.header)
	}
	if r := s.do(http.MethodGet, "/tasks/"+strings.Repeat("x", 129), "", nil); r.status != http.StatusBadRequest {
		t.Fatalf("page of a bad task id: %d", r.status)
	}
	js := s.do(http.MethodGet, "/static/tasktail.js", "", nil)
	if js.status != http.StatusOK || !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("tasktail.js: %d %q", js.status, js.header.Get("Content-Type"))
	}
	for _, path := range []string{"/static/", "/static/nope.js"} {
		if r := s.do(http.MethodGet, path, "", nil); r.status != http.StatusNotFound {
			t.Fatalf("%s: %d, want 404", path, r.status)
		}
	}
}
