package server

import (
	"encoding/json"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/wire"
)

// The task list: GET /v1/tasks?prefix=&state=&limit=&cursor=, the most recently active
// first, a page at a time.

const (
	defaultListLimit = 50
	maxListLimit     = 500
)

// taskStates are the states a list may be filtered by.
var taskStates = []string{"running", "finished", "failed"}

type listReply struct {
	Tasks      []wire.Status `json:"tasks"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// listCursor is where a page ends: the last task's activity time and task_id. "~" is not
// a task_id character.
type listCursor journal.Position

func (c listCursor) String() string { return strconv.FormatInt(c.Active, 10) + "~" + c.TaskID }

func parseCursor(s string) (listCursor, bool) {
	active, id, ok := strings.Cut(s, "~")
	n, err := strconv.ParseInt(active, 10, 64)
	return listCursor{Active: n, TaskID: id}, ok && err == nil
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request, _ *request) {
	q := r.URL.Query()
	prefix, state := q.Get("prefix"), q.Get("state")
	if err := s.cfg.Actors.ValidateTaskIDPrefix(prefix); err != nil {
		s.writeError(w, r, err)
		return
	}
	if state != "" && !slices.Contains(taskStates, state) {
		s.writeError(w, r, wire.Invalid("state", "must be one of running, finished, failed"))
		return
	}
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			s.writeError(w, r, wire.Invalid("limit", "must be an integer from 1 to "+strconv.Itoa(maxListLimit)))
			return
		}
		limit = n
	}
	after := journal.Newest
	if v := q.Get("cursor"); v != "" {
		cursor, ok := parseCursor(v)
		if !ok {
			s.writeError(w, r, wire.Invalid("cursor", "not a cursor this server gave"))
			return
		}
		after = journal.Position(cursor)
	}
	page, err := s.Manager().ListPage(r.Context(), actors.ListQuery{Prefix: prefix, State: state, After: after, Limit: limit})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	reply := listReply{Tasks: make([]wire.Status, 0, min(len(page), limit))}
	for i, st := range page {
		if i == limit {
			last := page[i-1]
			reply.NextCursor = listCursor{Active: last.LastActiveUnixNano, TaskID: last.TaskId}.String()
			break
		}
		reply.Tasks = append(reply.Tasks, wire.Status{Status: st})
	}
	writeListPage(w, r, reply)
}

// writeListPage answers a page with an ETag of its contents: a client that sends it back
// in If-None-Match (the index page, every 5 s) gets 304 and no body while its page has
// not changed.
func writeListPage(w http.ResponseWriter, r *http.Request, reply listReply) {
	body, err := json.Marshal(reply)
	if err != nil {
		writeErrorCode(w, http.StatusInternalServerError, "internal", "encode response")
		return
	}
	body = append(body, '\n')
	sum := fnv.New64a()
	sum.Write(body)
	etag := `"` + strconv.FormatUint(sum.Sum64(), 36) + `"`
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", etag)
	for _, tag := range strings.Split(r.Header.Get("If-None-Match"), ",") {
		if tag = strings.TrimSpace(tag); tag == etag || tag == "W/"+etag || tag == "*" {
			w.WriteHeader(http.StatusNotModified) // the page the client shows (no Range: JSON is read whole)
			return
		}
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body) // a failed write means the client left
}

// authorizeList checks the credential of a list: a publish key, or a subscribe token whose
// sub covers every task_id the prefix may match ("import-*" covers prefix "import-4").
func (s *Server) authorizeList(r *http.Request, prefix string) error {
	claims, err := s.reader(r)
	if err != nil || claims == nil {
		return err
	}
	if p, ok := strings.CutSuffix(claims.Sub, "*"); !ok || !strings.HasPrefix(prefix, p) {
		return s.refuse(&authError{errForbidden, "the token does not open every task of this prefix: ask for a prefix its sub covers"})
	}
	trust(r)
	return nil
}
