package tests

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/server"
)

// Rule 1: queue before connect, flush in order on connect, queue cleared, status true.
func TestQueueFlushedOnConnect(t *testing.T) {
	s := start(t, defaults())
	for i := 1; i <= 3; i++ {
		r := s.publish("job-1", "info", fmt.Sprintf("m%d", i), float64(10*i), false)
		if r.body["queued"] != true || r.num("seq") != uint64(i) {
			t.Fatalf("publish %d: %v, want queued with seq %d", i, r.body, i)
		}
	}
	st := s.status("job-1")
	if st.status != http.StatusOK || st.num("queued") != 3 || st.body["connected"] != false || st.body["progress"] != 30.0 {
		t.Fatalf("status before connect: %d %v", st.status, st.body)
	}
	v := s.watch("job-1", "")
	if h := v.hello(); h.LastSeq != 3 || h.Epoch == "" {
		t.Fatalf("hello %+v", h)
	}
	for i, f := range v.logs(3) {
		if f.Message != fmt.Sprintf("m%d", i+1) {
			t.Fatalf("flushed %d: %+v", i, f)
		}
	}
	st = s.status("job-1")
	if st.num("queued") != 0 || st.body["connected"] != true || st.num("subscribers") != 1 {
		t.Fatalf("status after connect: %v", st.body)
	}
}

// Rule 2: the trim rule, and the gap frame a connecting client gets for it.
func TestTrimRuleAndGap(t *testing.T) {
	s := start(t, defaults())
	sent := 0
	for _, step := range []struct{ sent, queued uint64 }{{100, 100}, {101, 50}, {102, 51}, {120, 69}} {
		s.publishN("trim", sent+1, int(step.sent))
		sent = int(step.sent)
		if q := s.status("trim").num("queued"); q != step.queued {
			t.Fatalf("after %d messages queued = %d, want %d", step.sent, q, step.queued)
		}
	}
	v := s.watch("trim", "")
	v.hello()
	gap := v.next()
	if gap.Type != "gap" || gap.FromSeq != 1 || gap.ToSeq != 51 {
		t.Fatalf("after hello: %+v, want gap 1-51", gap)
	}
	logs := v.logs(69)
	if logs[0].Seq != 52 || logs[68].Seq != 120 || logs[0].Message != "m52" {
		t.Fatalf("kept %d..%d, want 52..120", logs[0].Seq, logs[68].Seq)
	}
}

// Rule 3: live delivery with queued:false; seq strictly increasing; RFC 3339 UTC times.
func TestLiveDelivery(t *testing.T) {
	s := start(t, defaults())
	v := s.watch("live", "")
	v.hello()
	for i := 1; i <= 20; i++ {
		if r := s.publish("live", "warning", fmt.Sprint(i), float64(i), false); r.body["queued"] != false {
			t.Fatalf("publish with a viewer: %v, want queued false", r.body)
		}
	}
	for _, f := range v.logs(20) { // ParseEvent has checked RFC 3339
		if f.Timestamp.Location() != time.UTC || time.Since(f.Timestamp) > time.Minute {
			t.Fatalf("timestamp %v: want now, in UTC (Z)", f.Timestamp)
		}
		if f.Level != "warning" || f.TaskID != "live" {
			t.Fatalf("frame %+v", f)
		}
	}
}

// Rule 4: two viewers both get everything; one whose socket fails is removed and the
// other keeps receiving.
func TestTwoViewersAndAFailedOne(t *testing.T) {
	s := start(t, defaults())
	a, b := s.watch("two", ""), s.watch("two", "")
	a.hello()
	b.hello()
	s.publishN("two", 1, 10)
	if la, lb := a.logs(10), b.logs(10); la[9].Seq != 10 || lb[9].Seq != 10 {
		t.Fatal("both viewers should have 1..10")
	}
	b.c.CloseNow() // the browser tab dies without a close handshake
	await(t, "dead viewer removed", func() bool { return s.status("two").num("subscribers") == 1 })
	s.publishN("two", 11, 20)
	if la := a.logs(10); la[0].Seq != 11 || la[9].Seq != 20 {
		t.Fatalf("surviving viewer got %d..%d", la[0].Seq, la[9].Seq)
	}
}

// Rule 5: since=0 and since=N replay, a gap past the history, and a stale epoch.
func TestResume(t *testing.T) {
	cfg := defaults()
	cfg.Actors = actors.Config{QueueLimit: 10, QueueKeep: 5, HistoryLimit: 20}
	s := start(t, cfg)
	s.publishN("res", 1, 30) // history holds 11..30
	epoch := s.status("res").body["epoch"].(string)

	t.Run("since=0 replays what history holds", func(t *testing.T) {
		v := s.watch("res", "since=0")
		v.hello()
		if g := v.next(); g.Type != "gap" || g.FromSeq != 1 || g.ToSeq != 10 || g.Reason != "history" {
			t.Fatalf("gap %+v, want 1-10 history", g)
		}
		if l := v.logs(20); l[0].Seq != 11 || l[19].Seq != 30 {
			t.Fatalf("replay %d..%d", l[0].Seq, l[19].Seq)
		}
	})
	t.Run("since=N replays after N", func(t *testing.T) {
		v := s.watch("res", "since=25&epoch="+epoch)
		if h := v.hello(); h.Epoch != epoch {
			t.Fatalf("hello epoch %s, want %s", h.Epoch, epoch)
		}
		if l := v.logs(5); l[0].Seq != 26 || l[4].Seq != 30 {
			t.Fatalf("replay %d..%d, want 26..30", l[0].Seq, l[4].Seq)
		}
		s.publish("res", "info", "m31", 0, false)
		if l := v.logs(1); l[0].Seq != 31 {
			t.Fatalf("live after replay: %d", l[0].Seq)
		}
	})
	t.Run("stale epoch gets the new epoch, a gap, and the incarnation from its start", func(t *testing.T) {
		v := s.watch("res", "since=12&epoch=previous")
		if h := v.hello(); h.Epoch != epoch {
			t.Fatalf("hello epoch %q, want current %q", h.Epoch, epoch)
		}
		if g := v.next(); g.Type != "gap" || g.Reason != "epoch" || g.FromSeq != 13 {
			t.Fatalf("first gap %+v, want epoch gap from 13", g)
		}
		if g := v.next(); g.Type != "gap" || g.Reason != "history" {
			t.Fatalf("second gap %+v, want history gap", g)
		}
		if l := v.logs(20); l[0].Seq != 12 {
			t.Fatalf("replay from %d, want 12 (history of the current epoch)", l[0].Seq)
		}
	})
	t.Run("bad since is refused before the upgrade", func(t *testing.T) {
		for _, q := range []string{"since=-1", "since=x", "epoch=" + epoch} {
			if r := s.do(http.MethodGet, "/v1/tasks/res/ws?"+q, "", nil); r.status != http.StatusBadRequest || r.errorCode() != "invalid_argument" {
				t.Fatalf("%s: %d %v", q, r.status, r.body)
			}
		}
	})
}

// Rule 6: DELETE closes viewers with 1000, status then 404, a later publish starts a new
// epoch at seq 1.
func TestDelete(t *testing.T) {
	s := start(t, defaults())
	s.publishN("del", 1, 3)
	old := s.status("del").body["epoch"]
	v := s.watch("del", "")
	v.hello()
	v.logs(3)
	if r := s.do(http.MethodDelete, "/v1/tasks/del", "", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.status)
	}
	if code, reason := v.closed(); code != websocket.StatusNormalClosure || reason != "task deleted" {
		t.Fatalf("close %d %q, want 1000 task deleted", code, reason)
	}
	if r := s.status("del"); r.status != http.StatusNotFound || r.errorCode() != "not_found" {
		t.Fatalf("status after delete: %d %v", r.status, r.body)
	}
	if r := s.do(http.MethodDelete, "/v1/tasks/del", "", nil); r.status != http.StatusNoContent {
		t.Fatalf("second delete: %d, want 204", r.status)
	}
	r := s.publish("del", "info", "again", 0, false)
	if r.num("seq") != 1 || s.status("del").body["epoch"] == old {
		t.Fatalf("publish after delete: %v, want seq 1 in a new epoch", r.body)
	}
}

// Rule 7: finished is delivered, then the socket closes with 1000; a later publish gets 409.
func TestFinished(t *testing.T) {
	s := start(t, defaults())
	v := s.watch("fin", "")
	v.hello()
	s.publish("fin", "info", "almost", 90, false)
	s.publish("fin", "success", "done", 100, true)
	if l := v.logs(2); !l[1].Finished || l[1].Progress != 100 || l[1].Level != "success" {
		t.Fatalf("final frame %+v", l[1])
	}
	if code, reason := v.closed(); code != websocket.StatusNormalClosure || reason != "task finished" {
		t.Fatalf("close %d %q, want 1000 task finished", code, reason)
	}
	r := s.publishRaw("fin", []byte(`{"level":"info","message":"late"}`))
	if r.status != http.StatusConflict || r.errorCode() != "task_finished" {
		t.Fatalf("publish after finished: %d %v", r.status, r.body)
	}
	if st := s.status("fin"); st.body["finished"] != true || st.num("last_seq") != 2 {
		t.Fatalf("status %v", st.body)
	}
}

// Rule 10: idle passivation and the finished TTL.
func TestIdleAndFinishedTTL(t *testing.T) {
	cfg := defaults()
	cfg.Actors = actors.Config{IdleTTL: 150 * time.Millisecond, FinishedTTL: 200 * time.Millisecond}
	s := start(t, cfg)
	s.publish("idle", "info", "x", 0, false)
	s.publish("done", "success", "x", 100, true)
	v := s.watch("watched", "")
	v.hello()
	s.publish("watched", "info", "x", 0, false)
	for _, id := range []string{"idle", "done"} {
		await(t, id+" passivated", func() bool { return s.status(id).status == http.StatusNotFound })
	}
	if st := s.status("watched"); st.status != http.StatusOK || st.body["connected"] != true {
		t.Fatalf("a watched task must stay: %d %v", st.status, st.body)
	}
}

// Rule 11: graceful shutdown closes a viewer with 1001 and readiness turns false.
func TestGracefulShutdown(t *testing.T) {
	s := start(t, defaults())
	if r := s.do(http.MethodGet, "/readyz", "", nil); r.status != http.StatusOK {
		t.Fatalf("readyz: %d", r.status)
	}
	v := s.watch("sd", "")
	v.hello()
	began := time.Now()
	if err := s.shutdown(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if code, reason := v.closed(); code != websocket.StatusGoingAway || reason != "server shutting down" {
		t.Fatalf("close %d %q, want 1001", code, reason)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Fatalf("shutdown took %v, want under 10s", d)
	}
}

func TestReadinessFalseWhileDraining(t *testing.T) {
	cfg := defaults()
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	rec := func(path string) int {
		w := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(w, mustRequest(t, path))
		return w.status
	}
	if got := rec("/readyz"); got != http.StatusOK {
		t.Fatalf("readyz before drain: %d", got)
	}
	ctx, cancel := contextWithCancel()
	cancel()
	ln := listen(t)
	if err := srv.Serve(ctx, ln); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if got := rec("/readyz"); got != http.StatusServiceUnavailable {
		t.Fatalf("readyz after drain: %d, want 503", got)
	}
	if got := rec("/healthz"); got != http.StatusOK {
		t.Fatalf("healthz: %d", got)
	}
}
