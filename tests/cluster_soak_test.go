package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tasktail/tasktail/client"
	"github.com/tasktail/tasktail/internal/pgserver"
)

// The cluster soak: three members sharing a PostgreSQL journal, found through etcd with
// its default settings, under faults drawn at random one after another (SIGKILL, SIGTERM,
// SIGSTOP for 1-15 s, PostgreSQL stopped for 5 s, etcd stopped for 10 s), while producers
// publish with idempotency keys through any member and resuming viewers watch through
// any member. It must end with nothing lost, nothing stored or shown twice, every task
// taking publishes and every member ready. TASKTAIL_CLUSTER_SOAK sets its length (60 s
// in make test, 10 min in make soak); TASKTAIL_CLUSTER_SOAK_SEED replays a run.

// soakCluster is the members of the soak, replaced as they are killed and started again.
type soakCluster struct {
	t    *testing.T
	args []string
	mu   sync.Mutex
	ms   [3]*member
	down [3]bool // faulted: producers and viewers keep away
}

// any returns a member that is not faulted.
func (c *soakCluster) any() *member {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		i := rand.IntN(3)
		if !c.down[i] {
			return c.ms[i]
		}
	}
}

func (c *soakCluster) setDown(i int, down bool) {
	c.mu.Lock()
	c.down[i] = down
	c.mu.Unlock()
}

func (c *soakCluster) start(i int, name string) {
	m := startMember(c.t, name, c.args...)
	c.mu.Lock()
	c.ms[i] = m
	c.mu.Unlock()
}

func (c *soakCluster) members() []*member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return []*member{c.ms[0], c.ms[1], c.ms[2]}
}

// soakViewer watches a task through any member, resuming after the last seq it saw on
// another member whenever its connection ends. It records the messages it was shown and
// every gap.
type soakViewer struct {
	task string
	mu   sync.Mutex
	seen []string
	gaps []client.Event
	bad  []string // frames out of order
}

func (v *soakViewer) watch(ctx context.Context, c *soakCluster) {
	var epoch string
	for ctx.Err() == nil {
		m := c.any()
		v.mu.Lock()
		since := len(v.seen)
		v.mu.Unlock()
		u := "ws" + m.base[len("http"):] + "/v1/tasks/" + v.task + "/ws?since=" + strconv.Itoa(since)
		if epoch != "" {
			u += "&epoch=" + epoch
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, _, err := websocket.Dial(dctx, u, nil)
		cancel()
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		conn.SetReadLimit(1 << 20)
		for {
			_, raw, err := conn.Read(ctx)
			if err != nil {
				break
			}
			ev, err := client.ParseEvent(raw)
			if err != nil {
				break
			}
			v.mu.Lock()
			switch ev.Type {
			case "hello":
				epoch = ev.Epoch
			case "gap":
				v.gaps = append(v.gaps, ev)
			case "log":
				if ev.Seq == uint64(len(v.seen)+1) {
					v.seen = append(v.seen, ev.Message)
				} else if ev.Seq > uint64(len(v.seen)+1) {
					v.bad = append(v.bad, fmt.Sprintf("seq %d after %d", ev.Seq, len(v.seen)))
				}
			}
			v.mu.Unlock()
		}
		conn.CloseNow()
	}
}

func (v *soakViewer) count() int { v.mu.Lock(); defer v.mu.Unlock(); return len(v.seen) }

func soakLength(t *testing.T) time.Duration {
	d := 60 * time.Second
	if s := os.Getenv("TASKTAIL_CLUSTER_SOAK"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatalf("TASKTAIL_CLUSTER_SOAK=%q: %v", s, err)
		}
	}
	return d
}

func TestClusterSoakUnderFaults(t *testing.T) {
	t.Parallel()
	length := soakLength(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TASKTAIL_CLUSTER_SOAK_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (TASKTAIL_CLUSTER_SOAK_SEED replays the faults), %v", seed, length)
	rng := rand.New(rand.NewPCG(seed, seed))

	db, err := pgserver.Start() // a database of its own: the soak stops it
	if err != nil {
		if os.Getenv("CI") != "true" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	t.Cleanup(db.Stop)
	e := newEtcd(t)
	c := &soakCluster{t: t, args: []string{"--cluster-provider", "etcd", "--etcd-endpoints", e.client,
		"--journal", "postgres", "--postgres-url", db.URL, "--shutdown-timeout", "3s"}}
	for i := range 3 {
		c.start(i, fmt.Sprintf("%c", 'a'+i))
	}
	awaitMembers(t, c.members()...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var producers []*producer
	var viewers []*soakViewer
	var watching sync.WaitGroup
	for i := range 6 {
		task := "soak-" + strconv.Itoa(i)
		producers = append(producers, startProducer(task, 25*time.Millisecond, c.any))
		v := &soakViewer{task: task}
		viewers = append(viewers, v)
		watching.Go(func() { v.watch(ctx, c) })
	}
	defer func() { cancel(); watching.Wait() }()
	await(t, "publishing under way", func() bool { return producers[0].count() > 5 })

	faults := map[string]int{}
	for end := time.Now().Add(length); time.Now().Before(end); {
		i := rng.IntN(3)
		victim := c.members()[i]
		kind := []string{"SIGKILL", "SIGTERM", "SIGSTOP", "postgres", "etcd"}[rng.IntN(5)]
		faults[kind]++
		began := time.Now()
		switch kind {
		case "SIGKILL", "SIGTERM":
			c.setDown(i, true)
			sig := map[string]syscall.Signal{"SIGKILL": syscall.SIGKILL, "SIGTERM": syscall.SIGTERM}[kind]
			if err := victim.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-victim.exited:
				victim.exited <- err
			case <-time.After(30 * time.Second):
				t.Fatalf("member %s still runs 30 s after %s", victim.base, kind)
			}
			c.start(i, fmt.Sprintf("%c%d", 'a'+i, faults[kind]))
		case "SIGSTOP":
			c.setDown(i, true)
			pause := time.Second + time.Duration(rng.Int64N(int64(14*time.Second)))
			if err := victim.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			time.Sleep(pause)
			if err := victim.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
		case "postgres":
			db.Halt()
			time.Sleep(5 * time.Second)
			if err := db.Resume(); err != nil {
				t.Fatal(err)
			}
		case "etcd":
			e.kill()
			time.Sleep(10 * time.Second)
			e.start(true)
		}
		awaitWithin(t, 30*time.Second, "every member ready after "+kind, func() bool {
			for _, m := range c.members() {
				if ok, _, members := m.readyz(); !ok || len(members) != 3 {
					return false
				}
			}
			return true
		})
		c.setDown(i, false)
		t.Logf("%s of member %d: all ready again %v after it began", kind, i, time.Since(began).Round(time.Millisecond))
	}

	// Every task takes publishes after the last fault.
	healed := time.Now()
	for _, p := range producers {
		awaitWithin(t, 10*time.Second, p.task+" takes publishes after the faults", func() bool {
			_, ok := p.ackedAfter(healed)
			return ok
		})
		p.halt()
	}
	ms := c.members()
	total := 0
	for i, p := range producers {
		p.checkStored(t, ms[i%3])
		v := viewers[i]
		awaitWithin(t, 15*time.Second, v.task+"'s viewer has every message", func() bool { return v.count() >= p.count() })
		v.mu.Lock()
		if len(v.gaps) > 0 || len(v.bad) > 0 {
			t.Errorf("%s: the viewer got gaps %+v and frames out of order %v", v.task, v.gaps, v.bad)
		}
		for n, msg := range v.seen {
			if n >= len(p.acked) || msg != p.acked[n] {
				t.Fatalf("%s: the viewer's message %d is %q, want the acknowledged ones in order", v.task, n+1, msg)
			}
		}
		v.mu.Unlock()
		total += p.count()
	}
	for _, m := range ms {
		if code, body := m.readiness(); code != http.StatusOK {
			t.Errorf("member %s not ready at the end: %s", m.base, body)
		}
	}
	t.Logf("faults %v; %d messages acknowledged, each stored and shown once, in order", faults, total)
}
