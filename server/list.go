package server

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
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
type listCursor struct {
	active int64
	taskID string
}

func (c listCursor) String() string { return strconv.FormatInt(c.active, 10) + "~" + c.taskID }

func parseCursor(s string) (listCursor, bool) {
	active, id, ok := strings.Cut(s, "~")
	n, err := strconv.ParseInt(active, 10, 64)
	return listCursor{n, id}, ok && err == nil
}

// newerFirst orders the list: the most recently active first, then by task_id.
func newerFirst(a, b *v1.Status) int {
	return cmp.Or(cmp.Compare(b.LastActiveUnixNano, a.LastActiveUnixNano), strings.Compare(a.TaskId, b.TaskId))
}

// after reports whether st comes after the cursor in the list's order.
func (c listCursor) after(st *v1.Status) bool {
	return newerFirst(&v1.Status{LastActiveUnixNano: c.active, TaskId: c.taskID}, st) < 0
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
	var cursor listCursor
	if v := q.Get("cursor"); v != "" {
		var ok bool
		if cursor, ok = parseCursor(v); !ok {
			s.writeError(w, r, wire.Invalid("cursor", "not a cursor this server gave"))
			return
		}
	}
	all, err := s.Manager().ListTasks(r.Context(), prefix)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	slices.SortFunc(all, newerFirst)
	reply := listReply{Tasks: []wire.Status{}}
	var last *v1.Status
	for _, st := range all {
		if state != "" && wire.StateOf(st) != state || cursor.taskID != "" && !cursor.after(st) {
			continue
		}
		if len(reply.Tasks) == limit {
			reply.NextCursor = listCursor{last.LastActiveUnixNano, last.TaskId}.String()
			break
		}
		last = st
		reply.Tasks = append(reply.Tasks, wire.Status{Status: st})
	}
	writeJSON(w, http.StatusOK, reply)
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
