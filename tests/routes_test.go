package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// The route table checks who may call before what the request names: a request without a
// credential is refused as such (401, counted in tasktail_auth_failures_total) even when
// its task_id is not one, on every endpoint of a task.
func TestCredentialIsCheckedBeforeTheTaskID(t *testing.T) {
	s := secured(t)
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/v1/tasks/bad!id/logs"},
		{http.MethodGet, "/v1/tasks/bad!id"},
		{http.MethodDelete, "/v1/tasks/bad!id"},
		{http.MethodPost, "/v1/tasks/bad!id/restart"},
		{http.MethodGet, "/v1/tasks/bad!id/log"},
		{http.MethodGet, "/v1/tasks/bad!id/search?q=x"},
	} {
		if r := s.with("", c.method, c.path, `{"level":"info","message":"m"}`); r.status != http.StatusUnauthorized {
			t.Errorf("%s %s without a credential: %d %v, want 401", c.method, c.path, r.status, r.body)
		}
		if r := s.with(testKey, c.method, c.path, `{"level":"info","message":"m"}`); r.status != http.StatusBadRequest {
			t.Errorf("%s %s with a key: %d %v, want 400", c.method, c.path, r.status, r.body)
		}
	}
	if v := s.metricValue("tasktail_auth_failures_total"); v != "6" {
		t.Errorf("auth failures counted: %s, want 6", v)
	}
}

// A publish's latency runs from its arrival: a publish refused for its body (413) is
// observed as well as one accepted; a body of the wrong type (415) is no publish.
func TestPublishLatencyCountsRefusedBodies(t *testing.T) {
	cfg := defaults()
	cfg.MaxBodyBytes = 1 << 10
	s := start(t, cfg)
	s.publish("lat", "info", "m", 1, false)
	if r := s.publishRaw("lat", []byte(`{"level":"info","message":"`+strings.Repeat("x", 2<<10)+`"}`)); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body over the limit: %d", r.status)
	}
	if r := s.do(http.MethodPost, "/v1/tasks/lat/logs", "text/plain", []byte("x")); r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("a text body: %d", r.status)
	}
	if v := s.metricValue("tasktail_publish_duration_seconds_count"); v != "2" {
		t.Errorf("publishes observed: %s, want 2 (the accepted one and the 413)", v)
	}
}

// Only an absent progress keeps the task's: a present one outside 0–100 is refused, the
// value Go's API uses to mean "keep" (-MaxFloat64) included, in a single publish and in a
// batch.
func TestProgressOutOfRangeIsRefusedWhateverItsValue(t *testing.T) {
	s := start(t, defaults())
	s.publish("p", "info", "m", 40, false)
	for _, body := range []string{
		`{"level":"info","message":"b","progress":-1.7976931348623157e308}`,
		`[{"level":"info","message":"a"},{"level":"info","message":"b","progress":-1.7976931348623157e308}]`,
		`{"level":"info","message":"b","progress":101}`,
	} {
		if r := s.publishRaw("p", []byte(body)); r.status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(r.body["error"]), "progress") {
			t.Errorf("%s: %d %v, want 400 naming progress", body, r.status, r.body)
		}
	}
	if st := s.status("p"); st.body["progress"] != 40.0 {
		t.Errorf("progress after the refusals: %v, want 40", st.body["progress"])
	}
}
