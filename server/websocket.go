package server

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/conn"
)

// maxSince is the largest since accepted: the largest integer a JavaScript number holds
// exactly, far beyond any seq a task reaches.
const maxSince = 1<<53 - 1

// parseResume reads since and epoch from the query; epoch needs since.
func parseResume(r *http.Request) (actors.Resume, error) {
	q := r.URL.Query()
	var from actors.Resume
	if v := q.Get("since"); v != "" || q.Has("since") {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > maxSince {
			return from, &actors.InvalidError{Field: "since", Reason: "must be an integer from 0 to " + strconv.FormatUint(maxSince, 10)}
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
	ws, err := conn.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins}, s.cfg.WebSocketReadLimit)
	if err != nil {
		attachment.Cancel()
		return // Accept has answered the request (403 for a foreign Origin)
	}
	// The handler returns now: net/http's connection goroutine, its 4 KiB buffers and the
	// request go with it. An idle viewer keeps one goroutine, its reader; a writer runs
	// only while frames wait.
	var expiry *time.Timer
	if !expires.IsZero() {
		// The token is checked again when it expires: the connection ends with 1008.
		expiry = time.AfterFunc(time.Until(expires), func() {
			attachment.Close(conn.ClosePolicy, "token expired")
		})
	}
	remote := r.RemoteAddr
	_ = attachment.Start(ws.Context(), ws, func(err error) {
		if expiry != nil {
			expiry.Stop()
		}
		if err != nil && ws.Context().Err() == nil {
			s.logger.Info("viewer connection ended", slog.String("task_id", taskID), slog.String("remote", remote), slog.Any("error", err))
		}
		ws.End(err != nil)
	})
}
