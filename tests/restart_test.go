package tests

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/tasktail/tasktail/client"
)

// POST /v1/tasks/{id}/restart: a viewer stays connected through the restart, is told
// with an epoch gap and a new hello, and then gets the new run from seq 1; a finished task
// takes publishes again; an unknown task is 404.
func TestRestartKeepsViewersWithAnEpochGap(t *testing.T) {
	s := start(t, defaults())
	s.publishN("job", 1, 3)
	v := s.watch("job", "since=0")
	old := v.hello()
	v.logs(3)

	r := s.do(http.MethodPost, "/v1/tasks/job/restart", "", nil)
	epoch, _ := r.body["epoch"].(string)
	if r.status != http.StatusOK || r.body["task_id"] != "job" || epoch == "" || epoch == old.Epoch {
		t.Fatalf("restart: %d %v, want 200 with a new epoch (old %s)", r.status, r.body, old.Epoch)
	}
	if gap := v.next(); gap.Type != "gap" || gap.Reason != "epoch" || gap.FromSeq != 4 {
		t.Fatalf("after restart: %+v, want an epoch gap from 4", gap)
	}
	if h := v.next(); h.Type != "hello" || h.Epoch != epoch || h.LastSeq != 0 {
		t.Fatalf("after the gap: %+v, want hello of epoch %s", h, epoch)
	}
	if p := s.publish("job", "info", "second run", 5, false); p.num("seq") != 1 || p.body["queued"] != false {
		t.Fatalf("publish after restart: %v", p.body)
	}
	if l := v.logs(1); l[0].Seq != 1 || l[0].Message != "second run" {
		t.Fatalf("live after restart: %+v", l)
	}
	if st := s.status("job"); st.body["epoch"] != epoch || st.num("last_seq") != 1 || st.body["connected"] != true {
		t.Fatalf("status after restart: %v", st.body)
	}

	// A finished task takes publishes again, through the Go client.
	s.publish("done", "success", "finished", 100, true)
	if r := s.publishRaw("done", []byte(`{"level":"info","message":"late"}`)); r.status != http.StatusConflict {
		t.Fatalf("publish to a finished task: %d", r.status)
	}
	c, err := client.New(s.base, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Restart(context.Background(), "done"); err != nil {
		t.Fatalf("client restart: %v", err)
	}
	if p := s.publish("done", "info", "rerun", 0, false); p.num("seq") != 1 {
		t.Fatalf("publish after restarting a finished task: %v", p.body)
	}
	if st := s.status("done"); st.body["finished"] != false || st.body["progress"] != 0.0 {
		t.Fatalf("restarted task: %v", st.body)
	}

	if r := s.do(http.MethodPost, "/v1/tasks/nobody/restart", "", nil); r.status != http.StatusNotFound || r.errorCode() != "not_found" {
		t.Fatalf("restart of an unknown task: %d %v", r.status, r.body)
	}
	if _, err := c.Restart(context.Background(), "nobody"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("client restart of an unknown task: %v", err)
	}
	if st := s.status("nobody"); st.status != http.StatusNotFound {
		t.Fatalf("restart created a task: %d", st.status)
	}
}
