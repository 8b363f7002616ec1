package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// Reading a large log a page at a time, and searching all of it (docs/design.md, "How a
// log reads"). Both are authorized like viewing and bounded: a page holds at most
// maxPageLimit messages; a search answers at most maxSearchLimit seqs, stops after
// searchBudget and says where to go on, and at most maxSearches run at once (past them,
// 503 with Retry-After).
const (
	defaultPageLimit  = 500
	maxPageLimit      = 5000
	maxSearchLimit    = 1000
	maxQueryBytes     = 256
	searchBudget      = time.Second
	maxSearches       = 2
	defaultSearchSeqs = 1000
)

// searchSlots bounds the searches running at once, across the server.
type searchSlots chan struct{}

// logPage serves GET /v1/tasks/{task_id}/log?from_seq=N&limit=M:
// {"task_id","first_seq","last_seq","frames":[log frames with seq ≥ N]}; without from_seq,
// the last M.
func (s *Server) logPage(w http.ResponseWriter, r *http.Request, taskID string) {
	from, limit, err := rangeQuery(r.URL.Query(), 0, maxPageLimit, defaultPageLimit) // from 0: the last page
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.Manager().LogRange(r.Context(), taskID, from, int(limit))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := make([]byte, 0, 128+64*len(page.Frames))
	b = append(b, `{"task_id":`...)
	b, _ = appendJSON(b, taskID)
	b = append(b, `,"first_seq":`...)
	b = strconv.AppendUint(b, page.FirstSeq, 10)
	b = append(b, `,"last_seq":`...)
	b = strconv.AppendUint(b, page.LastSeq, 10)
	b = append(b, `,"frames":[`...)
	for i, f := range page.Frames {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f...) // frames are JSON objects already
	}
	b = append(b, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b) // a failed write means the client left
}

// searchLog serves GET /v1/tasks/{task_id}/search?q=TEXT&min_level=L&from_seq=N&limit=M:
// {"task_id","query","seqs":[…],"next_from_seq"}, next_from_seq 0 once the end was
// reached. q or min_level is needed (min_level=error finds the errors).
func (s *Server) searchLog(w http.ResponseWriter, r *http.Request, in *request) {
	taskID := in.taskID
	q := r.URL.Query()
	query := q.Get("q")
	var minLevel v1.Level
	if name := q.Get("min_level"); name != "" {
		if minLevel = wire.LevelNamed(name); minLevel == 0 {
			s.writeError(w, r, wire.Invalid("min_level", "must be one of "+wire.LevelList))
			return
		}
	}
	if query == "" && minLevel == 0 || len(query) > maxQueryBytes {
		s.writeError(w, r, wire.Invalid("q", "must be 1-"+strconv.Itoa(maxQueryBytes)+" bytes (or empty with min_level)"))
		return
	}
	from, limit, err := rangeQuery(q, 1, maxSearchLimit, defaultSearchSeqs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	select {
	case s.searches <- struct{}{}:
		defer func() { <-s.searches }()
	default:
		w.Header().Set("Retry-After", "1")
		writeErrorCode(w, http.StatusServiceUnavailable, codeUnavailable, "too many searches at once; retry")
		return
	}
	res, err := s.Manager().SearchLog(r.Context(), taskID, query, minLevel, from, int(limit), searchBudget)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if res.Seqs == nil {
		res.Seqs = []uint64{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"task_id": taskID, "query": query, "seqs": res.Seqs, "next_from_seq": res.Next})
}

// rangeQuery parses from_seq (default defFrom) and limit (1 to maxLimit, default
// defLimit).
func rangeQuery(q url.Values, defFrom, maxLimit, defLimit uint64) (from, limit uint64, err error) {
	if from, err = queryUint(q.Get("from_seq"), "from_seq", 1, 1<<53-1, defFrom); err != nil {
		return 0, 0, err
	}
	limit, err = queryUint(q.Get("limit"), "limit", 1, maxLimit, defLimit)
	return from, limit, err
}

// queryUint parses an optional integer query parameter within [lo, hi].
func queryUint(v, field string, lo, hi, def uint64) (uint64, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, wire.Invalid(field, "must be an integer from "+strconv.FormatUint(lo, 10)+" to "+strconv.FormatUint(hi, 10))
	}
	return n, nil
}

func appendJSON(b []byte, v any) ([]byte, error) {
	j, err := json.Marshal(v)
	return append(b, j...), err
}
