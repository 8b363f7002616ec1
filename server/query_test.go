package server

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

func TestParseResume(t *testing.T) {
	cases := []struct {
		query string
		ok    bool
		since uint64
		play  bool
	}{
		{"", true, 0, false}, {"since=0", true, 0, true}, {"since=57&epoch=abc", true, 57, true},
		{"since", false, 0, false}, {"since=-1", false, 0, false}, {"since=1e3", false, 0, false},
		{"epoch=abc", false, 0, false}, {"since=18446744073709551616", false, 0, false},
		{"since=18446744073709551615", false, 0, false}, {"since=9007199254740992", false, 0, false}, {"since=9007199254740991", true, 9007199254740991, true},
	}
	for _, tc := range cases {
		from, err := parseResume(&http.Request{URL: &url.URL{RawQuery: tc.query}})
		if (err == nil) != tc.ok || (err == nil && (from.Since != tc.since || from.Replay != tc.play)) {
			t.Errorf("%q: %+v %v", tc.query, from, err)
		}
	}
}

// FuzzQuery feeds the viewer endpoint's query parsing (resume and credential) arbitrary
// query strings: no panic, and what is accepted is what the query says.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"since=0", "since=12&epoch=k3j2", "token=a.b.c&since=5", "since=%zz", "since=1&since=2", "epoch=" + string(make([]byte, 70)), ";;&&=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := &http.Request{URL: &url.URL{RawQuery: raw}, Header: http.Header{}}
		_ = bearer(r)
		from, err := parseResume(r)
		if err != nil {
			return
		}
		q := r.URL.Query()
		if from.Replay {
			if n, perr := strconv.ParseUint(q.Get("since"), 10, 64); q.Get("since") != "" && (perr != nil || n != from.Since) {
				t.Fatalf("%q: since %d", raw, from.Since)
			}
		}
		if len(from.Epoch) > 64 {
			t.Fatalf("%q: epoch of %d bytes accepted", raw, len(from.Epoch))
		}
	})
}
