package server

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/conn"
	"github.com/tasktail/tasktail/wire"
)

// originAllowed reports whether a request's Origin, if it has one, may open a viewer: the
// server's own host, or one of Config.AllowedOrigins (patterns as path.Match takes them).
// A pattern without a port allows the host on any port; one with a port, that port only.
// It is checked before the viewer attaches, so a refusal is an answer a page can read.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range s.cfg.AllowedOrigins {
		if originMatches(strings.ToLower(p), strings.ToLower(u.Host)) {
			return true
		}
	}
	return false
}

// originMatches reports whether an origin's host[:port] matches an --allowed-origins
// pattern, host or host:port. An IPv6 host is written in brackets, [::1] or [::1]:5173.
func originMatches(pattern, hostPort string) bool {
	host, port := splitHostPort(hostPort)
	pHost, pPort := splitHostPort(pattern)
	if pPort != "" && pPort != port {
		return false
	}
	ok, _ := path.Match(pHost, host)
	return ok
}

// splitHostPort splits host:port, [v6]:port, [v6] or host, without brackets in host.
func splitHostPort(s string) (host, port string) {
	if h, p, err := net.SplitHostPort(s); err == nil {
		return h, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), ""
}

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
			return from, &wire.InvalidError{Field: "since", Reason: "must be an integer from 0 to " + strconv.FormatUint(maxSince, 10)}
		}
		from.Replay, from.Since = true, n
	}
	if epoch := q.Get("epoch"); epoch != "" {
		if !from.Replay {
			return from, &wire.InvalidError{Field: "epoch", Reason: "needs since"}
		}
		if len(epoch) > 64 {
			return from, &wire.InvalidError{Field: "epoch", Reason: "longer than 64 characters"}
		}
		from.Epoch = epoch
	}
	return from, nil
}

func (s *Server) websocket(w http.ResponseWriter, r *http.Request, in *request) {
	taskID, expires := in.taskID, in.expires
	from, err := parseResume(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.ready.Load() {
		s.writeError(w, r, actors.ErrShuttingDown)
		return
	}
	if !s.originAllowed(r) {
		writeErrorCode(w, http.StatusForbidden, codeForbidden, "pages of "+r.Header.Get("Origin")+" may not open viewers of this server: list its host in --allowed-origins (a host without a port allows every port)")
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		// Every check passed; nothing attaches to a request that does not upgrade.
		writeErrorCode(w, http.StatusUpgradeRequired, codeUpgrade, "this is a viewer WebSocket: connect with a WebSocket client")
		return
	}
	// Subscribe first, so that a refusal is still an HTTP answer.
	attachment, err := s.Manager().Attach(r.Context(), taskID, from)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// originAllowed above is the one origin check (the library's would repeat it).
	ws, err := conn.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true}, s.cfg.WebSocketReadLimit)
	if err != nil {
		attachment.Cancel()
		return // Accept has answered the request (a malformed handshake)
	}
	// The handler returns now: net/http's connection goroutine, its 4 KiB buffers and the
	// request go with it. An idle viewer keeps one goroutine, its reader; a writer runs
	// only while frames wait.
	var expiry *time.Timer
	if !expires.IsZero() {
		// The token is checked again when it expires: the connection ends with 1008.
		expiry = time.AfterFunc(time.Until(expires), func() {
			attachment.Close(wire.ClosePolicy, "token expired")
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
