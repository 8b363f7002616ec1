package wire

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

func TestDecodePublish(t *testing.T) {
	ok := []struct {
		body  string
		batch bool
		want  []*v1.LogInput
	}{
		// Without progress (or with null) the task's progress stays: no progress in the message.
		{`{"level":"info","message":"hi"}`, false, []*v1.LogInput{{Level: v1.Level_LEVEL_INFO, Message: "hi"}}},
		{`{"level":"info","message":"zero","progress":0}`, false, []*v1.LogInput{{Level: v1.Level_LEVEL_INFO, Message: "zero", Progress: proto.Float64(0)}}},
		{` {"level":"error","message":"","progress":12.5,"finished":true} `, false, []*v1.LogInput{{Level: v1.Level_LEVEL_ERROR, Progress: proto.Float64(12.5), Finished: true}}},
		{`{"level":"info","message":"a \"quoted\"\nline\u00e9"}`, false, []*v1.LogInput{{Level: v1.Level_LEVEL_INFO, Message: "a \"quoted\"\nlineé"}}},
		{`{"level":"info","message":"x","progress":null}`, false, []*v1.LogInput{{Level: v1.Level_LEVEL_INFO, Message: "x"}}},
		{`[{"level":"debug","message":"a"},{"level":"critical","message":"b","progress":100}]`, true,
			[]*v1.LogInput{{Level: v1.Level_LEVEL_DEBUG, Message: "a"}, {Level: v1.Level_LEVEL_CRITICAL, Message: "b", Progress: proto.Float64(100)}}},
	}
	for _, tc := range ok {
		got, batch, err := DecodePublish([]byte(tc.body))
		if err != nil || batch != tc.batch || len(got) != len(tc.want) {
			t.Fatalf("%s: %v %v %v", tc.body, got, batch, err)
		}
		for i := range got {
			if got[i].Level != tc.want[i].Level || got[i].Message != tc.want[i].Message ||
				!proto.Equal(got[i], tc.want[i]) || got[i].Finished != tc.want[i].Finished {
				t.Fatalf("%s: entry %d = %v, want %v", tc.body, i, got[i], tc.want[i])
			}
		}
	}
	bad := []struct{ body, field string }{
		{`{"level":"info","message":"x","level":"nope"}`, "level"},
		{`{"level":"info","message":"x","progress":1e400}`, "progress"},
		{`{"level":"info"}`, "message"},
		{`{"message":"x"}`, "level"},
		{`{"level":"INFO","message":"x"}`, "level"},
		{`{"level":1,"message":"x"}`, "level"},
		{`{"level":"info","message":"x","finished":"yes"}`, "finished"},
		{`{"level":"info","message":"x","x":1}`, "x"},
		{`[{"level":"info","message":"x"},{"level":"nope","message":"y"}]`, "[1].level"},
		{`[{"level":"info","message":"x"},3]`, "body"},
		{`{"level":"info","message":"x"}]`, "body"},
		{`nul`, "body"},
		// Duplicate keys and keys in another case: encoding/json takes both leniently.
		{`{"level":"debug","message":"FIRST","message":"SECOND","level":"critical"}`, "message"},
		{`{"level":"info","message":"a \"q\"","message":"b"}`, "message"},
		{`{"LEVEL":"info","Message":"x"}`, "LEVEL"},
		{`{"level":"info","Message":"x"}`, "Message"},
		{`[{"level":"info","message":"x"},{"level":"info","message":"\u0041","progress":1,"progress":2}]`, "[1].progress"},
		{`[{"level":"info","message":"x"},{"level":"info","message":"y","Finished":true}]`, "[1].Finished"},
		{"\xff", "body"},
	}
	for _, tc := range bad {
		_, _, err := DecodePublish([]byte(tc.body))
		var inv *InvalidError
		if !errors.As(err, &inv) || inv.Field != tc.field {
			t.Errorf("%s: err %v, want invalid %s", tc.body, err, tc.field)
		}
	}
}

// The fast path takes what producers send almost always and leaves the rest to
// encoding/json.
func TestFastDecodeTakesTheCommonBodies(t *testing.T) {
	for _, tc := range []struct {
		body string
		fast bool
	}{
		{`{"level":"info","message":"hi"}`, true},
		{" \n{ \"message\" : \"héllo\" , \"level\":\"warning\",\"progress\":1.5e-3,\"finished\":false}\r\n", true},
		{`[{"level":"info","message":"a"}, {"level":"info","message":"b","finished":true}]`, true},
		{`{"level":"info","message":"a\tb"}`, false},            // an escape
		{`{"Level":"info","message":"x"}`, false},               // encoding/json matches keys in any case
		{`{"level":"info","message":"x","message":"y"}`, false}, // a repeated key: the last wins there
		{`{"level":"info","message":"x","progress":null}`, false},
		{`{"level":"info","message":"x","progress":01}`, false},
		{`{"level":"info","message":"x","progress":1.}`, false},
		{`{"level":"info","message":"x","progress":1e999}`, false},
		{`{"level":"info","message":"x"} x`, false},
		{`{"level":"info","message":"x"`, false},
		{`{"level":"info","message":"x",}`, false},
		{`{"level":"info"}`, false},
		{`{"level":"infox","message":"x"}`, false},
		{`[]`, false},
		{`[{"level":"info","message":"a"},]`, false},
		{"{\"level\":\"info\",\"message\":\"a\x01\"}", false}, // a raw control character
	} {
		if _, _, ok := fastDecode([]byte(tc.body)); ok != tc.fast {
			t.Errorf("%q: fast path %v, want %v", tc.body, ok, tc.fast)
		}
		checkDecoded(t, []byte(tc.body))
	}
}

// FuzzDecodePublish feeds the publish decoder arbitrary bodies: it must never panic, must
// refuse with an InvalidError, and what it accepts must be well-formed entries.
func FuzzDecodePublish(f *testing.F) {
	for _, s := range []string{
		`{"level":"info","message":"hi"}`, `[{"level":"info","message":"a"},{"level":"warning","message":"b","progress":3}]`,
		`{"level":"info","message":"x","progress":1e308}`, `[]`, `[null]`, `{"level":"info","message":"\u0000"}`,
		`{"level":"info","message":"x","finished":true}`, `{"level":"info","message":"x"}{}`, "\xef\xbb\xbf{}",
		`{"level":"info","message":"\u0041","message":"b"}`, `{"Level":"info","message":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkDecoded)
}

// checkDecoded is the fuzzers' property: the decoder never panics, refuses only with an
// InvalidError, takes only a body that opens with '[' as a batch, takes one object as one
// entry, and accepts only entries with a level and valid UTF-8.
func checkDecoded(t *testing.T, body []byte) {
	if fast, fastBatch, ok := fastDecode(body); ok && utf8.Valid(body) {
		slow, slowBatch, err := decodeJSON(body)
		if err != nil || fastBatch != slowBatch || len(fast) != len(slow) {
			t.Fatalf("%q: fast path took %d entries (batch %v), encoding/json: %d (batch %v), %v", body, len(fast), fastBatch, len(slow), slowBatch, err)
		}
		for i := range fast {
			if !proto.Equal(fast[i], slow[i]) {
				t.Fatalf("%q: entry %d is %v on the fast path, %v with encoding/json", body, i, fast[i], slow[i])
			}
		}
	}
	entries, batch, err := DecodePublish(body)
	if err == nil {
		if keyErr := strictKeys(body); keyErr != nil {
			t.Fatalf("%q: accepted with %v", body, keyErr)
		}
	}
	if err != nil {
		var inv *InvalidError
		if !errors.As(err, &inv) {
			t.Fatalf("error %v is not an InvalidError", err)
		}
		return
	}
	if batch != strings.HasPrefix(strings.TrimLeft(string(body), " \t\r\n"), "[") {
		t.Fatalf("%q: batch %v", body, batch)
	}
	if !batch && len(entries) != 1 {
		t.Fatalf("accepted %q as %d entries, want one object", body, len(entries))
	}
	for _, e := range entries {
		if LevelName(e.Level) == "" || !utf8.ValidString(e.Message) {
			t.Fatalf("accepted %q as %v", body, e)
		}
	}
}

// FuzzDecodeBatch starts from batch bodies, so mutations explore arrays of entries.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range []string{
		`[{"level":"info","message":"a"}]`,
		`[{"level":"info","message":"a","progress":1},{"level":"error","message":"b","finished":true}]`,
		`[{"level":"info","message":"a"},{"level":"warning","message":"b","finished":true},{"level":"info","message":"c"}]`,
		`[{"level":"info","message":"a"},{}]`, `[[]]`, `[{"level":"info","message":"a"}`, ` [ ] `,
		`[{"level":"info","message":"a"},{"level":"info","message":"\n","finished":true,"FINISHED":false}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkDecoded)
}
