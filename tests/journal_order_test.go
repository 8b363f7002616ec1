package tests

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tasktail/tasktail/internal/pgtest"
	"github.com/tasktail/tasktail/journal/postgres"
)

// Through the binary on Pebble: DELETE of a task a viewer watches answers 204, closes the
// viewer with 1000, and the task stays deleted: 404, not listed, not after a restart, and
// the next publish is seq 1 of a new incarnation.
func TestDeleteOfAWatchedTaskOverHTTP(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	m := startDurable(t, "first", dir)
	m.publish("watched", "info", "one", 10, false)
	m.publish("watched", "info", "two", 20, false)
	epoch := m.status("watched").body["epoch"]
	v := m.watch("watched", "")
	v.hello()
	v.logs(2)
	if r := m.do(http.MethodDelete, "/v1/tasks/watched", "", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.status)
	}
	if code, _ := v.closed(); code != 1000 {
		t.Fatalf("viewer closed with %d, want 1000", code)
	}
	gone := func(m *member, when string) {
		t.Helper()
		if st := m.status("watched"); st.status != http.StatusNotFound {
			t.Fatalf("%s: status %d %v, want 404", when, st.status, st.body)
		}
		if r := m.do(http.MethodGet, "/v1/tasks?prefix=watched", "", nil); r.status != http.StatusOK || len(r.body["tasks"].([]any)) != 0 {
			t.Fatalf("%s: list %d %v, want no task", when, r.status, r.body)
		}
	}
	gone(m, "after the delete")
	m.cmd.Process.Signal(syscall.SIGTERM)
	m.exited <- <-m.exited
	m2 := startDurable(t, "second", dir)
	gone(m2, "after a restart")
	r := m2.publish("watched", "info", "again", 0, false)
	if r.num("seq") != 1 || m2.status("watched").body["epoch"] == epoch {
		t.Fatalf("publish after the delete: %v, want seq 1 in a new epoch", r.body)
	}
}

// Over HTTP on PostgreSQL: a restart is stored (it used to be fenced, a 500), and the same
// Idempotency-Key with another body answers 422 idempotency_key_reused.
func TestRestartAndKeysOnPostgresOverHTTP(t *testing.T) {
	j, err := postgres.Open(pgtest.ForTest(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaults()
	cfg.Journal = j
	s := start(t, cfg)
	s.publish("pgr", "info", "one", 0, false)
	v := s.watch("pgr", "")
	v.hello()
	v.logs(1)
	r := s.do(http.MethodPost, "/v1/tasks/pgr/restart", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("restart on PostgreSQL: %d %v", r.status, r.body)
	}
	if gap := v.next(); gap.Type != "gap" || gap.Reason != "epoch" {
		t.Fatalf("viewer after the restart: %+v, want an epoch gap", gap)
	}
	post := func(body string) response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/tasks/pgr/logs", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "k-1")
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		r := response{status: resp.StatusCode}
		json.NewDecoder(resp.Body).Decode(&r.body)
		return r
	}
	if first := post(`{"level":"info","message":"a"}`); first.status != http.StatusAccepted {
		t.Fatalf("first keyed publish: %d %v", first.status, first.body)
	}
	if other := post(`{"level":"info","message":"b"}`); other.status != http.StatusUnprocessableEntity || other.errorCode() != "idempotency_key_reused" {
		t.Fatalf("the same key with another body: %d %v, want 422 idempotency_key_reused", other.status, other.body)
	}
	if st := s.status("pgr"); st.num("last_seq") != 1 {
		t.Fatalf("last_seq %d after the restart and one stored publish, want 1", st.num("last_seq"))
	}
}
