package tests

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/internal/pgtest"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/backends"
	"github.com/tasktail/tasktail/journal/postgres"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

type taskListPage struct {
	Tasks []struct {
		TaskID     string  `json:"task_id"`
		State      string  `json:"state"`
		LastSeq    uint64  `json:"last_seq"`
		Progress   float64 `json:"progress"`
		LastActive string  `json:"last_active"`
	} `json:"tasks"`
	NextCursor string `json:"next_cursor"`
}

// list asks GET /v1/tasks with query and credential auth (empty: none).
func (s *service) list(auth, query string) (taskListPage, int) {
	s.t.Helper()
	r := s.with(auth, http.MethodGet, "/v1/tasks?"+query, "")
	var page taskListPage
	raw, _ := json.Marshal(r.body)
	if err := json.Unmarshal(raw, &page); err != nil {
		s.t.Fatal(err)
	}
	return page, r.status
}

func (p taskListPage) ids() string {
	var ids []string
	for _, t := range p.Tasks {
		ids = append(ids, t.TaskID+":"+t.State)
	}
	return strings.Join(ids, " ")
}

// The task list: the tasks a publish created, the most recently active first, filtered
// by prefix and state, a page at a time.
func TestTaskList(t *testing.T) {
	s := start(t, defaults())
	s.publish("import-1", "info", "rows", 40, false)
	s.publish("import-2", "success", "done", 100, true)
	s.publish("import-3", "error", "broke", 70, true)
	s.publish("report-1", "info", "started", 5, false)
	s.watch("import-4", "").hello() // only viewed: not a task yet

	page, status := s.list("", "")
	if status != http.StatusOK || page.ids() != "report-1:running import-3:failed import-2:finished import-1:running" || page.NextCursor != "" {
		t.Fatalf("all: %d %q %q", status, page.ids(), page.NextCursor)
	}
	if p := page.Tasks[1]; p.Progress != 70 || p.LastSeq != 1 {
		t.Fatalf("a listed task: %+v", p)
	}
	if _, err := time.Parse(time.RFC3339Nano, page.Tasks[0].LastActive); err != nil {
		t.Fatalf("last_active %q: %v", page.Tasks[0].LastActive, err)
	}
	for query, want := range map[string]string{
		"prefix=import-":               "import-3:failed import-2:finished import-1:running",
		"state=failed":                 "import-3:failed",
		"state=running&prefix=import-": "import-1:running",
		"state=finished":               "import-2:finished",
	} {
		if page, _ := s.list("", query); page.ids() != want {
			t.Errorf("%s: %q, want %q", query, page.ids(), want)
		}
	}
	// Pages: two by two, each task once, the last page without a cursor.
	var seen []string
	cursor := ""
	for range 3 {
		page, status := s.list("", "limit=2&cursor="+url.QueryEscape(cursor))
		if status != http.StatusOK {
			t.Fatalf("page: %d", status)
		}
		seen = append(seen, page.ids())
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if got := strings.Join(seen, " | "); got != "report-1:running import-3:failed | import-2:finished import-1:running" {
		t.Fatalf("pages %q", got)
	}
	for _, query := range []string{"state=done", "limit=0", "limit=501", "cursor=nonsense"} {
		if _, status := s.list("", query); status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", query, status)
		}
	}
}

// Listing needs a publish key, or a token whose sub covers the prefix.
func TestTaskListAuth(t *testing.T) {
	s := secured(t)
	s.with(testKey, http.MethodPost, "/v1/tasks/import-7/logs", `{"level":"info","message":"x"}`)
	s.with(testKey, http.MethodPost, "/v1/tasks/other/logs", `{"level":"info","message":"x"}`)
	imports := mint(t, "import-*", time.Hour)
	for _, tc := range []struct {
		name, auth, query string
		status            int
		ids               string
	}{
		{"a publish key", testKey, "", 200, "other:running import-7:running"},
		{"a token for the prefix", imports, "prefix=import-", 200, "import-7:running"},
		{"a token for a narrower prefix", imports, "prefix=import-7", 200, "import-7:running"},
		{"a token, no prefix", imports, "", 403, ""},
		{"a token for one task", mint(t, "import-7", time.Hour), "prefix=import-7", 403, ""},
		{"nothing", "", "", 401, ""},
	} {
		page, status := s.list(tc.auth, tc.query)
		if status != tc.status || status == 200 && page.ids() != tc.ids {
			t.Errorf("%s: %d %q, want %d %q", tc.name, status, page.ids(), tc.status, tc.ids)
		}
	}
}

// tasktail ls lists tasks, the most recently active first, by prefix and state.
func TestCLIList(t *testing.T) {
	s := start(t, defaults())
	s.publish("nightly-1", "success", "done", 100, true)
	s.publish("nightly-2", "critical", "out of disk", 35, true)
	s.publish("adhoc", "info", "working", 20, false)
	out, stderr, code := s.cli("", "ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "TASK") || !strings.HasPrefix(lines[1], "adhoc") ||
		!strings.Contains(lines[2], "nightly-2  failed    35%") {
		t.Fatalf("ls: exit %d %q %q", code, out, stderr)
	}
	out, _, code = s.cli("", "ls", "nightly-", "--state", "failed", "-o", "json")
	var task struct {
		TaskID string `json:"task_id"`
		State  string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &task); code != 0 || err != nil || task.TaskID != "nightly-2" || task.State != "failed" {
		t.Fatalf("ls nightly- --state failed -o json: exit %d %q", code, out)
	}
	if _, stderr, code := s.cli("", "ls", "--state", "gone"); code == 0 || !strings.Contains(stderr, "state") {
		t.Fatalf("a bad state: exit %d %q", code, stderr)
	}
}

// A prefix no task_id can start with (a NUL, invalid UTF-8, a space) is refused with 400
// by every journal, never sent to it.
func TestListPrefixOutsideTaskIDsIsRefused(t *testing.T) {
	pebble, err := backends.Open(journal.KindPebble, backends.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	pg, err := postgres.Open(pgtest.ForTest(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, j := range map[string]journal.Journal{"pebble": pebble, "postgres": pg} {
		cfg := defaults()
		cfg.Journal = j
		s := start(t, cfg)
		s.publish("import-1", "info", "rows", 40, false)
		for _, prefix := range []string{"\x00", "import\x00", "\xff", "im port", strings.Repeat("a", 129)} {
			if _, status := s.list("", "prefix="+url.QueryEscape(prefix)); status != http.StatusBadRequest {
				t.Errorf("%s: prefix %q: %d, want 400", name, prefix, status)
			}
		}
		if page, status := s.list("", "prefix=import-"); status != http.StatusOK || page.ids() != "import-1:running" {
			t.Errorf("%s: a good prefix: %d %q", name, status, page.ids())
		}
	}
}

// A list that cannot finish within the request timeout answers 503 (retry), never 500.
// Here the journal holds 10,000 running tasks and the list asks for failed ones: it reads
// them all, more than it reads in 1ms.
func TestListThatCannotFinishAnswers503(t *testing.T) {
	j, err := backends.Open(journal.KindPebble, backends.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var group []journal.Append
	for i := range 10_000 {
		group = append(group, journal.Append{TaskID: "slow-list-" + strconv.Itoa(i), Meta: journal.Meta{Epoch: "e", LastSeq: 1, Active: int64(i)},
			Entries: []journal.Entry{{Seq: 1, Level: v1.Level_LEVEL_INFO, Message: "m"}}})
		if len(group) == 1000 {
			if err := j.Commit(group); err != nil {
				t.Fatal(err)
			}
			group = group[:0]
		}
	}
	cfg := defaults()
	cfg.Journal = j
	cfg.Actors = actors.Config{RequestTimeout: time.Millisecond}
	s := start(t, cfg)
	r := s.do(http.MethodGet, "/v1/tasks?state=failed", "", nil)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("a list through 10,000 tasks within 1ms: %d %v (Retry-After %q), want 503 with Retry-After", r.status, r.body["error"], r.header.Get("Retry-After"))
	}
}

// A page answers with an ETag of its contents; asked again with it, the server answers 304
// and no body while the page is the same, and 200 with a new ETag once a task changed.
func TestListAnswers304WhilePageIsTheSame(t *testing.T) {
	s := start(t, defaults())
	s.publish("import-1", "info", "rows", 40, false)
	ask := func(etag string) (int, string, int) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.base+"/v1/tasks?prefix=import-", nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("ETag"), len(body)
	}
	status, etag, n := ask("")
	if status != http.StatusOK || etag == "" || n == 0 {
		t.Fatalf("first: %d, ETag %q, %d bytes", status, etag, n)
	}
	if status, again, n := ask(etag); status != http.StatusNotModified || again != etag || n != 0 {
		t.Fatalf("unchanged: %d, ETag %q, %d bytes; want 304 %s and no body", status, again, n, etag)
	}
	s.publish("import-1", "info", "more", 60, false)
	if status, changed, n := ask(etag); status != http.StatusOK || changed == etag || n == 0 {
		t.Fatalf("changed: %d, ETag %q, %d bytes; want 200 and a new ETag", status, changed, n)
	}
}
