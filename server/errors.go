package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/wire"
)

// Error codes of the API's error bodies.
const (
	codeInvalid        = "invalid_argument"
	codeUnauth         = "unauthenticated"
	codeForbidden      = "permission_denied"
	codeTooLarge       = "too_large"
	codeNotFound       = "not_found"
	codeFinished       = "task_finished"
	codeMediaType      = "unsupported_media_type"
	codeRateLimited    = "rate_limited"
	codeUnavailable    = "unavailable"
	codeJournal        = "journal_unavailable"
	codeOutcomeUnknown = "outcome_unknown"
	codeKeyReused      = "idempotency_key_reused"
	codeInternal       = "internal"
	codeMisdirected    = "misdirected_host"
	codeTimeout        = "request_timeout"
	codeUpgrade        = "upgrade_required"
)

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"encode response"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // a failed write means the client left
}

func writeErrorCode(w http.ResponseWriter, status int, code, message string) {
	writeErrorExtra(w, status, code, message, nil)
}

// writeErrorExtra writes an error body; extra, when set, appends more members after
// "error": it gets the body so far and appends `"name":value,…` (no leading comma).
func writeErrorExtra(w http.ResponseWriter, status int, code, message string, extra func([]byte) []byte) {
	var body errorBody
	body.Error.Code, body.Error.Message = code, message
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if extra == nil {
		writeJSON(w, status, body)
		return
	}
	b, _ := json.Marshal(body) // a struct of two strings always encodes
	b = extra(append(b[:len(b)-1], ','))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, "}\n"...))
}

// writeError answers err with its status and code. Errors that are the service's fault
// are logged; bad input and a client that left are not.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeErrorWith(w, r, nil, err)
}

// writeErrorWith is writeError with more members in the body (see writeErrorExtra).
func (s *Server) writeErrorWith(w http.ResponseWriter, r *http.Request, extra func([]byte) []byte, err error) {
	answer := func(w http.ResponseWriter, status int, code, message string) {
		writeErrorExtra(w, status, code, message, extra)
	}
	var inv *wire.InvalidError
	var auth *authError
	var limited *rateLimitError
	var media mediaTypeError
	switch {
	case errors.As(err, &media):
		answer(w, http.StatusUnsupportedMediaType, codeMediaType, media.message)
	case errors.As(err, &limited):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(limited.retryAfter.Seconds()))))
		answer(w, http.StatusTooManyRequests, codeRateLimited, limited.Error())
	case errors.As(err, &auth) && errors.Is(err, errForbidden):
		s.logger.Info("refused: forbidden", slog.String("task_id", r.PathValue("task_id")), slog.String("remote", r.RemoteAddr))
		answer(w, http.StatusForbidden, codeForbidden, auth.message)
	case errors.As(err, &auth):
		s.logger.Info("refused: unauthenticated", slog.String("task_id", r.PathValue("task_id")), slog.String("remote", r.RemoteAddr))
		w.Header().Set("WWW-Authenticate", `Bearer realm="tasktail"`)
		answer(w, http.StatusUnauthorized, codeUnauth, auth.message)
	case errors.As(err, &inv) && errors.Is(err, wire.ErrTooLarge):
		answer(w, http.StatusRequestEntityTooLarge, codeTooLarge, inv.Error())
	case errors.As(err, &inv):
		answer(w, http.StatusBadRequest, codeInvalid, inv.Error())
	case errors.Is(err, actors.ErrNotFound):
		answer(w, http.StatusNotFound, codeNotFound, "task not found")
	case errors.Is(err, actors.ErrTaskFinished):
		answer(w, http.StatusConflict, codeFinished, "task has finished; publishing is closed")
	case errors.Is(err, actors.ErrShuttingDown):
		answer(w, http.StatusServiceUnavailable, codeUnavailable, "server is shutting down")
	case errors.Is(err, actors.ErrTooManyTasks):
		s.logger.Warn("refused: too many live tasks", slog.String("task_id", r.PathValue("task_id")), slog.String("remote", r.RemoteAddr))
		answer(w, http.StatusServiceUnavailable, codeUnavailable, "this server has its maximum of live tasks; try again later")
	case errors.Is(err, actors.ErrIdempotencyKeyReused):
		answer(w, http.StatusUnprocessableEntity, codeKeyReused, "this Idempotency-Key was used before for a different body; nothing was stored: use a new key for a new publish")
	case errors.Is(err, actors.ErrOutcomeUnknown):
		s.logger.Warn("refused: the journal's answer was lost", slog.String("task_id", r.PathValue("task_id")), slog.String("remote", r.RemoteAddr))
		answer(w, http.StatusServiceUnavailable, codeOutcomeUnknown, "the journal's answer was lost: it may or may not be stored; retry with the same Idempotency-Key")
	case errors.Is(err, actors.ErrJournalUnavailable):
		s.logger.Warn("refused: the journal cannot store", slog.String("task_id", r.PathValue("task_id")), slog.String("remote", r.RemoteAddr))
		answer(w, http.StatusServiceUnavailable, codeJournal, "the journal cannot store right now; nothing was stored, try again")
	case errors.Is(err, actors.ErrTooManyWaiting):
		s.logger.Warn("refused: too many tasks with viewers waiting", slog.String("task_id", r.PathValue("task_id")), slog.String("remote", r.RemoteAddr))
		answer(w, http.StatusServiceUnavailable, codeUnavailable, "this server holds its maximum of viewers waiting for tasks nobody has published to; try again later")
	case errors.Is(err, errBodyBudget):
		s.logger.Warn("refused: request bodies at --max-body-memory", slog.String("task_id", r.PathValue("task_id")), slog.String("remote", r.RemoteAddr))
		answer(w, http.StatusServiceUnavailable, codeUnavailable, errBodyBudget.Error()+"; retry")
	case errors.Is(err, errBodyTimeout):
		w.Header().Set("Connection", "close")
		answer(w, http.StatusRequestTimeout, codeTimeout, "the request body did not arrive within "+s.cfg.BodyTimeout.String()+" (--body-timeout)")
	case errors.Is(err, actors.ErrTooManyViewers):
		answer(w, http.StatusServiceUnavailable, codeUnavailable, "this task has its maximum of viewers; try again later")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client left; nobody reads an answer.
	case errors.Is(err, actors.ErrTimeout):
		s.logger.Warn("task did not answer in time", slog.String("task_id", r.PathValue("task_id")), slog.String("remote", r.RemoteAddr))
		answer(w, http.StatusServiceUnavailable, codeUnavailable, "task did not answer in time")
	default:
		s.logger.Error("request failed", slog.String("task_id", r.PathValue("task_id")), slog.String("remote", r.RemoteAddr), slog.Any("error", err))
		answer(w, http.StatusInternalServerError, codeInternal, "internal error")
	}
}
