package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/client"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Cluster tests run tasktail as separate member processes (built without -race: the
// actor library races with itself when members talk) on 127.0.0.1,
// with Debian's etcd or the automanaged provider. Each starts processes of its own (etcd,
// members, a database of the shared PostgreSQL), so they run in parallel with each other.

// member is one `tasktail serve` process: a cluster member, or a single node.
type member struct {
	*service
	address string // cluster address, as task status reports it
	cmd     *exec.Cmd
	exited  chan error
	stderr  *syncBuffer
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startEtcd runs Debian's etcd, with its default settings, on loopback ports with a data
// dir of the test's and returns its client endpoint once it answers.
func startEtcd(t *testing.T) string {
	t.Helper()
	return newEtcd(t).client
}

// startEtcdKillable is startEtcd that also returns a function that kills etcd (SIGKILL)
// and waits for it to exit.
func startEtcdKillable(t *testing.T) (string, func()) {
	t.Helper()
	e := newEtcd(t)
	return e.client, e.kill
}

// etcdProcess is Debian's etcd on loopback ports, which a test may kill and start again
// with the same data and ports.
type etcdProcess struct {
	t            *testing.T
	client, peer string
	dir          string
	cmd          *exec.Cmd
	exited       chan struct{}
	logs         *syncBuffer
}

// newEtcd starts etcd and returns it once it answers. A free port can be taken by another
// process before etcd binds it: then it tries other ports, up to three times.
func newEtcd(t *testing.T) *etcdProcess {
	t.Helper()
	e := &etcdProcess{t: t, dir: t.TempDir(), logs: &syncBuffer{}}
	t.Cleanup(func() {
		e.kill()
		if t.Failed() {
			t.Logf("etcd log:\n%s", e.logs)
		}
	})
	for try := 1; ; try++ {
		e.client, e.peer = "http://127.0.0.1:"+strconv.Itoa(freePort(t)), "http://127.0.0.1:"+strconv.Itoa(freePort(t))
		if e.start(try == 3) {
			return e
		}
	}
}

// start starts etcd and waits until it answers; it reports false when a port was taken
// (and not last).
func (e *etcdProcess) start(last bool) bool {
	t := e.t
	t.Helper()
	bin := requireTool(t, "etcd")
	e.cmd = exec.Command(bin, "--name", "default", "--data-dir", e.dir,
		"--listen-client-urls", e.client, "--advertise-client-urls", e.client,
		"--listen-peer-urls", e.peer, "--initial-advertise-peer-urls", e.peer,
		"--initial-cluster", "default="+e.peer, "--listen-metrics-urls", "") // etcd's own timing: a lease is at least 2 s
	e.cmd.Stdout, e.cmd.Stderr = e.logs, e.logs
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	e.exited = exited
	go func() { _ = e.cmd.Wait(); close(exited) }()
	await(t, "etcd answers", func() bool {
		select {
		case <-exited:
			return !last && strings.Contains(e.logs.String(), "address already in use")
		default:
		}
		resp, err := http.Get(e.client + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	select {
	case <-exited:
		e.cmd = nil
		return false // a port was taken: try others
	default:
		return true
	}
}

// kill stops etcd with SIGKILL, if it runs, and waits for it to exit.
func (e *etcdProcess) kill() {
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Kill()
	<-e.exited
	e.cmd = nil
}

// startMember starts a cluster member with the cluster flags in args.
func startMember(t *testing.T, name string, args ...string) *member {
	t.Helper()
	return startServe(t, name, append([]string{"--cluster", "--journal", "memory", "--cluster-port", "0", "--cluster-name", "test", "--log-level", "warn"}, args...)...)
}

// startServe starts `tasktail serve` on 127.0.0.1:0 with args and returns it once it
// prints its HTTP address. It is killed when the test ends; its log is shown if the test
// failed.
func startServe(t *testing.T, name string, args ...string) *member {
	t.Helper()
	cmd := exec.Command(tasktailBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(cmd.Environ(), "TASKTAIL_DATA_DIR="+t.TempDir()) // a journal of its own, when it keeps one
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	m := &member{cmd: cmd, exited: make(chan error, 1), stderr: &syncBuffer{}}
	cmd.Stderr = m.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if found := listening.FindStringSubmatch(sc.Text()); found != nil {
				base <- found[1]
			}
		}
		m.exited <- cmd.Wait()
	}()
	m.service = &service{t: t, client: newClient()}
	t.Cleanup(func() {
		m.client.CloseIdleConnections()
		_ = cmd.Process.Kill()
		err := <-m.exited
		m.exited <- err
		if strings.Contains(m.stderr.String(), "WARNING: DATA RACE") { // built with TASKTAIL_TEST_BUILD_FLAGS=-race
			t.Errorf("member %s found a data race", name)
		}
		if t.Failed() {
			t.Logf("member %s log:\n%s", name, m.stderr)
		}
	})
	select {
	case m.base = <-base:
	case err := <-m.exited:
		t.Fatalf("member %s exited: %v\n%s", name, err, m.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("member %s did not print its address\n%s", name, m.stderr)
	}
	return m
}

// readyz returns the member's readiness answer.
func (m *member) readyz() (ok bool, self string, members []string) {
	resp, err := m.client.Get(m.base + "/readyz")
	if err != nil {
		return false, "", nil
	}
	defer resp.Body.Close()
	var body struct {
		Member  string   `json:"member"`
		Members []string `json:"members"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode == http.StatusOK, body.Member, body.Members
}

// readiness returns the member's readiness status and body (0 when it does not answer).
func (m *member) readiness() (int, string) {
	resp, err := m.client.Get(m.base + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// awaitMembers waits until every member in ms is ready and sees exactly len(ms) members.
func awaitMembers(t *testing.T, ms ...*member) {
	t.Helper()
	for _, m := range ms {
		await(t, fmt.Sprintf("member %s sees %d members", m.base, len(ms)), func() bool {
			ok, self, members := m.readyz()
			m.address = self
			return ok && len(members) == len(ms)
		})
	}
}

// startCluster starts three members that find each other with provider.
func startCluster(t *testing.T, provider string) []*member {
	t.Helper()
	names := []string{"a", "b", "c"}
	ms := make([]*member, len(names))
	switch provider {
	case "etcd":
		etcd := startEtcd(t)
		for i, name := range names {
			ms[i] = startMember(t, name, "--cluster-provider", "etcd", "--etcd-endpoints", etcd)
		}
	case "automanaged":
		addrs := make([]string, len(names))
		for i := range addrs {
			addrs[i] = "127.0.0.1:" + strconv.Itoa(freePort(t))
		}
		peers := addrs[0] + "," + addrs[1] + "," + addrs[2]
		for i, name := range names {
			ms[i] = startMember(t, name, "--cluster-provider", "automanaged", "--automanaged-addr", addrs[i], "--cluster-peers", peers)
		}
	}
	awaitMembers(t, ms...)
	return ms
}

// ownedBy publishes one message to new task_ids through via until it has n tasks that
// live on owner, and returns them.
func ownedBy(t *testing.T, via, owner *member, prefix string, n int) []string {
	t.Helper()
	var out []string
	for i := 0; len(out) < n; i++ {
		if i > 200 {
			t.Fatalf("no task of 200 lives on %s", owner.address)
		}
		id := fmt.Sprintf("%s-%d", prefix, i)
		via.publish(id, "info", "m1", 0, false)
		if st := via.status(id); st.body["member"] == owner.address {
			out = append(out, id)
		}
	}
	return out
}

// tryPublish publishes message to taskID through m, for goroutines and retry loops.
func (m *member) tryPublish(taskID, message string) (int, error) {
	b, _ := json.Marshal(map[string]any{"level": "info", "message": message})
	resp, err := m.client.Post(m.base+"/v1/tasks/"+taskID+"/logs", "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// publishUntilAccepted publishes through m until the publish is accepted and returns how
// long that took.
func (m *member) publishUntilAccepted(t *testing.T, taskID, message string, bound time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for time.Since(began) < bound {
		if code, _ := m.tryPublish(taskID, message); code == http.StatusAccepted {
			return time.Since(began)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("publish to %s through %s not accepted within %v", taskID, m.base, bound)
	return 0
}

// Publish on A, viewer on C, task owned by B: every message arrives, in order.
func TestClusterCrossMemberDelivery(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, "etcd")
	a, b, c := ms[0], ms[1], ms[2]
	id := ownedBy(t, a, b, "cross", 1)[0]
	v := c.watch(id, "since=0")
	v.hello()
	v.logs(1)
	for i := 2; i <= 200; i++ {
		a.publish(id, "info", "m"+strconv.Itoa(i), 0, false)
	}
	for i, f := range v.logs(199) {
		if f.Seq != uint64(i+2) || f.Message != "m"+strconv.Itoa(i+2) {
			t.Fatalf("frame %d: seq %d %q, want %d", i, f.Seq, f.Message, i+2)
		}
	}
	// Each member's metrics name it, count the members, and count the tasks living on it.
	text := b.metrics()
	for _, want := range []string{`tasktail_cluster_members{member="` + b.address + `"} 3`, `tasktail_tasks_live{member="` + b.address + `"} 1`} {
		if !strings.Contains(text, want) {
			t.Errorf("B's /metrics lacks %s", want)
		}
	}
	// Status and delete answer from any member.
	if st := c.status(id); st.num("last_seq") != 200 || st.body["member"] != b.address {
		t.Fatalf("status through C: %v", st.body)
	}
	if r := c.do(http.MethodDelete, "/v1/tasks/"+id, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete through C: %d", r.status)
	}
	if code, reason := v.closed(); code != websocket.StatusNormalClosure || reason != "task deleted" {
		t.Fatalf("viewer closed with %d %q, want 1000 task deleted", code, reason)
	}
	if st := a.status(id); st.status != http.StatusNotFound {
		t.Fatalf("status after delete through A: %d %v", st.status, st.body)
	}
}

// 200 tasks over the members, viewers and publishers on random members: nothing is lost
// or reordered.
func TestClusterManyTasks(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, "etcd")
	const tasks, perTask = 200, 20
	rng := rand.New(rand.NewPCG(1, 2))
	viewers := make([]*viewer, tasks)
	for i := range viewers {
		viewers[i] = ms[rng.IntN(len(ms))].watch("many-"+strconv.Itoa(i), "")
		viewers[i].hello()
	}
	errs := make(chan error, tasks)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := w; i < tasks; i += 8 {
				for n := 1; n <= perTask; n++ {
					via := ms[rng.IntN(len(ms))]
					if code, err := via.tryPublish("many-"+strconv.Itoa(i), "m"+strconv.Itoa(n)); code != http.StatusAccepted {
						errs <- fmt.Errorf("publish task %d msg %d through %s: %d %v", i, n, via.base, code, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	owners := map[string]int{}
	for i, v := range viewers {
		for n, f := range v.logs(perTask) {
			if f.Seq != uint64(n+1) || f.Message != "m"+strconv.Itoa(n+1) {
				t.Fatalf("task %d frame %d: seq %d %q", i, n, f.Seq, f.Message)
			}
		}
		owner, _ := ms[0].status("many-" + strconv.Itoa(i)).body["member"].(string)
		owners[owner]++
	}
	if len(owners) != len(ms) {
		t.Fatalf("tasks live on %v, want all %d members", owners, len(ms))
	}
	t.Logf("tasks per member: %v", owners)
	// The task list, asked of any member, gathers every member's tasks.
	for _, m := range ms {
		page, status := m.list("", "prefix=many-&limit=500")
		listed := map[string]bool{}
		for _, task := range page.Tasks {
			listed[task.TaskID] = task.LastSeq == perTask
		}
		if status != http.StatusOK || len(listed) != tasks {
			t.Fatalf("the list through %s: %d, %d tasks, want %d", m.base, status, len(listed), tasks)
		}
		for id, complete := range listed {
			if !complete {
				t.Fatalf("the list through %s: %s without its %d messages", m.base, id, perTask)
			}
		}
	}
	// Page by page, merged from every member's pages: each task once, newest first.
	seen, cursor, last := map[string]bool{}, "", time.Time{}
	for pages := 0; ; pages++ {
		page, status := ms[pages%len(ms)].list("", "prefix=many-&limit=30&cursor="+url.QueryEscape(cursor))
		if status != http.StatusOK || pages > tasks/30+1 {
			t.Fatalf("page %d: %d", pages, status)
		}
		for _, task := range page.Tasks {
			at, err := time.Parse(time.RFC3339Nano, task.LastActive)
			if err != nil || seen[task.TaskID] || !last.IsZero() && at.After(last) {
				t.Fatalf("page %d: %s listed twice or out of order (%s after %s, %v)", pages, task.TaskID, task.LastActive, last, err)
			}
			seen[task.TaskID], last = true, at
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != tasks {
		t.Fatalf("paged through %d tasks, want %d", len(seen), tasks)
	}
}

// SIGTERM a member: its viewers get 1001, resume on another member, and publishing to
// its tasks works again.
func TestClusterGracefulLeave(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, "etcd")
	a, b, c := ms[0], ms[1], ms[2]
	ids := ownedBy(t, a, b, "leave", 2)
	onB := b.watch(ids[0], "since=0") // a viewer on the member that leaves
	onC := c.watch(ids[1], "since=0") // a viewer elsewhere of a task that moves
	kept := ownedBy(t, a, c, "stay", 1)[0]
	onA := a.watch(kept, "since=0") // a task that does not move
	hellos := map[string]string{}
	for id, v := range map[string]*viewer{ids[0]: onB, ids[1]: onC, kept: onA} {
		hellos[id] = v.hello().Epoch
		v.logs(1)
	}

	began := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*viewer{onB, onC} {
		if code, _ := v.closed(); code != websocket.StatusGoingAway {
			t.Fatalf("viewer closed with %d, want 1001", code)
		}
	}
	closedAfter := time.Since(began)
	took := a.publishUntilAccepted(t, ids[0], "after", 15*time.Second)
	t.Logf("viewers closed %v after SIGTERM; publishing to a moved task worked again %v after SIGTERM",
		closedAfter.Round(time.Millisecond), (closedAfter + took).Round(time.Millisecond))
	select {
	case err := <-b.exited:
		b.exited <- err
		if err != nil {
			t.Fatalf("leaving member exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("leaving member did not exit within 15 s of SIGTERM")
	}

	// The viewer resumes on A: the task restarted there, so it sees a new epoch, a gap for
	// what the old incarnation had, and the new message.
	v := a.watch(ids[0], "since=1&epoch="+hellos[ids[0]])
	if h := v.hello(); h.Epoch == hellos[ids[0]] {
		t.Fatalf("hello after the move has the old epoch %s", h.Epoch)
	}
	if g := v.next(); g.Type != "gap" || g.Reason != "epoch" || g.FromSeq != 2 {
		t.Fatalf("after the move: %+v, want an epoch gap from 2", g)
	}
	if f := v.logs(1)[0]; f.Message != "after" {
		t.Fatalf("after the move: %+v", f)
	}
	// The task that stayed kept its viewer and its epoch.
	a.publish(kept, "info", "m2", 0, false)
	if f := onA.logs(1)[0]; f.Seq != 2 {
		t.Fatalf("task that stayed: %+v", f)
	}
	awaitMembers(t, a, c)
	// A clean leave is an expected event: no member logs an error for it, and each that
	// stays says once that b left.
	for name, m := range map[string]*member{"a": a, "b (leaving)": b, "c": c} {
		if errs := grepLines(m.stderr.String(), "level=ERROR"); errs != "" {
			t.Errorf("member %s logged errors for a clean leave:\n%s", name, errs)
		}
	}
	for name, m := range map[string]*member{"a": a, "c": c} {
		if n := strings.Count(m.stderr.String(), `msg="a member left the cluster; its tasks start again on the others" member=`+b.address); n != 1 {
			t.Errorf("member %s said %d times that b left, want once:\n%s", name, n, m.stderr)
		}
	}
}

// SIGKILL a member, with etcd and with the automanaged provider.
func TestClusterMemberCrashEtcd(t *testing.T)        { testMemberCrash(t, "etcd") }
func TestClusterMemberCrashAutomanaged(t *testing.T) { testMemberCrash(t, "automanaged") }

// testMemberCrash kills a member: no other process fails, tasks on the survivors keep
// taking publishes and delivering them throughout, and the lost member's tasks come back
// on a survivor with a new epoch, which their viewers see with a gap.
func testMemberCrash(t *testing.T, provider string) {
	t.Parallel()
	ms := startCluster(t, provider)
	a, b, c := ms[0], ms[1], ms[2]
	lost := ownedBy(t, a, b, "lost", 1)
	survivors := append(ownedBy(t, b, a, "on-a", 2), ownedBy(t, b, c, "on-c", 2)...)
	lostViewer := c.watch(lost[0], "since=0")
	epoch := lostViewer.hello().Epoch
	lostViewer.logs(1)
	survivorViewers := make([]*viewer, len(survivors))
	for i, id := range survivors {
		survivorViewers[i] = ms[2*(i%2)].watch(id, "since=0") // on A and C
		survivorViewers[i].hello()
		survivorViewers[i].logs(1)
	}

	// Publish to the survivors' tasks all through the crash and its recovery.
	stop := make(chan struct{})
	published := make([]atomic.Int64, len(survivors)) // last message number accepted per task
	failed := make(chan error, len(survivors))
	var wg sync.WaitGroup
	for i, id := range survivors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			via := ms[2*((i+1)%2)]
			for n := 2; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				began := time.Now()
				code, err := via.tryPublish(id, "m"+strconv.Itoa(n))
				if code != http.StatusAccepted {
					failed <- fmt.Errorf("survivor task %s message %d: %d %v", id, n, code, err)
					return
				}
				if d := time.Since(began); d > time.Second {
					failed <- fmt.Errorf("survivor task %s message %d took %v", id, n, d)
					return
				}
				published[i].Store(int64(n))
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}

	await(t, "survivors' publishing under way before the crash", func() bool {
		for i := range published {
			if published[i].Load() < 5 {
				return false
			}
		}
		return true
	})
	began := time.Now()
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if code, _ := lostViewer.closed(); code != websocket.StatusGoingAway {
		t.Fatalf("viewer of a lost task closed with %d, want 1001", code)
	}
	viewerClosed := time.Since(began)
	took := a.publishUntilAccepted(t, lost[0], "after", 20*time.Second)
	recovered := time.Since(began)
	t.Logf("%s: viewer of a lost task closed %v after SIGKILL; its task accepted publishes again %v after SIGKILL (retrying %v)",
		provider, viewerClosed.Round(time.Millisecond), recovered.Round(time.Millisecond), took.Round(time.Millisecond))
	// The etcd bound is the lease (--cluster-lease-ttl 1s) and etcd's expiry check; the
	// automanaged provider's is its 1 s health poll.
	if bound := 1500 * time.Millisecond; recovered > bound {
		t.Errorf("recovery took %v, documented bound %v", recovered, bound)
	}
	close(stop)
	wg.Wait()
	close(failed)
	for err := range failed {
		t.Error(err)
	}

	// The survivors' viewers got every message, in order, and stayed connected.
	for i, v := range survivorViewers {
		for n, f := range v.logs(int(published[i].Load()) - 1) {
			if f.Seq != uint64(n+2) {
				t.Fatalf("survivor task %s: seq %d, want %d", survivors[i], f.Seq, n+2)
			}
		}
	}
	// The lost task's viewer resumes on C and learns what it lost.
	v := c.watch(lost[0], "since=1&epoch="+epoch)
	if h := v.hello(); h.Epoch == epoch {
		t.Fatal("the lost task came back with its old epoch")
	}
	if g := v.next(); g.Type != "gap" || g.Reason != "epoch" {
		t.Fatalf("after the crash: %+v, want an epoch gap", g)
	}
	if f := v.logs(1)[0]; f.Message != "after" {
		t.Fatalf("after the crash: %+v", f)
	}
	// No other process failed, and the two left see each other.
	for _, m := range []*member{a, c} {
		select {
		case err := <-m.exited:
			t.Fatalf("member %s exited: %v", m.base, err)
		default:
		}
	}
	awaitMembers(t, a, c)
	// A peer's death is an expected event: the survivors log it once, and no error.
	for _, m := range []*member{a, c} {
		if errs := grepLines(m.stderr.String(), "level=ERROR"); errs != "" {
			t.Errorf("member %s logged errors for a peer's death:\n%s", m.base, errs)
		}
		if n := strings.Count(m.stderr.String(), `msg="a member left the cluster; its tasks start again on the others" member=`+b.address); n != 1 {
			t.Errorf("member %s said %d times that b left, want once:\n%s", m.base, n, m.stderr)
		}
	}
}

// A member whose settings cannot work says why and exits.
func TestClusterStartupErrors(t *testing.T) {
	t.Parallel()
	s := &service{t: t, base: "http://127.0.0.1:1"}
	tasktailBinary(t) // built before the clock starts
	unused := "127.0.0.1:" + strconv.Itoa(freePort(t))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster-provider", "consul"}, `cluster provider "consul"`},
		{[]string{"--cluster-provider", "automanaged", "--cluster-peers", unused}, "must list this member's"},
		{[]string{"--cluster-host", "0.0.0.0"}, "set the advertised address"},
	} {
		began := time.Now()
		_, stderr, code := s.cli("", append([]string{"serve", "--addr", "127.0.0.1:0", "--cluster", "--journal", "memory", "--cluster-port", "0"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
		if d := time.Since(began); d > 8*time.Second {
			t.Errorf("serve %v took %v to give up", tc.args, d)
		}
	}
}

// SIGTERM ends a member within --shutdown-timeout even when etcd is gone: it says in one
// line what did not finish, and exits non-zero.
func TestClusterShutdownWithEtcdDown(t *testing.T) {
	t.Parallel()
	etcd, killEtcd := startEtcdKillable(t)
	m := startMember(t, "lone", "--cluster-provider", "etcd", "--etcd-endpoints", etcd, "--shutdown-timeout", "2s")
	awaitMembers(t, m)
	killEtcd()
	began := time.Now()
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-m.exited:
		m.exited <- err
		took := time.Since(began)
		if took > 4*time.Second {
			t.Fatalf("exited %v after SIGTERM; --shutdown-timeout is 2s", took)
		}
		if err == nil {
			t.Fatal("exited 0 though the shutdown did not finish")
		}
		t.Logf("exited %v after SIGTERM: %v; stderr:\n%s", took, err, m.stderr)
		if n := strings.Count(m.stderr.String(), "did not finish"); n != 1 {
			t.Fatalf("%d lines say what did not finish, want 1:\n%s", n, m.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20 s after SIGTERM with etcd down\n%s", m.stderr)
	}
}

// A member started while etcd is down waits for it, not ready and saying why, instead of
// exiting; once etcd answers it registers and serves.
func TestClusterMemberWaitsForEtcd(t *testing.T) {
	t.Parallel()
	e := &etcdProcess{t: t, dir: t.TempDir(), logs: &syncBuffer{}}
	e.client, e.peer = "http://127.0.0.1:"+strconv.Itoa(freePort(t)), "http://127.0.0.1:"+strconv.Itoa(freePort(t))
	t.Cleanup(e.kill)
	m := startMember(t, "early", "--cluster-provider", "etcd", "--etcd-endpoints", e.client)
	await(t, "readiness says the member waits for etcd", func() bool {
		code, body := m.readiness()
		return code == http.StatusServiceUnavailable && strings.Contains(body, "registering with etcd")
	})
	if code, _ := m.tryPublish("early-task", "m1"); code != http.StatusServiceUnavailable {
		t.Fatalf("a publish to a member that is not registered yet: %d, want 503", code)
	}
	select {
	case err := <-m.exited:
		t.Fatalf("the member exited while etcd was down: %v\n%s", err, m.stderr)
	default:
	}
	e.start(true)
	awaitMembers(t, m)
	m.publishUntilAccepted(t, "early-task", "m1", 10*time.Second)
}

// SIGSTOP of a member past its lease, then SIGCONT: readiness answers 503 at once, the
// member closes its viewers with 1001 and joins again as a new member by itself, with no
// supervisor, and serves again; its viewers resume on another member and get every
// acknowledged message, once, in order.
func TestClusterPausedMemberRejoins(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, "etcd")
	a, b, c := ms[0], ms[1], ms[2]
	tasks := ownedBy(t, c, a, "paused", 2) // each has "m1"
	viewers := make([]*viewer, len(tasks))
	for i, id := range tasks {
		viewers[i] = b.watch(id, "since=0") // viewers on the member that will pause
		viewers[i].hello()
		viewers[i].logs(1)
	}
	stop := make(chan struct{})
	acked := make([]atomic.Int64, len(tasks)) // the last message number acknowledged
	var wg sync.WaitGroup
	for i, id := range tasks {
		acked[i].Store(1)
		wg.Go(func() {
			for n := 2; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				msg := "m" + strconv.Itoa(n)
				for !publishKeyed(c, id, msg, id+"/"+msg) {
				}
				acked[i].Store(int64(n))
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	await(t, "publishing under way", func() bool { return acked[0].Load() > 10 && acked[1].Load() > 10 })
	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // the fault itself: a pause twice etcd's 2 s lease
	// A client that waits on the paused member's readiness gets its answer first thing.
	type answer struct {
		code int
		body string
	}
	first := make(chan answer, 1)
	go func() { code, body := b.readiness(); first <- answer{code, body} }()
	time.Sleep(50 * time.Millisecond) // the request is in the paused process's socket
	if err := b.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	if r := <-first; r.code != http.StatusServiceUnavailable {
		t.Fatalf("readiness answered %d %s right after the pause, want 503", r.code, r.body)
	}
	t.Logf("readiness answered 503 %v after SIGCONT", time.Since(resumed).Round(time.Millisecond))
	for began := time.Now(); ; {
		if ok, _, members := b.readyz(); ok && len(members) == 3 {
			break
		}
		if time.Since(began) > 10*time.Second {
			_ = b.cmd.Process.Signal(syscall.SIGQUIT) // Go prints every goroutine
			time.Sleep(time.Second)
			t.Fatalf("the paused member does not serve again 10 s after SIGCONT; its log and goroutines:\n%s", b.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the paused member serves again %v after SIGCONT", time.Since(resumed).Round(time.Millisecond))
	// The new member may serve a moment before the line that says it rejoined is written.
	awaitWithin(t, 5*time.Second, "the paused member's log says it was fenced and rejoined", func() bool {
		return strings.Contains(b.stderr.String(), "fenced") && strings.Contains(b.stderr.String(), "rejoined the cluster as a new member")
	})
	select {
	case err := <-b.exited:
		t.Fatalf("the paused member exited: %v", err)
	default:
	}
	close(stop)
	wg.Wait()
	// Each viewer's connection ended with 1001; it resumes on another member with what it
	// saw.
	for i, id := range tasks {
		var seen []client.Event
		for {
			fe := <-viewers[i].frames
			if fe.err != nil {
				if websocket.CloseStatus(fe.err) != websocket.StatusGoingAway {
					t.Fatalf("a viewer of the paused member ended with %v, want 1001", fe.err)
				}
				break
			}
			if fe.f.Type == "log" {
				seen = append(seen, fe.f)
			}
		}
		last := uint64(1)
		if len(seen) > 0 {
			last = seen[len(seen)-1].Seq
		}
		v := c.watch(id, "since="+strconv.FormatUint(last, 10))
		v.hello()
		rest := v.logs(int(acked[i].Load()) - int(last))
		all := append(seen, rest...)
		for n, f := range all {
			if f.Seq != uint64(n+2) || f.Message != "m"+strconv.Itoa(n+2) {
				t.Fatalf("%s: message %d is seq %d %q, want every acknowledged message once, in order", id, n, f.Seq, f.Message)
			}
		}
	}
	// The member that rejoined takes tasks of its own again.
	ownedBy(t, a, b, "back", 1)
	awaitMembers(t, a, b, c)
}

// Kill -9 a member and start it again at the same addresses, ten times, while viewers on
// it watch tasks on the others and more keep connecting to it up to its death: after each
// round no task counts a viewer that is gone (a ghost subscriber would take the queue's
// messages for a connection nobody holds).
func TestClusterNoGhostSubscribers(t *testing.T) {
	t.Parallel()
	etcd := startEtcd(t)
	a := startMember(t, "a", "--cluster-provider", "etcd", "--etcd-endpoints", etcd)
	c := startMember(t, "c", "--cluster-provider", "etcd", "--etcd-endpoints", etcd)
	httpAddr, clusterPort := "127.0.0.1:"+strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	startB := func() *member {
		return startServe(t, "b", "--cluster", "--journal", "memory", "--cluster-name", "test", "--log-level", "warn",
			"--addr", httpAddr, "--cluster-port", clusterPort, "--cluster-provider", "etcd", "--etcd-endpoints", etcd)
	}
	b := startB()
	awaitMembers(t, a, b, c)
	tasks := append(ownedBy(t, a, a, "ghost-a", 2), ownedBy(t, a, c, "ghost-c", 2)...)
	steady := make([]*viewer, len(tasks)) // a viewer on A of each task, which stays
	for i, id := range tasks {
		steady[i] = a.watch(id, "since=0")
		steady[i].hello()
	}
	for round := 1; round <= 10; round++ {
		for _, id := range tasks {
			b.watch(id, "since=0").hello() // a viewer on B of each task
		}
		for _, id := range tasks {
			await(t, "two viewers of "+id, func() bool { return a.status(id).num("subscribers") == 2 })
		}
		// Viewers keep connecting to B up to its death, so that some Subscribes are still
		// on their way when it dies.
		stop, connecting := make(chan struct{}), make(chan struct{})
		var dialled atomic.Int64
		go func() {
			defer close(connecting)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.base, "http")+"/v1/tasks/"+tasks[i%len(tasks)]+"/ws", nil)
				cancel()
				if err == nil {
					defer c.CloseNow()
				}
				dialled.Add(1)
			}
		}()
		killAt := int64(1 + rand.IntN(30)) // a random moment of the connecting
		await(t, "viewers connecting to B", func() bool { return dialled.Load() >= killAt })
		if err := b.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		b.exited <- <-b.exited // seen, and left for its cleanup
		close(stop)
		<-connecting
		b = startB()
		awaitMembers(t, a, b, c)
		for _, id := range tasks {
			for _, via := range []*member{a, b, c} {
				await(t, fmt.Sprintf("round %d: %s counts only the viewer on A (asked through %s)", round, id, via.base), func() bool {
					return via.status(id).num("subscribers") == 1
				})
			}
		}
	}
	// The viewers that stayed got everything, once.
	for i, id := range tasks {
		a.publish(id, "info", "after ten rounds", 0, false)
		if l := steady[i].logs(2); l[1].Message != "after ten rounds" {
			t.Fatalf("%s: the steady viewer got %+v", id, l)
		}
	}
}

// A member that restarts at its address registers before its former self's lease has
// expired. The others replace the former self with it at once, and its viewers must not be
// cut off when that lease ends: the library ends every watch of an address when a member
// there leaves, so a viewer on the new process of a task on another member was dropped by
// its task and sent nothing more, with its connection open. (A viewer may still be told to
// go once, 1001, and resume: the library also ends the watches of an address when a
// connection attempt to it from before the restart gives up.)
func TestClusterMemberBackAtItsAddressKeepsItsViewers(t *testing.T) {
	t.Parallel()
	etcd := startEtcd(t)
	flags := []string{"--cluster-provider", "etcd", "--etcd-endpoints", etcd, "--cluster-lease-ttl", "4s"}
	// a and c log topology changes (info), so the test can tell when they have seen B's
	// new process.
	info := append([]string{"--cluster", "--journal", "memory", "--cluster-port", "0", "--cluster-name", "test", "--log-level", "info"}, flags...)
	a, c := startServe(t, "a", info...), startServe(t, "c", info...)
	httpAddr, clusterPort := "127.0.0.1:"+strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	startB := func() *member {
		return startServe(t, "b", append([]string{"--cluster", "--journal", "memory", "--cluster-name", "test", "--log-level", "warn",
			"--addr", httpAddr, "--cluster-port", clusterPort}, flags...)...)
	}
	b := startB()
	awaitMembers(t, a, b, c)
	tasks := append(ownedBy(t, a, a, "back-a", 1), ownedBy(t, a, c, "back-c", 1)...)
	joinedLine := `msg="a member joined the cluster" member=` + b.address
	joined := func(m *member) int { return strings.Count(m.stderr.String(), joinedLine) }
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	b.exited <- <-b.exited
	b = startB()
	await(t, "A and C see B's new process", func() bool { return joined(a) == 2 && joined(c) == 2 })
	etc := etcdClient(t, etcd)
	keys := func() int64 {
		resp, err := etc.Get(context.Background(), "/tasktail/test/members/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Count
	}
	// The former self is gone from the topology at once: replaced by the younger key at
	// its address, or its key deleted when its port was found refusing connections, long
	// before its lease ends.
	for _, m := range []*member{a, c} {
		if _, _, members := m.readyz(); len(members) != 3 || !slices.Contains(members, "127.0.0.1:"+clusterPort) {
			t.Fatalf("%s lists %v while etcd holds %d member keys: want the former self replaced, before its lease ends", m.base, members, keys())
		}
	}
	cli, err := client.New(b.base, nil)
	if err != nil {
		t.Fatal(err)
	}
	tails := make([]chan client.Event, len(tasks))
	streams := make([]*client.Stream, len(tasks))
	for i, id := range tasks {
		ctx, cancel := contextWithCancel()
		t.Cleanup(cancel)
		s, err := cli.Tail(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		streams[i], tails[i] = s, make(chan client.Event, 16)
		go func() {
			for {
				ev, err := s.Next()
				if err != nil {
					close(tails[i])
					return
				}
				tails[i] <- ev
			}
		}()
		expectMessage(t, tails[i], "m1")
	}
	await(t, "the former self's key is gone", func() bool { return keys() == 3 })
	for i, id := range tasks {
		a.publish(id, "info", "after the lease", 0, false)
		expectMessage(t, tails[i], "after the lease")
		t.Logf("%s: the viewer on the new process resumed %d times", id, streams[i].Reconnects())
	}
}

// expectMessage reads events until a log line with message arrives.
func expectMessage(t *testing.T, events <-chan client.Event, message string) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the stream ended before %q", message)
			}
			if ev.Type == "log" && ev.Message == message {
				return
			}
		case <-deadline:
			t.Fatalf("%q not received within %v", message, wait)
		}
	}
}

// etcdClient is a client of the test's etcd.
func etcdClient(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
