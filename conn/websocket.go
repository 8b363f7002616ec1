package conn

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/wire"
)

// WebSocket is a viewer's WebSocket connection as a BatchSocket: the connection under it
// is corked, so that a run of frames leaves in one write. A goroutine reads what the
// viewer sends (pings, its close) until the connection ends.
type WebSocket struct {
	c       *websocket.Conn
	cork    *corkConn
	ctx     context.Context
	reading <-chan struct{}
	batch   bool // the viewer chose wire.BatchSubprotocol: a run of frames is one message
}

// Control frames a viewer may send: a burst of controlBurst, then controlRate a second.
// A client's keepalive pings are far below it; past it the connection is closed with 1008,
// so that a flood of pings costs neither the server's CPU nor, with pongs the client
// does not read, its reads.
const (
	controlBurst = 20
	controlRate  = 2.0
	// floodLinger is how long a connection closed for a flood stays open, unread, after
	// its close frame and FIN, so that the peer can read them before the reset its unread
	// flood causes.
	floodLinger = 500 * time.Millisecond
)

// controlBudget is a token bucket over a connection's control frames. The library calls
// it on the connection's one reader goroutine.
type controlBudget struct {
	tokens float64
	last   time.Time
	over   bool // the budget ran out once: the connection is closing
}

// take reports whether one more control frame is within the budget; the first that is
// not calls over, and none is within it after that.
func (b *controlBudget) take(now time.Time, over func()) bool {
	b.tokens = min(controlBurst, b.tokens+now.Sub(b.last).Seconds()*controlRate)
	b.last = now
	if b.tokens >= 1 && !b.over {
		b.tokens--
		return true
	}
	if !b.over {
		b.over = true
		over()
	}
	return false
}

// Accept upgrades a viewer's request, choosing wire.BatchSubprotocol if the viewer offers it.
// Messages the viewer sends up to readLimit bytes are
// discarded (a client's own keepalive); a larger one closes the connection with 1009, and
// control frames past their budget with 1008.
// On an error Accept has answered the request (403 for a foreign Origin, unless opts skip
// that check). The returned socket's Context keeps parent's values and ends with the
// connection, not with the request: the handler may return at once.
func Accept(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions, readLimit int64) (*WebSocket, error) {
	cw := &corkingWriter{ResponseWriter: w}
	var o websocket.AcceptOptions
	if opts != nil {
		o = *opts
	}
	var c *websocket.Conn // set before the reader starts, the one caller of the budget
	budget := &controlBudget{tokens: controlBurst, last: time.Now()}
	// The close waits for the peer's answer, which only this connection's reader can read:
	// it runs beside the reader, which waits for it before it ends (End waits for both).
	// Past the budget the connection stops reading at once (a read deadline under the
	// library: the rest of a flood is never parsed; the kernel's window stops the sender),
	// tells the viewer 1008, ends its sending side, and is closed floodLinger later
	// without waiting for an answer it would have to read.
	var closing sync.WaitGroup
	closeOver := func() {
		_ = cw.conn.SetReadDeadline(time.Now())
		cw.conn.halfClose.Store(true)
		closing.Go(func() {
			_ = c.Close(websocket.StatusPolicyViolation, "too many control frames")
			time.Sleep(floodLinger) // the peer reads the close frame before the reset
			_ = cw.conn.Conn.Close()
		})
	}
	o.OnPingReceived = func(context.Context, []byte) bool { return budget.take(time.Now(), closeOver) }
	o.OnPongReceived = func(context.Context, []byte) { budget.take(time.Now(), closeOver) }
	o.Subprotocols = append(o.Subprotocols[:len(o.Subprotocols):len(o.Subprotocols)], wire.BatchSubprotocol)
	c, err := websocket.Accept(cw, r, &o)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(readLimit)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	reading := make(chan struct{})
	go func() {
		// The close in flight is written before the connection counts as ended (End cuts it).
		defer close(reading)
		defer cancel()
		defer closing.Wait()
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	return &WebSocket{c: c, cork: cw.conn, ctx: ctx, reading: reading, batch: c.Subprotocol() == wire.BatchSubprotocol}, nil
}

// Context ends when the peer has left.
func (s *WebSocket) Context() context.Context { return s.ctx }

func (s *WebSocket) Write(ctx context.Context, frame []byte) error {
	if s.batch {
		return s.c.Write(ctx, websocket.MessageText, wire.AppendBatch(make([]byte, 0, len(frame)+2), [][]byte{frame}))
	}
	return s.c.Write(ctx, websocket.MessageText, frame)
}

// WriteFrames writes a run of frames with one write: one message each, or for a viewer
// of batches one message for the run. While the cork is held the library only appends
// to memory, so its frame writes need no deadline of their own (and skip the timer one
// would cost); the flush carries the run's.
func (s *WebSocket) WriteFrames(deadline time.Time, frames [][]byte) (int, error) {
	messages := frames
	if s.batch {
		buf := corkBuffers.Get().(*[]byte)
		*buf = wire.AppendBatch((*buf)[:0], frames)
		defer putCorkBuffer(buf)
		messages = [][]byte{*buf}
	}
	s.cork.hold()
	for _, frame := range messages {
		if err := s.c.Write(context.Background(), websocket.MessageText, frame); err != nil {
			_ = s.cork.flush(deadline)
			return 0, err
		}
	}
	if err := s.cork.flush(deadline); err != nil {
		return 0, err
	}
	return len(frames), nil
}

// Close ends the connection with code, after the close handshake.
func (s *WebSocket) Close(code wire.CloseCode, reason string) error {
	err := s.c.Close(websocket.StatusCode(code), reason)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Abort cuts the connection at once: a write or a close handshake in flight fails.
func (s *WebSocket) Abort() { _ = s.cork.Conn.Close() }

// End releases the connection after its writer has ended; failed says a write failed,
// and then the viewer is told so with 1011 if it is still there. It waits for the reader.
func (s *WebSocket) End(failed bool) {
	if failed && s.ctx.Err() == nil {
		_ = s.c.Close(websocket.StatusInternalError, "internal error")
	}
	s.c.CloseNow()
	<-s.reading
}
