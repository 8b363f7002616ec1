package server

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/wire"
)

// downloadLog serves GET /v1/tasks/{task_id}/log: the whole retained log of a task, as
// text lines "timestamp level message" or, with ?format=ndjson, as the WebSocket's log
// frames, one per line; with Content-Disposition for a download. It is authorized like
// viewing. A download that cannot finish (the journal fails, the task restarts under it,
// the server drains) is aborted, never ended cleanly: the client sees a broken transfer.
func (s *Server) downloadLog(w http.ResponseWriter, r *http.Request, in *request) {
	taskID := in.taskID
	if q := r.URL.Query(); q.Has("from_seq") || q.Has("limit") {
		s.logPage(w, r, taskID) // a page of the log, for the viewer (logpage.go)
		return
	}
	format := r.URL.Query().Get("format")
	contentType, ext := "text/plain; charset=utf-8", ".log"
	switch format {
	case "", "text":
	case "ndjson":
		contentType, ext = mediaNDJSON, ".ndjson"
	default:
		s.writeError(w, r, wire.Invalid("format", "must be text or ndjson"))
		return
	}
	release, ok := s.downloads.take(credential(r))
	if !ok {
		s.logger.Warn("refused: too many log downloads", slog.String("task_id", taskID), slog.String("remote", r.RemoteAddr))
		writeErrorCode(w, http.StatusServiceUnavailable, codeUnavailable, errTooManyDownloads.Error()+" (--max-downloads, --max-downloads-per-credential); retry")
		return
	}
	defer release()
	dw := newDeadlineWriter(w, s.cfg.Actors.WriteTimeout)
	stop := context.AfterFunc(s.drainCtx, dw.stop)
	defer stop()
	var out *bufio.Writer
	var line []byte
	err := s.Manager().Log(r.Context(), taskID, func(l actors.LogLine) error {
		if out == nil {
			startDownload(w, contentType, taskID+ext)
			out = bufio.NewWriterSize(dw, 32<<10)
		}
		if format == "ndjson" {
			out.Write(l.Frame())
			return out.WriteByte('\n')
		}
		var err error
		if line, err = l.AppendText(line[:0]); err != nil {
			return err
		}
		_, err = out.Write(line)
		return err
	})
	if err == nil && out != nil {
		err = out.Flush()
	}
	switch {
	case err != nil && out == nil:
		s.writeError(w, r, err)
	case err != nil:
		// The answer has begun: abort it, so that the client sees an error (curl exits
		// non-zero), not a clean end of a shorter log.
		if r.Context().Err() == nil {
			s.logger.Warn("log download aborted", slog.String("task_id", taskID), slog.String("remote", r.RemoteAddr), slog.Any("error", err))
		}
		panic(http.ErrAbortHandler)
	case out == nil:
		startDownload(w, contentType, taskID+ext) // a task with nothing published yet
	}
}

func startDownload(w http.ResponseWriter, contentType, filename string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`) // a task_id needs no quoting
	// Its writes leave a deadline on the connection that a next request on it would meet.
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusOK)
}
