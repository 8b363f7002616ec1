package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The published data is what the viewer parses: the producer, its sequence and the send time.
func TestCentrifugoRequestCarriesProducerAndSequence(t *testing.T) {
	type publish struct {
		Channel string `json:"channel"`
		Data    struct {
			Type     string `json:"type"`
			Producer int    `json:"producer"`
			Seq      int    `json:"seq"`
			Message  string `json:"message"`
		} `json:"data"`
	}
	c := benchConfig{batch: 1, size: 100}
	method, body := c.centrifugoRequest(nil, `task "1"`, 7, 4, 1, strings.Repeat("x", 100))
	var one publish
	if err := json.Unmarshal(body, &one); err != nil || method != "publish" {
		t.Fatalf("%s %s: %v", method, body, err)
	}
	if one.Channel != `task "1"` || one.Data.Type != "log" || one.Data.Producer != 7 || one.Data.Seq != 5 || !strings.HasPrefix(one.Data.Message, "t=") {
		t.Fatalf("publish %+v", one)
	}
	c.batch = 3
	method, body = c.centrifugoRequest(nil, "task-2", 1, 6, 3, strings.Repeat("x", 100))
	var batch struct{ Commands []struct{ Publish publish } }
	if err := json.Unmarshal(body, &batch); err != nil || method != "batch" || len(batch.Commands) != 3 {
		t.Fatalf("%s %s: %v", method, body, err)
	}
	for k, cmd := range batch.Commands {
		if cmd.Publish.Channel != "task-2" || cmd.Publish.Data.Seq != 7+k {
			t.Fatalf("command %d: %+v", k, cmd)
		}
	}
}

// Centrifugo puts several pushes in one frame, a line each, and pings with {}; order is
// per producer.
func TestViewerReadsMergedFramesPerProducer(t *testing.T) {
	ponged := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		push := func(producer, seq string) string {
			return `{"push":{"channel":"a","pub":{"data":{"type":"log","producer":` + producer + `,"seq":` + seq + `,"message":"t=1 x"},"offset":1}}}`
		}
		conn.Write(r.Context(), websocket.MessageText, []byte("{}"))
		_, pong, _ := conn.Read(r.Context())
		ponged <- string(pong)
		conn.Write(r.Context(), websocket.MessageText, []byte(push("0", "1")+"\n"+push("1", "1")+"\n"+push("0", "2")))
		conn.Write(r.Context(), websocket.MessageText, []byte(push("1", "1")))
		conn.Read(r.Context()) // until the viewer leaves
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, wsURL(srv.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	v := &benchViewer{conn: conn, expected: 4, last: make([]uint64, 2)}
	v.read(ctx)
	if v.received.Load() != 4 || v.reordered != 1 || len(v.latencies) != 4 {
		t.Fatalf("received %d, reordered %d, %d latencies; want 4, 1, 4", v.received.Load(), v.reordered, len(v.latencies))
	}
	if pong := <-ponged; pong != "{}" {
		t.Fatalf("pong %q", pong)
	}
}
