package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "new\nline\ttab\rcr", "\x00\x01\x1f",
		"<img src=x onerror=alert(1)>", "a & b", "unicode é ✓ 😀", "\u2028\u2029", "bad \xff utf8",
	} {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestLogFrame(t *testing.T) {
	ts := time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	b := logFrame(&v1.LogEntry{TaskId: "t1", Seq: 58, TimeUnixNano: ts.UnixNano(),
		Level: v1.Level_LEVEL_INFO, Message: "rows 1000-2000", Progress: 40.5, Finished: false})
	want := `{"type":"log","task_id":"t1","seq":58,"timestamp":"2026-11-21T09:00:00.123456Z","level":"info","message":"rows 1000-2000","progress":40.5,"finished":false}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	produced := time.Date(2026, 11, 20, 8, 0, 0, 5000, time.UTC)
	b = logFrame(&v1.LogEntry{TaskId: "t1", Seq: 59, TimeUnixNano: ts.UnixNano(), Level: v1.Level_LEVEL_INFO, Message: " 40%",
		Attrs: &v1.LineAttrs{Stream: "stderr", Update: true, Section: v1.Section_SECTION_START, ProducedUnixNano: produced.UnixNano()}})
	want = `{"type":"log","task_id":"t1","seq":59,"timestamp":"2026-11-20T08:00:00.000005Z","received":"2026-11-21T09:00:00.123456Z","level":"info","message":" 40%","progress":0,"finished":false,"stream":"stderr","update":true,"section":"start"}`
	if string(b) != want {
		t.Fatalf("with attributes: got  %s\nwant %s", b, want)
	}
	if g := GapFrame(&v1.Gap{TaskId: "t1", FromSeq: 3, ToSeq: 52, Reason: v1.GapReason_GAP_REASON_TRIMMED}); string(g) != `{"type":"gap","task_id":"t1","from_seq":3,"to_seq":52,"reason":"trimmed"}` {
		t.Fatalf("gap frame %s", g)
	}
	if h := HelloFrame(&v1.Hello{TaskId: "t1", Epoch: "e", LastSeq: 57}); string(h) != `{"type":"hello","task_id":"t1","epoch":"e","last_seq":57,"finished":false}` {
		t.Fatalf("hello frame %s", h)
	}
}

// FuzzLogFrame checks that any message text yields a frame that is valid JSON and
// round-trips to the same text (invalid UTF-8 is refused before it reaches a frame).
func FuzzLogFrame(f *testing.F) {
	for _, s := range []string{"", "hello", "<script>", "\"\\\n", "\u2028", "😀"} {
		f.Add(s, 50.0)
	}
	f.Fuzz(func(t *testing.T, msg string, progress float64) {
		if !utf8.ValidString(msg) || !(progress >= 0 && progress <= 100) {
			t.Skip()
		}
		b := logFrame(&v1.LogEntry{TaskId: "t", Seq: 1, Level: v1.Level_LEVEL_DEBUG, Message: msg, Progress: progress})
		var got struct {
			Message  string  `json:"message"`
			Progress float64 `json:"progress"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("frame %s is not JSON: %v", b, err)
		}
		if got.Message != msg || got.Progress != progress {
			t.Fatalf("round trip: %q %v, want %q %v", got.Message, got.Progress, msg, progress)
		}
		if strings.ContainsAny(string(b), "<>") {
			t.Fatalf("frame %s contains raw < or >", b)
		}
	})
}

// logFrame encodes e with its own timestamp.
func logFrame(e *v1.LogEntry) []byte { return LogFrame(e, AppendTimestamp(nil, e.TimeUnixNano)) }
