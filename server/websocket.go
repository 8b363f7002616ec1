package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/actors"
)

// wsSocket adapts a WebSocket connection to actors.BatchSocket.
type wsSocket struct {
	c    *websocket.Conn
	cork *corkConn
}

func (s wsSocket) Write(ctx context.Context, frame []byte) error {
	return s.c.Write(ctx, websocket.MessageText, frame)
}

// WriteFrames writes a run of frames with one write. While the cork is held the library
// only appends to memory, so its frame writes need no deadline of their own (and skip
// the timer one would cost); the flush carries the run's.
func (s wsSocket) WriteFrames(deadline time.Time, frames [][]byte) (int, error) {
	s.cork.hold()
	for _, frame := range frames {
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

func (s wsSocket) Close(code actors.CloseCode, reason string) error {
	err := s.c.Close(websocket.StatusCode(code), reason)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// parseResume reads since and epoch from the query; epoch needs since.
func parseResume(r *http.Request) (actors.Resume, error) {
	q := r.URL.Query()
	var from actors.Resume
	if v := q.Get("since"); v != "" || q.Has("since") {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return from, &actors.InvalidError{Field: "since", Reason: "must be a non-negative integer"}
		}
		from.Replay, from.Since = true, n
	}
	if epoch := q.Get("epoch"); epoch != "" {
		if !from.Replay {
			return from, &actors.InvalidError{Field: "epoch", Reason: "needs since"}
		}
		if len(epoch) > 64 {
			return from, &actors.InvalidError{Field: "epoch", Reason: "longer than 64 characters"}
		}
		from.Epoch = epoch
	}
	return from, nil
}

func (s *Server) websocket(w http.ResponseWriter, r *http.Request) {
	taskID := r.PathValue("task_id")
	if err := s.cfg.Actors.ValidateTaskID(taskID); err != nil {
		s.writeError(w, r, err)
		return
	}
	expires, err := s.authorizeView(r, taskID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	from, err := parseResume(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.ready.Load() {
		s.writeError(w, r, actors.ErrShuttingDown)
		return
	}
	// Subscribe first, so that a refusal is still an HTTP answer.
	attachment, err := s.mgr.Attach(r.Context(), taskID, from)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cw := &corkingWriter{ResponseWriter: w}
	c, err := websocket.Accept(cw, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins})
	if err != nil {
		attachment.Cancel()
		return // Accept has answered the request (403 for a foreign Origin)
	}
	// The handler returns now: net/http's connection goroutine, its 4 KiB buffers and the
	// request go with it. An idle viewer keeps one goroutine, its reader; a writer runs
	// only while frames wait. The request's context ends with the handler; its values stay.
	ctx, reading := readViewer(context.WithoutCancel(r.Context()), c, s.cfg.WebSocketReadLimit)
	var expiry *time.Timer
	if !expires.IsZero() {
		// The token is checked again when it expires: the connection ends with 1008.
		expiry = time.AfterFunc(time.Until(expires), func() {
			attachment.Close(actors.ClosePolicy, "token expired")
		})
	}
	remote := r.RemoteAddr
	_ = attachment.Start(ctx, wsSocket{c: c, cork: cw.conn}, func(err error) {
		if expiry != nil {
			expiry.Stop()
		}
		if err != nil && ctx.Err() == nil {
			s.logger.Info("viewer connection ended", slog.String("task_id", taskID), slog.String("remote", remote), slog.Any("error", err))
			_ = c.Close(websocket.StatusInternalError, "internal error")
		}
		c.CloseNow()
		<-reading
	})
}

// readViewer reads what a viewer sends, so that pings are answered and its close is seen:
// messages up to limit are discarded (a client's own keepalive), a larger one closes the
// connection with 1009. The returned context ends with the connection; reading is closed
// when the reader has returned.
func readViewer(parent context.Context, c *websocket.Conn, limit int64) (context.Context, <-chan struct{}) {
	c.SetReadLimit(limit)
	ctx, cancel := context.WithCancel(parent)
	reading := make(chan struct{})
	go func() {
		defer close(reading)
		defer cancel()
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	return ctx, reading
}
