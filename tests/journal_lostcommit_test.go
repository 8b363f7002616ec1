package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tasktail/tasktail/internal/pgtest"
	"github.com/tasktail/tasktail/journal/postgres"
)

// PostgreSQL connections cut after COMMIT was sent, under load (group commits of many
// tasks whose answer is lost): no task is wedged, every publish retried with its
// Idempotency-Key until acknowledged is stored exactly once and in order (a commit whose
// answer was lost used to be taken as not stored: the tasks reused its seqs and failed
// with a duplicate key for good).
func TestJournalPostgresLostCommitsUnderLoadWedgeNothing(t *testing.T) {
	proxy := pgtest.NewCutProxy(t, pgtest.ForTest(t))
	j, err := postgres.Open(proxy.URL, postgres.Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaults()
	cfg.Journal = j
	s := start(t, cfg)
	const tasks, each = 30, 40
	var unknown atomic.Int64 // publishes answered 503 outcome_unknown
	post := func(task, key, msg string) int {
		req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/tasks/"+task+"/logs", strings.NewReader(fmt.Sprintf(`{"level":"info","message":%q}`, msg)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := s.client.Do(req)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		var body struct{ Error struct{ Code string } }
		if json.NewDecoder(resp.Body).Decode(&body) == nil && body.Error.Code == "outcome_unknown" {
			unknown.Add(1)
		}
		return resp.StatusCode
	}
	var wg sync.WaitGroup
	halfway := make(chan struct{}, tasks)
	failures := make(chan string, tasks)
	for i := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			task := fmt.Sprintf("pg-%d", i)
			for n := range each {
				if n == each/4 {
					halfway <- struct{}{}
				}
				deadline := time.Now().Add(15 * time.Second)
				for post(task, fmt.Sprintf("%d-%d", i, n), fmt.Sprintf("m%d", n)) != http.StatusAccepted {
					if time.Now().After(deadline) {
						failures <- fmt.Sprintf("%s: m%d never acknowledged: the task is wedged", task, n)
						return
					}
					time.Sleep(20 * time.Millisecond) // a client's retry pause, not an ordering wait
				}
			}
		}()
	}
	for range tasks {
		<-halfway
	}
	proxy.CutNextCommit()
	awaitWithin(t, 10*time.Second, "a commit's answer cut", func() bool { return proxy.Cuts.Load() == 1 })
	proxy.CutNextCommit() // another, if the publishers are still at it
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	if unknown.Load() == 0 {
		t.Error("no publish was answered outcome_unknown: the cut commit was not a publish's")
	}
	if t.Failed() {
		return
	}
	for i := range tasks {
		task := fmt.Sprintf("pg-%d", i)
		got := frames(t, must(download(t, s.base, task, "ndjson")))
		if len(got) != each {
			t.Fatalf("%s: %d messages stored, want %d (each once)", task, len(got), each)
		}
		for n, f := range got {
			if f.Seq != uint64(n+1) || f.Message != fmt.Sprintf("m%d", n) {
				t.Fatalf("%s: message %d is seq %d %q, want seq %d m%d", task, n, f.Seq, f.Message, n+1, n)
			}
		}
	}
}
