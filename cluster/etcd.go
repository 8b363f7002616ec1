package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// etcdMembership is tasktail's cluster provider on etcd. Each member holds one key,
// <prefix><member id>, on a lease of ttl that the etcd client keeps alive (every third of
// the TTL etcd granted): a member that dies is gone from every member's topology that long
// after its last keep-alive, or at once when a member finds its cluster port refusing
// connections (evict). The rules of membership (docs/design.md, "Cluster"):
//   - A member registers in the background, and tries again until etcd answers: one
//     started while etcd is down waits, not ready, instead of exiting.
//   - When keep-alives stop being answered, the member asks etcd about its lease. A lease
//     that is gone means the others dropped it and hold its id blocked: it is fenced, and
//     the Manager's owner starts it again as a new member (Manager.Rejoin).
//   - When etcd does not answer, a member whose journal fences stale writes (PostgreSQL)
//     serves on with the last topology it saw, says so in readiness, and takes up its
//     lease again when etcd is back. One whose journal does not fence is fenced: the others
//     may take its tasks over.
//   - A member that finds itself paused longer than its lease (its clock jumped) is not
//     ready until etcd has told it whether it is still a member.
type etcdMembership struct {
	endpoints []string
	prefix    string
	ttl       time.Duration // asked for; etcd may grant more
	outlive   bool          // the journal fences: serve on through an etcd outage
	logger    *slog.Logger
	fenced    func(error)

	client  *clientv3.Client // made in StartMember
	cluster *cluster.Cluster
	self    *cluster.Member
	cancel  context.CancelFunc
	done    sync.WaitGroup
	check   chan struct{} // a pause was seen: ask etcd about the lease now

	// Read by readiness.
	state    atomic.Pointer[membershipState]
	clock    time.Time    // the start of the member's monotonic clock
	lastTick atomic.Int64 // the clock's last reading by tick, in ns since clock
	granted  atomic.Int64 // the lease's TTL as etcd granted it, in ns

	lease clientv3.LeaseID // run's, and Shutdown's once run has ended
	gone  atomic.Bool      // fenced: the lease is gone, nothing to revoke

	mu      sync.Mutex // orders topology updates
	members map[string]etcdMember
}

// membershipState is what a member knows of its own membership: whether it serves as a
// member, and a line that says why not, or what it serves without.
type membershipState struct {
	ready bool
	note  string
}

// etcdMember is a member as its key holds it, with the key's creation revision.
type etcdMember struct {
	*cluster.Member
	created int64
}

func newEtcdMembership(endpoints []string, clusterName string, ttl time.Duration, outlive bool, logger *slog.Logger, fenced func(error)) *etcdMembership {
	p := &etcdMembership{endpoints: endpoints, prefix: "/tasktail/" + clusterName + "/members/", ttl: ttl, outlive: outlive,
		logger: logger, fenced: fenced, members: map[string]etcdMember{}, check: make(chan struct{}, 1), clock: time.Now()}
	p.setState(&membershipState{note: "registering with etcd"})
	p.granted.Store(int64(ttl))
	return p
}

// StartMember implements cluster.ClusterProvider: it starts registering this member, and
// following the others once it is registered. It returns at once: the library panics
// when a provider's start fails, and a member waits for etcd rather than exit.
func (p *etcdMembership) StartMember(c *cluster.Cluster) error {
	host, portText, err := net.SplitHostPort(c.ActorSystem.Address())
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return err
	}
	p.cluster = c
	p.self = &cluster.Member{Id: c.ActorSystem.ID, Host: host, Port: int32(port), Kinds: c.GetClusterKinds()}
	// The gRPC client is made only here, after the library has set gRPC's process-wide
	// logger, which a client's goroutines would otherwise read while it is written.
	// The client's own log (zap, to stderr) is off: what it would say of etcd being away,
	// this provider says in the member's log, once.
	// Its connection is tried again at least every second: gRPC's default backoff grows
	// to two minutes, so members came back 10 s after a 10 s etcd outage.
	if p.client, err = clientv3.New(clientv3.Config{Endpoints: p.endpoints, DialTimeout: 3 * time.Second, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}, MinConnectTimeout: time.Second})},
	}); err != nil {
		return fmt.Errorf("etcd %v: %w", p.endpoints, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.tick()
	p.done.Add(2)
	go p.run(ctx)
	go p.watchClock(ctx)
	return nil
}

// run registers the member, then keeps its lease alive until the member stops or is
// fenced.
func (p *etcdMembership) run(ctx context.Context) {
	defer p.done.Done()
	watch, ok := p.registerUntilDone(ctx)
	if !ok {
		return
	}
	p.done.Add(1)
	go p.follow(ctx, watch)
	for ctx.Err() == nil {
		p.keepAlive(ctx)
		if ctx.Err() != nil || !p.recheck(ctx) {
			return
		}
	}
}

// registerUntilDone registers the member, trying again until it succeeds or ctx ends.
func (p *etcdMembership) registerUntilDone(ctx context.Context) (clientv3.WatchChan, bool) {
	pause := 100 * time.Millisecond
	for warned := false; ; {
		watch, err := p.register(ctx)
		if err == nil {
			return watch, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		p.setState(&membershipState{note: fmt.Sprintf("registering with etcd %v: %v", p.endpoints, err)})
		if !warned {
			p.logger.Warn("etcd does not answer: this member waits for it, not ready, and tries again", slog.Any("endpoints", p.endpoints), slog.Any("error", err))
			warned = true
		}
		if !sleepCtx(ctx, pause) {
			return nil, false
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// register takes a lease, puts the member's key on it, reads the members and returns the
// watch of their changes.
func (p *etcdMembership) register(ctx context.Context) (clientv3.WatchChan, error) {
	value, err := json.Marshal(p.self)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	grant, err := p.client.Grant(cctx, int64(max(1, (p.ttl+time.Second-1)/time.Second)))
	if err != nil {
		return nil, fmt.Errorf("lease: %w", err)
	}
	p.lease = grant.ID
	granted := time.Duration(grant.TTL) * time.Second
	p.granted.Store(int64(granted))
	if _, err := p.client.Put(cctx, p.prefix+p.self.Id, string(value), clientv3.WithLease(p.lease)); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	listed, err := p.client.Get(cctx, p.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	p.mu.Lock()
	for _, kv := range listed.Kvs {
		p.put(kv)
	}
	p.publish()
	p.mu.Unlock()
	p.setState(&membershipState{ready: true})
	line := "registered with etcd"
	if granted > p.ttl {
		line += ": etcd raised the lease it was asked for (at least 1.5 × its election timeout), so a member that dies leaves the others' topology up to lease_ttl after, unless its cluster port refuses connections"
	}
	p.logger.Info(line, slog.Duration("lease_ttl", granted), slog.Duration("asked", p.ttl))
	return p.client.Watch(ctx, p.prefix, clientv3.WithPrefix(), clientv3.WithRev(listed.Header.Revision+1)), nil
}

// keepAlive keeps the lease alive until the client stops getting answers for it (then it
// ends, at the latest the TTL after the last answer), a pause is seen, or ctx ends.
func (p *etcdMembership) keepAlive(ctx context.Context) {
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	alive, err := p.client.KeepAlive(kctx, p.lease)
	if err != nil {
		return
	}
	for {
		select {
		case _, ok := <-alive:
			if !ok {
				return
			}
		case <-p.check:
			return
		}
	}
}

// recheck asks etcd about the member's lease after its keep-alives stopped: it reports
// true when the lease holds (keep it alive again), false when the member was fenced. While
// etcd does not answer, a member that may outlive it serves on and asks again.
func (p *etcdMembership) recheck(ctx context.Context) bool {
	var since time.Time
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		ttl, err := p.client.TimeToLive(cctx, p.lease)
		cancel()
		switch {
		case ctx.Err() != nil:
			return false
		case err == nil && ttl.TTL > 0:
			if !since.IsZero() {
				p.logger.Info("etcd answers again: this member's lease held, and it goes on as a member", slog.Duration("outage", time.Since(since).Round(time.Millisecond)))
			}
			p.setState(&membershipState{ready: true})
			return true
		case err == nil:
			p.fence(errors.New("this member's etcd lease expired (it was paused or cut off from etcd longer than the lease): the others may run its tasks already"))
			return false
		case !p.outlive:
			p.fence(fmt.Errorf("etcd has not answered for longer than this member's lease (%v), and this member's journal does not fence stale writes (memory, or its own disk): the others may take its tasks over, so it stops serving them", err))
			return false
		}
		if since.IsZero() {
			since = time.Now()
			p.logger.Warn("etcd does not answer: this member serves on with the last topology it saw, as the journal refuses stale writes, and takes up its lease again when etcd is back", slog.Any("error", err))
		}
		p.setState(&membershipState{ready: true, note: fmt.Sprintf("etcd unreachable since %s: serving with the last topology", since.UTC().Format(time.RFC3339))})
		if !sleepCtx(ctx, 250*time.Millisecond) {
			return false
		}
	}
}

func (p *etcdMembership) fence(err error) {
	if p.gone.Swap(true) {
		return
	}
	p.state.Store(&membershipState{note: "fenced: " + err.Error()})
	p.fenced(err)
}

// setState records the member's state, unless it was fenced: that is for good.
func (p *etcdMembership) setState(st *membershipState) {
	if !p.gone.Load() {
		p.state.Store(st)
	}
}

// StartClient implements cluster.ClusterProvider; tasktail runs members only.
func (p *etcdMembership) StartClient(*cluster.Cluster) error {
	return errors.New("tasktail's etcd membership runs members only")
}

// Shutdown implements cluster.ClusterProvider: the lease is revoked, so the others see
// this member leave at once, within a bound whatever etcd does.
func (p *etcdMembership) Shutdown(bool) error {
	if p.client == nil {
		return nil
	}
	if p.cancel == nil {
		return p.client.Close()
	}
	p.cancel()
	p.done.Wait()
	var err error
	if p.lease != 0 && !p.gone.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = p.client.Revoke(ctx, p.lease)
	}
	return errors.Join(err, p.client.Close())
}

// sleepCtx waits for d, or reports false when ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
