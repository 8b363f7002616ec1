package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tasktail/tasktail/client"
	"github.com/tasktail/tasktail/journal/pebble"
	"github.com/tasktail/tasktail/server"
)

// A publish's optional attributes (stream, update, section, the producer's timestamp)
// reach viewers in the frames, and the journal keeps them: the download of a task loaded
// again from disk carries them as the live frames did.
func TestPublishAttributesReachViewersAndTheJournal(t *testing.T) {
	dir := t.TempDir()
	s := start(t, withPebble(t, dir))
	v := s.watch("attrs", "since=0")
	v.hello()
	produced := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	body := fmt.Sprintf(`[
		{"level":"info","message":"Build","section":"start"},
		{"level":"info","message":"compiling","stream":"stdout"},
		{"level":"warning","message":"deprecated","stream":"stderr"},
		{"level":"info","message":"10%%","stream":"stdout"},
		{"level":"info","message":"100%%","stream":"stdout","update":true},
		{"level":"info","message":"old line","timestamp":%q},
		{"level":"info","message":"","section":"end"}]`, produced.Format(time.RFC3339Nano))
	if r := s.publishRaw("attrs", []byte(body)); r.status != http.StatusAccepted {
		t.Fatalf("publish: %d %v", r.status, r.body)
	}
	want := []string{
		`"message":"Build","progress":0,"finished":false,"section":"start"}`,
		`"message":"compiling","progress":0,"finished":false,"stream":"stdout"}`,
		`"message":"deprecated","progress":0,"finished":false,"stream":"stderr"}`,
		`"message":"10%","progress":0,"finished":false,"stream":"stdout"}`,
		`"message":"100%","progress":0,"finished":false,"stream":"stdout","update":true}`,
		`"message":"old line","progress":0,"finished":false}`,
		`"message":"","progress":0,"finished":false,"section":"end"}`,
	}
	check := func(where string, frames []string) {
		t.Helper()
		if len(frames) != len(want) {
			t.Fatalf("%s: %d frames, want %d", where, len(frames), len(want))
		}
		for i, f := range frames {
			if !strings.HasSuffix(f, want[i]) {
				t.Errorf("%s: frame %d %s, want it to end %s", where, i+1, f, want[i])
			}
		}
		if old := frames[5]; !strings.Contains(old, `"timestamp":"`+produced.Format("2006-01-02T15:04:05.000000Z")+`","received":"`) {
			t.Errorf("%s: the producer's time is not the frame's timestamp, with the server's beside it: %s", where, old)
		}
	}
	var live []string
	for _, ev := range v.logs(len(want)) {
		live = append(live, string(ev.Raw))
	}
	check("live", live)

	s.shutdown() // closes the journal
	s = start(t, withPebble(t, dir))
	ndjson, code := download(t, s.base, "attrs", "ndjson")
	if code != http.StatusOK {
		t.Fatalf("download: %d %s", code, ndjson)
	}
	var stored []string
	for sc := bufio.NewScanner(bytes.NewReader(ndjson)); sc.Scan(); {
		stored = append(stored, sc.Text())
	}
	check("from the journal", stored)
}

// Attributes are checked like every field; a task keeps at most 16 stream names and
// stores the messages of any further stream under "other".
func TestPublishAttributeRules(t *testing.T) {
	s := start(t, defaults())
	for _, tc := range []struct{ body, field string }{
		{`{"level":"info","message":"x","stream":"has space"}`, "stream"},
		{`{"level":"info","message":"x","stream":"` + strings.Repeat("s", 33) + `"}`, "stream"},
		{`{"level":"info","message":"x","section":"middle"}`, "section"},
		{`{"level":"info","message":"x","timestamp":"yesterday"}`, "timestamp"},
		{`{"level":"info","message":"x","timestamp":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`, "timestamp"},
		{`{"level":"info","message":"x","timestamp":"2001-01-01T00:00:00Z"}`, "timestamp"},
		{`{"level":"info","message":"x","update":"yes"}`, "update"},
		{`{"level":"info","message":"x","Stream":"a"}`, "Stream"},
	} {
		r := s.publishRaw("rules", []byte(tc.body))
		if r.status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(r.body), tc.field) {
			t.Errorf("%s: %d %v, want 400 naming %s", tc.body, r.status, r.body, tc.field)
		}
	}

	var batch []map[string]any
	for i := range 18 {
		batch = append(batch, map[string]any{"level": "info", "message": "m", "stream": fmt.Sprintf("step-%d", i)})
	}
	b, _ := json.Marshal(batch)
	if r := s.publishRaw("streams", b); r.status != http.StatusAccepted {
		t.Fatalf("publish: %d %v", r.status, r.body)
	}
	v := s.watch("streams", "since=0")
	v.hello()
	for i, ev := range v.logs(18) {
		want := fmt.Sprintf("step-%d", i)
		if i >= 16 {
			want = "other"
		}
		if ev.Stream != want {
			t.Errorf("message %d: stream %q, want %q", i+1, ev.Stream, want)
		}
	}
}

// The Go client publishes the attributes and reads them back from the frames.
func TestGoClientCarriesAttributes(t *testing.T) {
	s := start(t, defaults())
	c, err := client.New(s.base, &client.Options{HTTPClient: s.client})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithCancel()
	defer cancel()
	produced := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	_, err = c.PublishBatch(ctx, "goattrs", []client.Log{
		{Level: client.Info, Message: "Test", Progress: client.KeepProgress, Section: client.SectionStart},
		{Level: client.Info, Message: "50%", Progress: 50, Stream: "stderr", Update: true, Timestamp: produced},
		{Level: client.Success, Message: "", Progress: client.KeepProgress, Section: client.SectionEnd, Finished: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.Tail(ctx, "goattrs", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var got []client.Event
	for len(got) < 3 {
		ev, err := stream.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == "log" {
			got = append(got, ev)
		}
	}
	if got[0].Section != client.SectionStart || got[2].Section != client.SectionEnd || got[1].Stream != "stderr" || !got[1].Update ||
		!got[1].Timestamp.Equal(produced) || got[1].Received.Before(produced) || !got[0].Received.IsZero() {
		t.Fatalf("events %+v", got)
	}
}

// withPebble is the default configuration with a Pebble journal in dir.
func withPebble(t testing.TB, dir string) server.Config {
	t.Helper()
	j, err := pebble.Open(dir, pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaults()
	cfg.Journal = j
	return cfg
}
