package tests

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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
	t.Parallel()
	tasks, epochs, c := publishThroughFault(t, func(b *member) {
		if err := b.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
	})
	// A viewer on C of a task that lived on the dead member resumes with since/epoch on
	// the new owner, with no gap.
	v := c.watch(tasks[0], fmt.Sprintf("since=1&epoch=%s", epochs[0]))
	if h := v.hello(); h.Epoch != epochs[0] {
		t.Fatalf("hello after the move: %+v, want epoch %s", h, epochs[0])
	}
	if f := v.next(); f.Type != "log" || f.Seq != 2 {
		t.Fatalf("first frame after resuming at 1: %+v, want seq 2 and no gap", f)
	}
}

// SIGTERM of the owner (a rolling deploy): its tasks continue on the members that remain,
// with every acknowledged message and the same epochs.
func TestClusterSharedJournalSIGTERMLosesNothing(t *testing.T) {
	t.Parallel()
	_, _, c := publishThroughFault(t, func(b *member) {
		if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	})
	// The members that stay say what happens to its tasks: they go on, in their epochs.
	if log := c.stderr.String(); !strings.Contains(log, `msg="a member left the cluster; its tasks continue on the others from the journal"`) {
		t.Fatalf("member c's log on b's leave:\n%s", grepLines(log, "left"))
	}
}

// SIGSTOP of the owner past its lease, then SIGCONT: the tasks move, and what the paused
// member still had in hand is fenced or stored once. Nothing acknowledged is lost or
// stored twice, and the epochs stay.
func TestClusterSharedJournalSIGSTOPLosesNothing(t *testing.T) {
	t.Parallel()
	publishThroughFault(t, func(b *member) {
		if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		// Past the provider's 3 s lease: the others take the tasks over meanwhile.
		time.AfterFunc(5*time.Second, func() { _ = b.cmd.Process.Signal(syscall.SIGCONT) })
	})
}

// publishThroughFault starts three members sharing a PostgreSQL journal, publishes with
// idempotency keys to three tasks that live on member B through member A, injects fault
// into B under that load, publishes on until every task has taken 20 more messages, and
// checks that each task's stored log is exactly what was acknowledged, in order, in its
// first epoch, on a member other than B.
func publishThroughFault(t *testing.T, fault func(b *member)) (tasks, epochs []string, c *member) {
	t.Helper()
	ms := startSharedCluster(t)
	a, b := ms[0], ms[1]
	c = ms[2]
	tasks = ownedBy(t, a, b, "pg", 3) // each has "m1"
	epochs = make([]string, len(tasks))
	for i, id := range tasks {
		epochs[i], _ = a.status(id).body["epoch"].(string)
	}
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
	fault(b)
	before := []int{count(0), count(1), count(2)}
	awaitWithin(t, 60*time.Second, "every task takes 20 more publishes after the fault", func() bool {
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
			t.Fatalf("%s after the fault: %v, want epoch %s on a member other than B", id, st.body, epochs[i])
		}
	}
	t.Logf("published %d, %d, %d messages; each stored once, in order, in its first epoch", len(acked[0]), len(acked[1]), len(acked[2]))
	return tasks, epochs, c
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
