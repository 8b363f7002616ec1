package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/tasktail/tasktail/server"
)

type logPageBody struct {
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Frames   []struct {
		Seq     uint64 `json:"seq"`
		Message string `json:"message"`
	} `json:"frames"`
}

type searchBody struct {
	Seqs []uint64 `json:"seqs"`
	Next uint64   `json:"next_from_seq"`
}

func getJSON(t *testing.T, s *service, path string, v any) int {
	t.Helper()
	resp, err := s.client.Get(s.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// A page of the stored log from any seq, and a search over all of it, with the journal
// and without one.
func TestLogPagesAndSearch(t *testing.T) {
	for name, cfg := range map[string]server.Config{"journal": withPebble(t, t.TempDir()), "memory": defaults()} {
		t.Run(name, func(t *testing.T) {
			s := start(t, cfg)
			n := 3000
			if name == "memory" {
				n = 900 // within the history a task keeps in memory
			}
			for from := 1; from <= n; from += 300 {
				batch := make([]map[string]any, 0, 300)
				for i := from; i < from+300; i++ {
					msg := fmt.Sprintf("row %d imported", i)
					if i%250 == 0 {
						msg = fmt.Sprintf("\x1b[31mERROR\x1b[0m: row %d rejected", i) // matched as shown, escapes removed
					}
					batch = append(batch, map[string]any{"level": "info", "message": msg})
				}
				b, _ := json.Marshal(batch)
				if r := s.publishRaw("big", b); r.status != http.StatusAccepted {
					t.Fatalf("publish: %d %v", r.status, r.body)
				}
			}
			var page logPageBody
			if code := getJSON(t, s, "/v1/tasks/big/log?from_seq=1&limit=500", &page); code != http.StatusOK {
				t.Fatalf("page: %d", code)
			}
			if page.FirstSeq != 1 || page.LastSeq != uint64(n) || len(page.Frames) != 500 || page.Frames[0].Seq != 1 || page.Frames[499].Seq != 500 {
				t.Fatalf("first page: first %d last %d, %d frames", page.FirstSeq, page.LastSeq, len(page.Frames))
			}
			page = logPageBody{}
			getJSON(t, s, fmt.Sprintf("/v1/tasks/big/log?from_seq=%d&limit=100", n-9), &page)
			if len(page.Frames) != 10 || page.Frames[9].Seq != uint64(n) || page.Frames[8].Message != fmt.Sprintf("row %d imported", n-1) {
				t.Fatalf("last page: %+v", page.Frames)
			}

			var found searchBody
			if code := getJSON(t, s, "/v1/tasks/big/search?q=error:%20ROW", &found); code != http.StatusOK {
				t.Fatalf("search: %d", code)
			}
			if len(found.Seqs) != n/250 || found.Seqs[0] != 250 || found.Next != 0 {
				t.Fatalf("search found %v (next %d), want every 250th of %d", found.Seqs, found.Next, n)
			}
			found = searchBody{}
			getJSON(t, s, "/v1/tasks/big/search?q=rejected&limit=2&from_seq=300", &found)
			if fmt.Sprint(found.Seqs) != "[500 750]" || found.Next != 751 {
				t.Fatalf("search from 300, 2 at most: %v next %d", found.Seqs, found.Next)
			}
			for path, want := range map[string]int{
				"/v1/tasks/big/search?q=":                   http.StatusBadRequest,
				"/v1/tasks/big/search?q=x&limit=0":          http.StatusBadRequest,
				"/v1/tasks/big/log?from_seq=0":              http.StatusBadRequest,
				"/v1/tasks/big/log?from_seq=1&limit=100000": http.StatusBadRequest,
				"/v1/tasks/nobody/search?q=x":               http.StatusNotFound,
				"/v1/tasks/nobody/log?from_seq=1":           http.StatusNotFound,
			} {
				if code := getJSON(t, s, path, &struct{}{}); code != want {
					t.Errorf("%s: %d, want %d", path, code, want)
				}
			}
		})
	}
}

// Without from_seq a page is the log's last messages; min_level finds the errors.
func TestLogLastPageAndErrors(t *testing.T) {
	s := start(t, defaults())
	s.publishN("tailpage", 1, 30)
	s.publish("tailpage", "error", "boom", 0, false)
	s.publishN("tailpage", 32, 40)
	var page logPageBody
	getJSON(t, s, "/v1/tasks/tailpage/log?limit=5", &page)
	if len(page.Frames) != 5 || page.Frames[0].Seq != 36 || page.LastSeq != 40 {
		t.Fatalf("last page: %+v (last %d)", page.Frames, page.LastSeq)
	}
	var found searchBody
	getJSON(t, s, "/v1/tasks/tailpage/search?min_level=error", &found)
	if fmt.Sprint(found.Seqs) != "[31]" {
		t.Fatalf("errors at %v, want [31]", found.Seqs)
	}
}
