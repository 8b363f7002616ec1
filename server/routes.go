package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"time"

	"github.com/tasktail/tasktail/wire"
)

// The edge's route table: every endpoint is a row that says who may call it and what
// body it takes, and the table gives each request its credential check, its cross-origin
// check and its body's bounds (size, memory budget, deadline) before the handler runs.
// An endpoint cannot forget one: it has no other way in. A handler reads what was checked
// from its in argument. (docs/design.md, "HTTP API"; docs/extending.md, "The route".)

// access says who may call an endpoint.
type access int

const (
	// public: anybody; the pages and their files. A {task_id} in the path is still checked.
	public access = iota
	// viewer: reads one task (the {task_id} of the path): a subscribe token that opens it,
	// or a publish key; anybody on a server without a token secret.
	viewer
	// lister: reads the task list: a publish key, or a subscribe token whose tasks cover
	// the prefix listed (authorizeList).
	lister
	// publisher: changes a task: a publish key (rate-limited per key), and never from a
	// page of another origin (csrf.go).
	publisher
)

// bodyKind says what body an endpoint takes; an endpoint that takes none ignores it.
type bodyKind int

const (
	noBody bodyKind = iota
	// publishBody: JSON, read whole within the body's bounds into in.body; or NDJSON, a
	// stream the handler reads line by line (stream.go). Any other Content-Type is 415.
	publishBody
	// jsonBody: one JSON object within the body's bounds, decoded strictly (no unknown
	// field, nothing after it) into a new value of the route's type (route.newBody).
	jsonBody
)

// route is one row of the table.
type route struct {
	method, pattern string
	access          access
	body            bodyKind
	// newBody returns a pointer to decode a jsonBody into (in.json); see jsonInto.
	newBody func() any
	handle  func(s *Server, w http.ResponseWriter, r *http.Request, in *request)
}

// request is what the table checked, for the handler.
type request struct {
	taskID  string    // the path's {task_id}, valid; "" without one
	began   time.Time // when the request arrived
	expires time.Time // a viewer's: when its credential stops working (zero: never)
	body    []byte    // publishBody as JSON: the whole body, valid until the handler returns
	stream  bool      // publishBody as NDJSON: the handler reads r.Body as a stream
	timed   bool      // publishBody as JSON: its latency is observed
	json    any       // jsonBody: what newBody returned, decoded
}

// jsonInto is a route's newBody for a body of type T.
func jsonInto[T any]() func() any { return func() any { return new(T) } }

// table is every endpoint but the probes (server.go, which every connection may ask).
func (s *Server) table() []route {
	return []route{
		{method: "GET", pattern: "/v1/tasks", access: lister, handle: (*Server).listTasks},
		{method: "POST", pattern: "/v1/tasks/{task_id}/logs", access: publisher, body: publishBody, handle: (*Server).publish},
		{method: "GET", pattern: "/v1/tasks/{task_id}", access: viewer, handle: (*Server).status},
		{method: "DELETE", pattern: "/v1/tasks/{task_id}", access: publisher, handle: (*Server).delete},
		{method: "POST", pattern: "/v1/tasks/{task_id}/restart", access: publisher, handle: (*Server).restart},
		{method: "GET", pattern: "/v1/tasks/{task_id}/log", access: viewer, handle: (*Server).downloadLog},
		{method: "GET", pattern: "/v1/tasks/{task_id}/search", access: viewer, handle: (*Server).searchLog},
		{method: "GET", pattern: "/v1/tasks/{task_id}/ws", access: viewer, handle: (*Server).websocket},
		{method: "GET", pattern: "/tasks/{task_id}", access: public, handle: (*Server).viewer},
		{method: "GET", pattern: "/{$}", access: public, handle: (*Server).index},
	}
}

// serve wraps rt's handler in the checks its row asks for.
func (s *Server) serve(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rt.access == publisher && crossSite(w, r) {
			return
		}
		if rt.pattern == "/v1/tasks/{task_id}/ws" {
			// A page may read why its WebSocket was refused by fetching the same URL (a
			// browser shows a refused handshake to its scripts as a bare 1006): every
			// answer but the upgrade is an error without task content, readable from any
			// origin.
			w.Header().Set("Access-Control-Allow-Origin", "*")
		}
		in := &request{taskID: r.PathValue("task_id"), began: time.Now()}
		if err := s.check(r, rt, in); err != nil {
			s.writeError(w, r, err)
			return
		}
		if rt.body == publishBody {
			// A publish's latency runs from its arrival, its body's reading and refusals
			// included; a stream lasts as long as its producer, which is no latency.
			defer func() {
				if in.timed {
					s.observePublish(in.began)
				}
			}()
		}
		if rt.body != noBody {
			release, err := s.readBody(w, r, rt, in)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			defer release()
		}
		rt.handle(s, w, r, in)
	}
}

// check checks the request's credential, then the path's task_id: who may call comes
// first, so a request without one is refused as such (401, counted) whatever it names,
// and a publish key's rate counts every request it makes.
func (s *Server) check(r *http.Request, rt route, in *request) error {
	var err error
	switch rt.access {
	case viewer:
		in.expires, err = s.authorizeView(r, in.taskID)
	case lister:
		err = s.authorizeList(r, r.URL.Query().Get("prefix"))
	case publisher:
		err = s.authorizePublish(r)
	}
	if err == nil && (in.taskID != "" || rt.access == viewer) {
		err = s.cfg.Actors.ValidateTaskID(in.taskID)
	}
	return err
}

// mediaTypeError is a body whose Content-Type the endpoint does not take.
type mediaTypeError struct{ message string }

func (e mediaTypeError) Error() string { return e.message }

// readBody reads the body rt takes into in, within its bounds, and returns what gives
// its memory back.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, rt route, in *request) (release func(), err error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case rt.body == publishBody && err == nil && mt == mediaNDJSON:
		in.stream = true
		return func() {}, nil
	case err == nil && mt == "application/json":
		in.timed = rt.body == publishBody
	default:
		// A page of another site can send a text body without a preflight, never one of
		// these (csrf.go).
		if rt.body == publishBody {
			return nil, mediaTypeError{"Content-Type must be application/json, or application/x-ndjson for a stream (with curl: -H 'Content-Type: application/json')"}
		}
		return nil, mediaTypeError{"Content-Type must be application/json (with curl: -H 'Content-Type: application/json')"}
	}
	body, release, err := s.boundedBody(w, r)
	if err != nil {
		return nil, err
	}
	if rt.body == publishBody {
		in.body = body
		return release, nil
	}
	defer release()
	in.json = rt.newBody()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(in.json); err != nil {
		return nil, wire.Invalid("body", "must be a JSON object of this endpoint's fields: "+err.Error())
	}
	if dec.More() {
		return nil, wire.Invalid("body", "must hold one JSON value")
	}
	return func() {}, nil
}

// boundedBody reads a request's whole body: refused unread past --max-body-bytes (by its
// Content-Length), reserved from --max-body-memory before a byte is read, and read within
// --body-timeout. release returns the buffer and the reservation.
func (s *Server) boundedBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	tooLarge := wire.TooLarge("body", "larger than the request limit")
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, nil, tooLarge // refused unread: an oversized body costs no memory
	}
	// What the body may take is reserved before anything is read: its Content-Length, or
	// without one the largest body.
	reserved := r.ContentLength
	if reserved < 0 {
		reserved = s.cfg.MaxBodyBytes + 1
	}
	if !s.bodies.reserve(reserved) {
		return nil, nil, errBodyBudget
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	buf := bodyBuffers.Get().(*[]byte)
	body = *buf
	if r.ContentLength > 0 && cap(body) <= int(r.ContentLength) {
		body = make([]byte, 0, r.ContentLength+1) // one buffer of the body's size; +1 sees the end
	}
	body, err = readAll(body, r.Body, s.cfg.MaxBodyBytes)
	release = func() {
		releaseBody(buf, body)
		s.bodies.release(reserved)
	}
	if err != nil {
		release()
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			err = tooLarge
		}
		return nil, nil, s.bodyReadError(err)
	}
	return body, release, nil
}
