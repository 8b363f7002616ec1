package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/client"
	"github.com/tasktail/tasktail/internal/pgserver"
	"github.com/tasktail/tasktail/journal/journaltest"
	"github.com/tasktail/tasktail/journal/postgres"
)

// startDurable starts the binary with its journal in dir.
func startDurable(t *testing.T, name, dir string, args ...string) *member {
	t.Helper()
	return startServe(t, name, append([]string{"--data-dir", dir, "--log-level", "warn"}, args...)...)
}

// download returns a task's log (format text or ndjson) and the status code.
func download(t *testing.T, base, taskID, format string) ([]byte, int) {
	t.Helper()
	resp, err := http.Get(base + "/v1/tasks/" + taskID + "/log?format=" + format)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body, resp.StatusCode
}

type logFrame struct {
	Seq     uint64 `json:"seq"`
	Message string `json:"message"`
}

func frames(t *testing.T, ndjson []byte) []logFrame {
	t.Helper()
	var out []logFrame
	sc := bufio.NewScanner(bytes.NewReader(ndjson))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var f logFrame
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, f)
	}
	return out
}

// publishQuietly publishes one message and returns its seq, or an error when the server
// did not acknowledge it (it was killed, say).
func publishQuietly(client *http.Client, base, taskID, message string) (uint64, error) {
	body := fmt.Sprintf(`{"level":"info","message":%q}`, message)
	resp, err := client.Post(base+"/v1/tasks/"+taskID+"/logs", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var ack struct{ Seq uint64 }
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&ack); err != nil {
		return 0, err
	}
	return ack.Seq, nil
}

// SIGKILL at five random points of a load, each followed by a restart on the same data
// directory: every acknowledged message is there once, in order, in the same epoch, and a
// task nobody watched has the queue the trim rule leaves.
func TestJournalSIGKILLLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	const tasks = 6
	acked := make([][]string, tasks) // acked[i][seq-1] is the message of seq
	epochs := make([]string, tasks)
	check := func(m *member) {
		t.Helper()
		for i := range tasks {
			id := fmt.Sprintf("k%d", i)
			got := frames(t, must(download(t, m.base, id, "ndjson")))
			if len(got) < len(acked[i]) || len(got) > len(acked[i])+1 {
				t.Fatalf("%s: %d messages stored, %d acknowledged (at most one more may have been stored unanswered)", id, len(got), len(acked[i]))
			}
			for s, f := range got {
				if f.Seq != uint64(s+1) {
					t.Fatalf("%s: message %d has seq %d", id, s, f.Seq)
				}
				if s < len(acked[i]) && f.Message != acked[i][s] {
					t.Fatalf("%s: seq %d is %q, acknowledged as %q", id, f.Seq, f.Message, acked[i][s])
				}
			}
			if len(got) > len(acked[i]) { // stored before the kill, never answered: it is there now
				acked[i] = append(acked[i], got[len(got)-1].Message)
			}
			st := m.status(id)
			if epochs[i] != "" && st.body["epoch"] != epochs[i] {
				t.Fatalf("%s: epoch %v after restart, was %s", id, st.body["epoch"], epochs[i])
			}
			epochs[i], _ = st.body["epoch"].(string)
			if i >= tasks/2 { // never watched: the whole log was published while nobody watched
				if want := queueLengthOf(uint64(len(acked[i]))); st.num("queued") != want {
					t.Fatalf("%s: %d queued after %d unseen messages, want %d", id, st.num("queued"), len(acked[i]), want)
				}
			}
		}
	}
	for round := range 5 {
		m := startDurable(t, fmt.Sprintf("round-%d", round), dir)
		if round > 0 {
			check(m)
		}
		for i := range tasks / 2 { // watched tasks: a viewer reads along
			m.watch(fmt.Sprintf("k%d", i), "since=0")
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for i := range tasks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 5 * time.Second}
				for n := 0; ; n++ {
					msg := fmt.Sprintf("r%d-%d", round, n)
					seq, err := publishQuietly(client, m.base, fmt.Sprintf("k%d", i), msg)
					if err != nil {
						return
					}
					mu.Lock()
					if seq != uint64(len(acked[i])+1) {
						t.Errorf("k%d: acknowledged seq %d after %d", i, seq, len(acked[i]))
					}
					acked[i] = append(acked[i], msg)
					total++
					mu.Unlock()
				}
			}()
		}
		killAt := 100 + rand.IntN(700) // a random kill point, in acknowledged messages of this round
		await(t, "the load reaches the kill point", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return total >= killAt
		})
		if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		m.exited <- <-m.exited
	}
	m := startDurable(t, "last", dir)
	check(m)
	total := 0
	for i := range tasks {
		total += len(acked[i])
	}
	t.Logf("%d acknowledged messages over 5 kills, all stored once and in order", total)
}

func must(b []byte, code int) []byte {
	if code != http.StatusOK {
		panic(fmt.Sprintf("status %d: %s", code, b))
	}
	return b
}

// queueLengthOf is rule 4 with the default limit and keep, message by message.
func queueLengthOf(n uint64) uint64 {
	var q uint64
	for range n {
		if q++; q > 100 {
			q = 50
		}
	}
	return q
}

// A deploy: SIGTERM closes viewers with 1001; after the restart they resume with
// since/epoch and get no gap and nothing twice.
func TestJournalSIGTERMDeployResumesWithoutGap(t *testing.T) {
	dir := t.TempDir()
	m := startDurable(t, "before", dir)
	for i := 1; i <= 10; i++ {
		m.publish("deploy", "info", fmt.Sprintf("m%d", i), float64(i), false)
	}
	v := m.watch("deploy", "since=0")
	epoch := v.hello().Epoch
	v.logs(10)
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, _ := v.closed(); code != websocket.StatusGoingAway {
		t.Fatalf("viewer closed with %d on SIGTERM, want 1001", code)
	}
	if err := <-m.exited; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	m.exited <- nil

	m2 := startDurable(t, "after", dir)
	v2 := m2.watch("deploy", "since=10&epoch="+epoch)
	if h := v2.hello(); h.Epoch != epoch || h.LastSeq != 10 {
		t.Fatalf("hello after the deploy %+v, want epoch %s and last_seq 10", h, epoch)
	}
	m2.publish("deploy", "info", "m11", 11, false)
	if f := v2.next(); f.Type != "log" || f.Seq != 11 || f.Message != "m11" {
		t.Fatalf("after resuming: %+v, want only seq 11", f)
	}
	if st := m2.status("deploy"); st.body["progress"] != 11.0 || st.num("last_seq") != 11 {
		t.Fatalf("status after the deploy: %v", st.body)
	}
}

// A finished task survives a restart and its downloaded log is byte-exact; DELETE removes
// it from disk; a short retention sweeps it.
func TestJournalFinishedLogsRetentionAndDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // the server creates it
	m := startDurable(t, "first", dir)
	m.publish("report", "info", "step 1 <b>&\"quoted\"", 10, false)
	m.publish("report", "warning", "unicode é ✓", 50, false)
	m.publish("report", "success", "done", 100, true)
	m.publish("gone", "info", "x", 0, false)
	text, code := download(t, m.base, "report", "text")
	if code != http.StatusOK || !strings.HasSuffix(string(text), " success done\n") || strings.Count(string(text), "\n") != 3 {
		t.Fatalf("text log %d %q", code, text)
	}
	ndjson := must(download(t, m.base, "report", "ndjson"))
	if r := m.do(http.MethodDelete, "/v1/tasks/gone", "", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.status)
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	m.exited <- <-m.exited

	m2 := startDurable(t, "second", dir, "--retention", "2s", "--finished-ttl", "1s")
	if again, _ := download(t, m2.base, "report", "text"); !bytes.Equal(again, text) {
		t.Fatalf("text log after restart differs:\n%s\nwas\n%s", again, text)
	}
	if again, _ := download(t, m2.base, "report", "ndjson"); !bytes.Equal(again, ndjson) {
		t.Fatal("ndjson log after restart differs")
	}
	if st := m2.status("report"); st.body["finished"] != true || st.num("last_seq") != 3 {
		t.Fatalf("finished task after restart: %v", st.body)
	}
	if _, code := download(t, m2.base, "gone", "text"); code != http.StatusNotFound {
		t.Fatalf("log of a deleted task: %d, want 404", code)
	}
	if st := m2.status("gone"); st.status != http.StatusNotFound {
		t.Fatalf("status of a deleted task after restart: %d", st.status)
	}
	await(t, "retention sweeps the finished task from disk", func() bool {
		_, code := download(t, m2.base, "report", "text")
		return code == http.StatusNotFound
	})
	info, err := os.Stat(dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v %v, want 0700", info.Mode(), err)
	}
}

// When the journal cannot store: 503 journal_unavailable with Retry-After, nothing
// acknowledged is lost, viewers and status keep working, and publishing recovers by itself.
func TestJournalFailureAnswers503AndRecovers(t *testing.T) {
	mem := journaltest.NewMemory()
	cfg := defaults()
	cfg.Journal = mem
	s := start(t, cfg)
	s.publish("j", "info", "one", 0, false)
	v := s.watch("j", "since=0")
	v.hello()
	v.logs(1)
	mem.Fail(errors.New("no space left on device"))
	r := s.publishRaw("j", []byte(`{"level":"info","message":"refused"}`))
	if r.status != http.StatusServiceUnavailable || r.errorCode() != "journal_unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("publish on a failing journal: %d %v %v", r.status, r.body, r.header)
	}
	if st := s.status("j"); st.status != http.StatusOK || st.num("last_seq") != 1 || st.body["connected"] != true {
		t.Fatalf("status while the journal fails: %d %v", st.status, st.body)
	}
	mem.Fail(nil)
	if p := s.publish("j", "info", "two", 0, false); p.num("seq") != 2 {
		t.Fatalf("publish after recovery: %v", p.body)
	}
	if f := v.next(); f.Seq != 2 || f.Message != "two" {
		t.Fatalf("viewer after recovery: %+v, want seq 2 (the refused message never shown)", f)
	}
	body, code := download(t, s.base, "j", "ndjson")
	if got := frames(t, body); code != http.StatusOK || len(got) != 2 || got[1].Message != "two" {
		t.Fatalf("stored log %d %s", code, body)
	}
}

// An Idempotency-Key makes a retried publish land once: the retry is answered with the
// first answer's seqs.
func TestIdempotencyKeyOverHTTP(t *testing.T) {
	s := start(t, defaults())
	post := func(key, body string) response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/tasks/idem/logs", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r response
		r.status = resp.StatusCode
		json.NewDecoder(resp.Body).Decode(&r.body)
		return r
	}
	first := post("order-7", `{"level":"info","message":"charged"}`)
	retry := post("order-7", `{"level":"info","message":"charged"}`)
	if first.status != http.StatusAccepted || retry.status != http.StatusAccepted || retry.num("seq") != first.num("seq") {
		t.Fatalf("first %d %v, retry %d %v: want the same seq", first.status, first.body, retry.status, retry.body)
	}
	if st := s.status("idem"); st.num("last_seq") != 1 {
		t.Fatalf("stored %d messages, want 1", st.num("last_seq"))
	}
	if bad := post("has space", `{"level":"info","message":"x"}`); bad.status != http.StatusBadRequest {
		t.Fatalf("a key with a space: %d", bad.status)
	}
	c, _ := client.New(s.base, nil)
	b1, err1 := c.PublishBatchOnce(context.Background(), "idem", "batch-1", []client.Log{{Level: client.Info, Message: "x"}, {Level: client.Info, Message: "y"}})
	b2, err2 := c.PublishBatchOnce(context.Background(), "idem", "batch-1", []client.Log{{Level: client.Info, Message: "x"}, {Level: client.Info, Message: "y"}})
	if err1 != nil || err2 != nil || b1 != b2 || b1.FirstSeq != 2 {
		t.Fatalf("client batches %+v %v / %+v %v, want the same answer from seq 2", b1, err1, b2, err2)
	}
}

// PostgreSQL stopped under load: publishes get 503 journal_unavailable with Retry-After,
// status and viewers keep working, and once the database is back publishing works again
// without a restart, with every acknowledged message stored once and in order.
func TestJournalPostgresStoppedMidLoad(t *testing.T) {
	pg, err := pgserver.Start() // a database of its own: this test stops it
	if errors.Is(err, pgserver.ErrMissing) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	j, err := postgres.Open(pg.URL, postgres.Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaults()
	cfg.Journal = j
	s := start(t, cfg)
	v := s.watch("pg", "since=0")
	v.hello()
	var acked []string
	publish := func(msg string) int {
		code, err := publishCode(s.client, s.base, "pg", msg)
		if err != nil {
			t.Fatal(err)
		}
		if code == http.StatusAccepted {
			acked = append(acked, msg)
		}
		return code
	}
	for n := range 20 {
		if code := publish(fmt.Sprintf("before %d", n)); code != http.StatusAccepted {
			t.Fatalf("publish before the stop: %d", code)
		}
	}
	pg.Halt()
	r := s.publishRaw("pg", []byte(`{"level":"info","message":"while down"}`))
	if r.status != http.StatusServiceUnavailable || r.errorCode() != "journal_unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("publish while PostgreSQL is down: %d %v", r.status, r.body)
	}
	if st := s.status("pg"); st.status != http.StatusOK || st.num("last_seq") != 20 || st.body["connected"] != true {
		t.Fatalf("status while PostgreSQL is down: %d %v", st.status, st.body)
	}
	if err := pg.Resume(); err != nil {
		t.Fatal(err)
	}
	await(t, "publishing works again", func() bool { return publish("after") == http.StatusAccepted })
	for n := range 20 {
		if code := publish(fmt.Sprintf("after %d", n)); code != http.StatusAccepted {
			t.Fatalf("publish after the database came back: %d", code)
		}
	}
	got := frames(t, must(download(t, s.base, "pg", "ndjson")))
	if len(got) != len(acked) {
		t.Fatalf("%d messages stored, %d acknowledged", len(got), len(acked))
	}
	for i, f := range got {
		if f.Seq != uint64(i+1) || f.Message != acked[i] {
			t.Fatalf("message %d: seq %d %q, want %d %q", i, f.Seq, f.Message, i+1, acked[i])
		}
	}
	for i := range acked { // the viewer saw exactly what was stored, never the refused one
		if f := v.next(); f.Seq != uint64(i+1) || f.Message != acked[i] {
			t.Fatalf("viewer frame %d: %+v, want %q", i, f, acked[i])
		}
	}
}

// publishCode publishes one message and returns the status code.
func publishCode(client *http.Client, base, taskID, message string) (int, error) {
	resp, err := client.Post(base+"/v1/tasks/"+taskID+"/logs", "application/json",
		strings.NewReader(fmt.Sprintf(`{"level":"info","message":%q}`, message)))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
