package tests

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/actors"
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
	if r := s.do(http.MethodGet, "/v1/tasks/t3/ws", "", nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("viewer of a third task: %d, want 503 before the upgrade", r.status)
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
