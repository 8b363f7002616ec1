package tests

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/internal/pgtest"
)

// startSharedCluster starts three members found through etcd that share one PostgreSQL
// journal.
func startSharedCluster(t *testing.T) []*member {
	t.Helper()
	etcd := startEtcd(t)
	db := pgtest.ForTest(t)
	ms := make([]*member, 3)
	for i, name := range []string{"a", "b", "c"} {
		ms[i] = startMember(t, name, "--cluster-provider", "etcd", "--etcd-endpoints", etcd,
			"--journal", "postgres", "--postgres-url", db)
	}
	awaitMembers(t, ms...)
	return ms
}

// With a shared PostgreSQL journal, SIGKILL of the member that owns tasks under load
// loses nothing acknowledged and, as producers send idempotency keys and retry until
// answered, stores nothing twice: the tasks continue on another member with the same
// epoch and exactly the published messages, in order, and a resuming viewer sees no gap.
func TestClusterSharedJournalSIGKILLLosesNothing(t *testing.T) {
	ms := startSharedCluster(t)
	a, b, c := ms[0], ms[1], ms[2]
	tasks := ownedBy(t, a, b, "pg", 3) // each has "m1"
	epochs := make([]string, len(tasks))
	for i, id := range tasks {
		epochs[i], _ = a.status(id).body["epoch"].(string)
	}
	viewer := c.watch(tasks[0], "since=0")
	viewer.hello()
	viewer.logs(1)

	acked := make([][]string, len(tasks))
	for i := range acked {
		acked[i] = []string{"m1"}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, id := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 2; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				msg := fmt.Sprintf("m%d", n)
				for !publishKeyed(a, id, msg, id+"/"+msg) { // retried with its key until answered
				}
				mu.Lock()
				acked[i] = append(acked[i], msg)
				mu.Unlock()
			}
		}()
	}
	count := func(i int) int { mu.Lock(); defer mu.Unlock(); return len(acked[i]) }
	await(t, "publishing under way", func() bool { return count(0) > 20 && count(1) > 20 && count(2) > 20 })
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	before := []int{count(0), count(1), count(2)}
	await(t, "every task takes publishes again on another member", func() bool {
		return count(0) > before[0]+20 && count(1) > before[1]+20 && count(2) > before[2]+20
	})
	close(stop)
	wg.Wait()

	for i, id := range tasks {
		got := frames(t, must(download(t, a.base, id, "ndjson")))
		if len(got) != len(acked[i]) {
			t.Fatalf("%s: %d messages stored, %d published", id, len(got), len(acked[i]))
		}
		for s, f := range got {
			if f.Seq != uint64(s+1) || f.Message != acked[i][s] {
				t.Fatalf("%s: message %d is seq %d %q, want seq %d %q", id, s, f.Seq, f.Message, s+1, acked[i][s])
			}
		}
		if st := a.status(id); st.body["epoch"] != epochs[i] || st.body["member"] == b.address {
			t.Fatalf("%s after the crash: %v, want epoch %s on a surviving member", id, st.body, epochs[i])
		}
	}
	// The viewer on C was closed with 1001 when its task's member died; it resumes with
	// since/epoch on the new owner, with no gap.
	if code, _ := viewer.closed(); code != websocket.StatusGoingAway {
		t.Fatalf("viewer closed with %d, want 1001", code)
	}
	v2 := c.watch(tasks[0], fmt.Sprintf("since=1&epoch=%s", epochs[0]))
	if h := v2.hello(); h.Epoch != epochs[0] {
		t.Fatalf("hello after the move: %+v, want epoch %s", h, epochs[0])
	}
	if f := v2.next(); f.Type != "log" || f.Seq != 2 {
		t.Fatalf("first frame after resuming at 1: %+v, want seq 2 and no gap", f)
	}
	t.Logf("acknowledged %d, %d, %d messages; all stored in order across the crash", len(acked[0]), len(acked[1]), len(acked[2]))
}

// publishKeyed publishes message with an idempotency key through m and reports whether
// it was acknowledged.
func publishKeyed(m *member, taskID, message, key string) bool {
	req, _ := http.NewRequest(http.MethodPost, m.base+"/v1/tasks/"+taskID+"/logs",
		strings.NewReader(fmt.Sprintf(`{"level":"info","message":%q}`, message)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := m.client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusAccepted
}
