package conn

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/wire"
)

// A viewer that offers wire.BatchSubprotocol gets a run of frames as one JSON array; one that
// does not gets a message per frame, as before.
func TestWebSocketBatchesARunForViewersThatAsk(t *testing.T) {
	frames := [][]byte{[]byte(`{"type":"hello","task_id":"t"}`), []byte(`{"type":"log","seq":1}`), []byte(`{"type":"log","seq":2}`)}
	accepted := make(chan *WebSocket, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := Accept(w, r, nil, 1024)
		if err != nil {
			t.Error(err)
			return
		}
		accepted <- ws
	}))
	defer srv.Close()
	for _, tc := range []struct {
		offer []string
		want  []string
	}{
		{nil, []string{string(frames[0]), string(frames[1]), string(frames[2])}},
		{[]string{"other", wire.BatchSubprotocol}, []string{"[" + string(frames[0]) + "," + string(frames[1]) + "," + string(frames[2]) + "]", `[{"type":"log","seq":3}]`}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: tc.offer})
		if err != nil {
			t.Fatal(err)
		}
		ws := <-accepted
		if n, err := ws.WriteFrames(time.Now().Add(time.Second), frames); err != nil || n != len(frames) {
			t.Fatalf("WriteFrames: %d, %v", n, err)
		}
		if len(tc.offer) > 0 {
			if c.Subprotocol() != wire.BatchSubprotocol {
				t.Fatalf("offered %q, the server chose %q", tc.offer, c.Subprotocol())
			}
			if err := ws.Write(ctx, []byte(`{"type":"log","seq":3}`)); err != nil {
				t.Fatal(err)
			}
			// Runs one after another, each larger than the last (buffers are reused).
			for run := 1; run <= 3; run++ {
				long := make([][]byte, 64)
				for i := range long {
					long[i] = []byte(fmt.Sprintf(`{"type":"log","seq":%d,"message":"%s"}`, 100*run+i, strings.Repeat("x", 50*run)))
				}
				if n, err := ws.WriteFrames(time.Now().Add(time.Second), long); err != nil || n != len(long) {
					t.Fatalf("WriteFrames: %d, %v", n, err)
				}
				tc.want = append(tc.want, "["+string(bytes.Join(long, []byte(",")))+"]")
			}
		}
		for _, want := range tc.want {
			_, got, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Fatalf("offered %q: message %s, want %s", tc.offer, got, want)
			}
		}
		c.CloseNow()
		ws.End(false)
		cancel()
	}
}
