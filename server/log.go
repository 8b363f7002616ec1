package server

import (
	"bufio"
	"log/slog"
	"net/http"

	"github.com/tasktail/tasktail/actors"
)

// downloadLog serves GET /v1/tasks/{task_id}/log: the whole retained log of a task, as
// text lines "timestamp level message" or, with ?format=ndjson, as the WebSocket's log
// frames, one per line; with Content-Disposition for a download. It is authorized like
// viewing.
func (s *Server) downloadLog(w http.ResponseWriter, r *http.Request) {
	taskID, ok := s.viewedTask(w, r)
	if !ok {
		return
	}
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
		s.writeError(w, r, invalidField("format", "must be text or ndjson"))
		return
	}
	var out *bufio.Writer
	var line []byte
	err := s.Manager().Log(r.Context(), taskID, func(l actors.LogLine) error {
		if out == nil {
			startDownload(w, contentType, taskID+ext)
			out = bufio.NewWriterSize(w, 32<<10)
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
	switch {
	case err != nil && out == nil:
		s.writeError(w, r, err)
	case err != nil:
		// The answer has begun: end it short; the client sees a truncated download.
		s.logger.Warn("log download cut short", slog.String("task_id", taskID), slog.String("remote", r.RemoteAddr), slog.Any("error", err))
	case out == nil:
		startDownload(w, contentType, taskID+ext) // a task with nothing published yet
	default:
		_ = out.Flush() // a failed write means the client left
	}
}

func startDownload(w http.ResponseWriter, contentType, filename string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`) // a task_id needs no quoting
	w.WriteHeader(http.StatusOK)
}
