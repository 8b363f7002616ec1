package server

import (
	"errors"
	"mime"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/wire"
)

// writePublishReply answers an accepted publish: {"task_id","seq","queued"}, or for a batch
// {"task_id","first_seq","last_seq","queued"}. It is built by hand because it is the one
// answer on the hot path (encoding/json cost ~4% of the server's CPU per publish), and a
// validated task_id ([A-Za-z0-9._:-]) needs no escaping.
func writePublishReply(w http.ResponseWriter, ack actors.Ack, batch bool) {
	b := make([]byte, 0, 96+len(ack.TaskID))
	b = append(b, `{"task_id":"`...)
	b = append(b, ack.TaskID...)
	if batch {
		b = append(b, `","first_seq":`...)
		b = strconv.AppendUint(b, ack.FirstSeq, 10)
		b = append(b, `,"last_seq":`...)
	} else {
		b = append(b, `","seq":`...)
	}
	b = strconv.AppendUint(b, ack.LastSeq, 10)
	b = append(b, `,"queued":`...)
	b = strconv.AppendBool(b, ack.Queued)
	b = append(b, "}\n"...)
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(b) // a failed write means the client left
}

// idempotencyHeader names a publish's idempotency key: a publish retried with it (after
// a lost answer, say) is answered as the first was and stored once.
const idempotencyHeader = "Idempotency-Key"

// jsonContentType is shared by every publish answer (net/http only reads it), so that
// setting the header allocates nothing.
var jsonContentType = []string{"application/json"}

// bodyBuffers recycles the buffers publish bodies are read into.
var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// releaseBody returns buf to the pool, unless a rare large body grew it.
func releaseBody(buf *[]byte, body []byte) {
	if cap(body) <= 64<<10 {
		*buf = body[:0]
		bodyBuffers.Put(buf)
	}
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	taskID := r.PathValue("task_id")
	if err := s.authorizePublish(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.cfg.Actors.ValidateTaskID(taskID); err != nil {
		s.writeError(w, r, err)
		return
	}
	// A body must say it is JSON or NDJSON: a page of another site can send a text body
	// without a preflight, never one of these (see csrf.go).
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err == nil && mt == mediaNDJSON && r.Header.Get(idempotencyHeader) != "":
		s.writeError(w, r, wire.Invalid("idempotency_key", "applies to a single or batch publish; a stream answers where it stopped instead"))
		return
	case err == nil && mt == mediaNDJSON:
		s.publishStream(w, r, taskID) // lasts as long as the producer: not a publish latency
		return
	case err != nil || mt != "application/json":
		writeErrorCode(w, http.StatusUnsupportedMediaType, codeMediaType, "Content-Type must be application/json, or application/x-ndjson for a stream (with curl: -H 'Content-Type: application/json')")
		return
	}
	defer s.observePublish(began)
	tooLarge := wire.TooLarge("body", "larger than the request limit")
	if r.ContentLength > s.cfg.MaxBodyBytes {
		s.writeError(w, r, tooLarge) // refused unread: an oversized body costs no memory
		return
	}
	// What the body may take is reserved before anything is read: its Content-Length, or
	// without one the largest body.
	reserved := r.ContentLength
	if reserved < 0 {
		reserved = s.cfg.MaxBodyBytes + 1
	}
	if !s.bodies.reserve(reserved) {
		s.writeError(w, r, errBodyBudget)
		return
	}
	defer s.bodies.release(reserved)
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	buf := bodyBuffers.Get().(*[]byte)
	body := *buf
	if r.ContentLength > 0 && cap(body) <= int(r.ContentLength) {
		body = make([]byte, 0, r.ContentLength+1) // one buffer of the body's size; +1 sees the end
	}
	body, err = readAll(body, r.Body, s.cfg.MaxBodyBytes)
	defer releaseBody(buf, body)
	if err != nil {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			err = tooLarge
		}
		s.writeError(w, r, s.bodyReadError(err))
		return
	}
	entries, batch, err := wire.DecodePublish(body) // entries hold copies: body is free after
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ack, err := s.Manager().PublishOnce(r.Context(), taskID, r.Header.Get(idempotencyHeader), entries)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writePublishReply(w, ack, batch)
}

// errBodyTimeout is a request body not read within Config.BodyTimeout.
var errBodyTimeout = errors.New("request body not received in time")

// bodyReadError words what went wrong reading a body.
func (s *Server) bodyReadError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errBodyTimeout
	}
	return err
}

type statusReply struct {
	TaskID      string  `json:"task_id"`
	Epoch       string  `json:"epoch"`
	Connected   bool    `json:"connected"`
	Subscribers uint32  `json:"subscribers"`
	Queued      uint32  `json:"queued"`
	LastSeq     uint64  `json:"last_seq"`
	Progress    float64 `json:"progress"`
	Finished    bool    `json:"finished"`
	Member      string  `json:"member,omitempty"` // cluster mode: where the task lives
}

func (s *Server) observePublish(began time.Time) {
	s.metrics.publishLatency.Observe(time.Since(began).Seconds())
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if _, err := s.authorizeView(r, r.PathValue("task_id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.Manager().Status(r.Context(), r.PathValue("task_id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, statusReply{
		TaskID: st.TaskId, Epoch: st.Epoch, Connected: st.Connected, Subscribers: st.Subscribers,
		Queued: st.Queued, LastSeq: st.LastSeq, Progress: st.Progress, Finished: st.Finished, Member: st.Member,
	})
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	if err := s.authorizePublish(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Manager().Disconnect(r.Context(), r.PathValue("task_id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// restart starts a new incarnation of a task: 200 {"task_id","epoch"}, 404 for an unknown
// task. Like delete, it needs a publish key.
func (s *Server) restart(w http.ResponseWriter, r *http.Request) {
	if err := s.authorizePublish(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	taskID := r.PathValue("task_id")
	epoch, err := s.Manager().Restart(r.Context(), taskID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, restartReply{TaskID: taskID, Epoch: epoch})
}

type restartReply struct {
	TaskID string `json:"task_id"`
	Epoch  string `json:"epoch"`
}
