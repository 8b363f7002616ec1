package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/client"
	"github.com/tasktail/tasktail/wire"
)

func newAPIClient(t *testing.T, s *service) *client.Client {
	t.Helper()
	c, err := client.New(s.base, &client.Options{HTTPClient: s.client, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientPublishStatusDelete(t *testing.T) {
	s := start(t, defaults())
	c := newAPIClient(t, s)
	ctx := context.Background()
	ack, err := c.Publish(ctx, "cj", client.Log{Level: client.Info, Message: "one", Progress: 10})
	if err != nil || ack.Seq != 1 || !ack.Queued || ack.TaskID != "cj" {
		t.Fatalf("publish: %+v %v", ack, err)
	}
	batch, err := c.PublishBatch(ctx, "cj", []client.Log{{Level: client.Debug, Message: "two"}, {Level: client.Warning, Message: "three", Progress: 30}})
	if err != nil || batch.FirstSeq != 2 || batch.LastSeq != 3 {
		t.Fatalf("batch: %+v %v", batch, err)
	}
	st, err := c.Status(ctx, "cj")
	if err != nil || st.LastSeq != 3 || st.Queued != 3 || st.Progress != 30 || st.Epoch == "" {
		t.Fatalf("status: %+v %v", st, err)
	}
	if err := c.Delete(ctx, "cj"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(ctx, "cj"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("status after delete: %v, want ErrNotFound", err)
	}
}

func TestClientTypedErrors(t *testing.T) {
	cfg := defaults()
	cfg.Actors = actors.Config{MaxMessageBytes: 8}
	s := start(t, cfg)
	c := newAPIClient(t, s)
	ctx := context.Background()
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"bad level", pub(c, "e", client.Log{Level: "loud", Message: "x"}), client.ErrInvalidArgument},
		{"bad task id", pub(c, "a b", client.Log{Level: client.Info, Message: "x"}), client.ErrInvalidArgument},
		{"too large", pub(c, "e", client.Log{Level: client.Info, Message: "123456789"}), client.ErrTooLarge},
		{"empty batch", func() error { _, err := c.PublishBatch(ctx, "e", nil); return err }(), client.ErrInvalidArgument},
	}
	for _, tc := range cases {
		var apiErr *client.APIError
		if !errors.Is(tc.err, tc.want) || !errors.As(tc.err, &apiErr) || apiErr.Message == "" {
			t.Errorf("%s: %v, want %v with a message", tc.name, tc.err, tc.want)
		}
	}
	if err := pub(c, "f", client.Log{Level: client.Success, Message: "end", Finished: true}); err != nil {
		t.Fatal(err)
	}
	err := pub(c, "f", client.Log{Level: client.Info, Message: "late"})
	if !errors.Is(err, client.ErrTaskFinished) || errors.Is(err, client.ErrNotFound) {
		t.Fatalf("publish after finished: %v", err)
	}
	if _, err := c.Tail(ctx, "a b", 0); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("tail of a bad task id: %v", err)
	}
}

func pub(c *client.Client, taskID string, l client.Log) error {
	_, err := c.Publish(context.Background(), taskID, l)
	return err
}

// collect reads events until n log events arrived, checking there is no duplicate and no
// gap in seq.
func collect(t *testing.T, st *client.Stream, logs *[]client.Event, n int) {
	t.Helper()
	for len(*logs) < n {
		ev, err := st.Next()
		if err != nil {
			t.Fatalf("after %d logs: %v", len(*logs), err)
		}
		switch ev.Type {
		case "gap":
			t.Fatalf("unexpected gap %+v", ev)
		case "log":
			if want := uint64(len(*logs) + 1); ev.Seq != want {
				t.Fatalf("seq %d, want %d (lost or duplicated)", ev.Seq, want)
			}
			*logs = append(*logs, ev)
		}
	}
}

// The stream resumes after the server closes it with 1001 or 1013, without losing or
// repeating a message, and ends with io.EOF when the task finishes.
func TestClientTailResumesAfterServerCloses(t *testing.T) {
	s := start(t, defaults())
	c := newAPIClient(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := c.Tail(ctx, "tail", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs []client.Event
	s.publishN("tail", 1, 5)
	collect(t, st, &logs, 5)

	for i, code := range []wire.CloseCode{wire.CloseGoingAway, wire.CloseTryAgainLater} {
		s.srv.Manager().CloseViewers(code, "test")
		await(t, "viewer gone", func() bool { return s.status("tail").body["connected"] == false })
		from := 6 + 10*i
		s.publishN("tail", from, from+4) // published while nobody watches
		collect(t, st, &logs, from+4)
		s.publishN("tail", from+5, from+9) // live again
		collect(t, st, &logs, from+9)
	}
	if st.Reconnects() != 2 {
		t.Fatalf("reconnects = %d, want 2", st.Reconnects())
	}
	s.publish("tail", "success", "done", 100, true)
	collect(t, st, &logs, 26)
	if !logs[25].Finished {
		t.Fatalf("last event %+v, want finished", logs[25])
	}
	if _, err := st.Next(); err != io.EOF || st.EndReason() != "task finished" {
		t.Fatalf("after finished: %v %q, want EOF task finished", err, st.EndReason())
	}
}

// A connection dropped under the stream (no close frame at all) is resumed the same way.
func TestClientTailResumesAfterDroppedConnection(t *testing.T) {
	s := start(t, defaults())
	proxy := newCutProxy(t, strings.TrimPrefix(s.base, "http://"))
	c, err := client.New("http://"+proxy.addr(), &client.Options{HTTPClient: s.client, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := c.Tail(ctx, "drop", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs []client.Event
	s.publishN("drop", 1, 3)
	collect(t, st, &logs, 3)
	proxy.cut()
	await(t, "server noticed the drop", func() bool { return s.status("drop").body["connected"] == false })
	s.publishN("drop", 4, 6)
	collect(t, st, &logs, 6)
	if st.Reconnects() != 1 {
		t.Fatalf("reconnects = %d, want 1", st.Reconnects())
	}
}

func TestClientTailEndsOnDelete(t *testing.T) {
	s := start(t, defaults())
	c := newAPIClient(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := c.Tail(ctx, "gone", 0)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := st.Next(); err != nil || ev.Type != "hello" {
		t.Fatalf("first event %+v %v", ev, err)
	}
	if err := c.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Next(); err != io.EOF || st.EndReason() != "task deleted" {
		t.Fatalf("after delete: %v %q", err, st.EndReason())
	}
}

// After a restart of the server the task is a new incarnation: the stream says so with
// a gap instead of handing out numbers as if they continued.
func TestClientTailReportsNewEpochAsGap(t *testing.T) {
	s := start(t, defaults())
	c := newAPIClient(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := c.Tail(ctx, "ep", 0)
	if err != nil {
		t.Fatal(err)
	}
	var logs []client.Event
	s.publishN("ep", 1, 3)
	collect(t, st, &logs, 3)
	// Delete and recreate while the viewer is away: same task_id, new incarnation.
	s.srv.Manager().CloseViewers(wire.CloseGoingAway, "test")
	await(t, "viewer gone", func() bool { return s.status("ep").body["connected"] == false })
	if r := s.do("DELETE", "/v1/tasks/ep", "", nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	s.publish("ep", "info", "new life", 0, false)
	var sawGap bool
	for {
		ev, err := st.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == "gap" && ev.Reason == "epoch" && ev.FromSeq == 4 {
			sawGap = true
		}
		if ev.Type == "log" {
			if !sawGap || ev.Seq != 1 || ev.Message != "new life" {
				t.Fatalf("log %+v (gap seen: %v), want seq 1 of the new epoch after an epoch gap", ev, sawGap)
			}
			return
		}
	}
}

func TestClientRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://x", "http://"} {
		if _, err := client.New(u, nil); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

// A first connection resuming from a since the task never reached (a client that
// remembers a position from an earlier incarnation, without its epoch) gets the epoch gap
// and then the current incarnation from seq 1, none of it dropped as already seen.
func TestClientTailFromAPositionThisIncarnationNeverReached(t *testing.T) {
	s := start(t, defaults())
	c := newAPIClient(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s.publishN("fresh", 1, 3)
	st, err := c.Tail(ctx, "fresh", 50)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var gap bool
	var seqs []uint64
	for len(seqs) < 3 {
		ev, err := st.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Type {
		case "gap":
			gap = gap || (ev.Reason == "epoch" && ev.FromSeq == 51)
		case "log":
			seqs = append(seqs, ev.Seq)
		}
	}
	if !gap || fmt.Sprint(seqs) != "[1 2 3]" {
		t.Fatalf("epoch gap %v, logs %v; want the gap, then 1 2 3", gap, seqs)
	}
}

// A viewer that offers the batch subprotocol gets a burst as JSON arrays of frames; the
// Go client offers it and hands out every frame once, in order, each as its own event.
func TestClientTailReadsBatches(t *testing.T) {
	s := start(t, defaults())
	s.publish("burst", "info", "first", 0, false)
	entries := make([]string, 400)
	for i := range entries {
		entries[i] = fmt.Sprintf(`{"level":"info","message":"line %d"}`, i+2)
	}
	if r := s.publishRaw("burst", []byte("["+strings.Join(entries, ",")+"]")); r.status != 202 {
		t.Fatalf("publish: %d", r.status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.base, "http")+"/v1/tasks/burst/ws?since=0",
		&websocket.DialOptions{Subprotocols: []string{wire.BatchSubprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	if ws.Subprotocol() != wire.BatchSubprotocol {
		t.Fatalf("subprotocol %q, want %q", ws.Subprotocol(), wire.BatchSubprotocol)
	}
	var seqs []uint64
	messages := 0
	for len(seqs) < 401 {
		_, raw, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		messages++
		var frames []struct {
			Type string `json:"type"`
			Seq  uint64 `json:"seq"`
		}
		if err := json.Unmarshal(raw, &frames); err != nil {
			t.Fatalf("message %d is not an array of frames: %v: %.80s", messages, err, raw)
		}
		for _, f := range frames {
			if f.Type == "log" {
				seqs = append(seqs, f.Seq)
			}
		}
	}
	if messages >= 401/2 {
		t.Fatalf("401 frames came in %d messages: not batched", messages)
	}

	st, err := newAPIClient(t, s).Tail(ctx, "burst", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs []client.Event
	collect(t, st, &logs, 401)
	for i, ev := range logs {
		if ev.Seq != uint64(i+1) || seqs[i] != ev.Seq || ev.Raw[0] != '{' {
			t.Fatalf("event %d: seq %d (raw %.40s), frames said %d, want %d", i, ev.Seq, ev.Raw, seqs[i], i+1)
		}
	}
}
