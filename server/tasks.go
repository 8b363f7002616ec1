package server

import (
	"errors"
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

// publish serves a publish: the route table (routes.go) has checked the key and read a
// JSON body within its bounds, or left an NDJSON stream to read.
func (s *Server) publish(w http.ResponseWriter, r *http.Request, in *request) {
	switch {
	case in.stream && r.Header.Get(idempotencyHeader) != "":
		s.writeError(w, r, wire.Invalid("idempotency_key", "applies to a single or batch publish; a stream answers where it stopped instead"))
		return
	case in.stream:
		s.publishStream(w, r, in.taskID) // lasts as long as the producer: not a publish latency
		return
	}
	entries, batch, err := wire.DecodePublish(in.body) // entries hold copies: body is free after
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ack, err := s.Manager().PublishOnce(r.Context(), in.taskID, r.Header.Get(idempotencyHeader), entries)
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

func (s *Server) observePublish(began time.Time) {
	s.metrics.publishLatency.Observe(time.Since(began).Seconds())
}

func (s *Server) status(w http.ResponseWriter, r *http.Request, in *request) {
	st, err := s.Manager().Status(r.Context(), in.taskID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.Status{Status: st})
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, in *request) {
	if err := s.Manager().Disconnect(r.Context(), in.taskID); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// restart starts a new incarnation of a task: 200 {"task_id","epoch"}, 404 for an unknown
// task. Like delete, it needs a publish key.
func (s *Server) restart(w http.ResponseWriter, r *http.Request, in *request) {
	taskID := in.taskID
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
