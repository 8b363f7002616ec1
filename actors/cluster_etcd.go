package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdMembership is tasktail's cluster provider on etcd. Each member holds one key,
// <prefix><member id>, on a lease of ttl that the etcd client keeps alive (every ttl/3):
// a member that dies is gone from every member's topology ttl after its last keep-alive,
// where the library's provider waits a fixed 3 s. A member that finds its own lease gone
// (it was paused longer than ttl, or cut off from etcd) is fenced: the others may already
// run its tasks, so it must not go on as a member; fenced is called once, and the
// Manager stops the process's service (docs/design.md, "Cluster").
type etcdMembership struct {
	endpoints []string
	client    *clientv3.Client // made in StartMember
	prefix    string
	ttl       time.Duration
	logger    *slog.Logger
	fenced    func(error)

	cluster *cluster.Cluster
	self    *cluster.Member
	lease   clientv3.LeaseID
	cancel  context.CancelFunc
	done    sync.WaitGroup

	mu      sync.Mutex // orders topology updates
	members map[string]etcdMember
}

// etcdMember is a member as its key holds it, with the key's creation revision.
type etcdMember struct {
	*cluster.Member
	created int64
}

// newEtcdMembership checks that etcd answers (the library panics when a provider cannot
// start). It asks etcd's /health over plain HTTP: the gRPC client is made only in
// StartMember, after the library has set gRPC's process-wide logger, which a client's
// goroutines would otherwise read while it is written (a data race).
func newEtcdMembership(endpoints []string, clusterName string, ttl time.Duration, logger *slog.Logger, fenced func(error)) (*etcdMembership, error) {
	hc := &http.Client{Timeout: 3 * time.Second}
	var errs []error
	for _, ep := range endpoints {
		url := ep
		if !strings.Contains(url, "://") {
			url = "http://" + url
		}
		resp, err := hc.Get(url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &etcdMembership{endpoints: endpoints, prefix: "/tasktail/" + clusterName + "/members/", ttl: ttl,
					logger: logger, fenced: fenced, members: map[string]etcdMember{}}, nil
			}
			err = fmt.Errorf("/health answered %s", resp.Status)
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("etcd %v does not answer: %w", endpoints, errors.Join(errs...))
}

// StartMember implements cluster.ClusterProvider: it registers this member and follows
// the others.
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
	if p.client, err = clientv3.New(clientv3.Config{Endpoints: p.endpoints, DialTimeout: 3 * time.Second}); err != nil {
		return fmt.Errorf("etcd %v: %w", p.endpoints, err)
	}
	value, err := json.Marshal(p.self)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	grant, err := p.client.Grant(ctx, int64(max(1, (p.ttl+time.Second-1)/time.Second)))
	if err != nil {
		return fmt.Errorf("etcd lease: %w", err)
	}
	p.lease = grant.ID
	if _, err := p.client.Put(ctx, p.prefix+p.self.Id, string(value), clientv3.WithLease(p.lease)); err != nil {
		return fmt.Errorf("etcd register: %w", err)
	}
	alive, err := p.client.KeepAlive(ctx, p.lease)
	if err != nil {
		return fmt.Errorf("etcd keep-alive: %w", err)
	}
	listed, err := p.client.Get(ctx, p.prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("etcd members: %w", err)
	}
	p.mu.Lock()
	for _, kv := range listed.Kvs {
		p.put(kv)
	}
	p.publish()
	p.mu.Unlock()
	watch := p.client.Watch(ctx, p.prefix, clientv3.WithPrefix(), clientv3.WithRev(listed.Header.Revision+1))
	p.done.Add(2)
	go p.keepAlive(ctx, alive)
	go p.follow(ctx, watch)
	return nil
}

// keepAlive drains the client's keep-alive answers; when they end while the member runs,
// the lease is gone and the member is fenced.
func (p *etcdMembership) keepAlive(ctx context.Context, alive <-chan *clientv3.LeaseKeepAliveResponse) {
	defer p.done.Done()
	for range alive {
	}
	if ctx.Err() == nil {
		p.fenced(errors.New("this member's etcd lease ended (paused or cut off from etcd longer than its TTL): the others may run its tasks already"))
	}
}

// follow applies the watch's events to the topology.
func (p *etcdMembership) follow(ctx context.Context, watch clientv3.WatchChan) {
	defer p.done.Done()
	for resp := range watch {
		if resp.Err() != nil {
			continue // the client resumes the watch itself
		}
		p.mu.Lock()
		for _, ev := range resp.Events {
			if ev.Type == clientv3.EventTypeDelete {
				delete(p.members, strings.TrimPrefix(string(ev.Kv.Key), p.prefix))
			} else {
				p.put(ev.Kv)
			}
		}
		p.publish()
		_, registered := p.members[p.self.Id]
		p.mu.Unlock()
		if !registered && ctx.Err() == nil && len(resp.Events) > 0 {
			// Our own key was deleted: the lease expired while we were away.
			p.fenced(errors.New("this member's etcd key is gone (its lease expired): the others may run its tasks already"))
		}
	}
}

// put records the member a key holds; p.mu is held. Of two members at one address, the
// one whose key is younger is the process that serves it: a member that restarts at its
// address registers before its former self's lease has expired. The former self is
// dropped at once, so it leaves the topology together with its successor's joining. Left
// to its lease, it would leave later, and the library would then end every watch of
// that address: the viewers on the successor would be cut off from their tasks.
func (p *etcdMembership) put(kv *mvccpb.KeyValue) {
	var m cluster.Member
	if err := json.Unmarshal(kv.Value, &m); err != nil {
		p.logger.Warn("an etcd member key holds no member", slog.String("key", string(kv.Key)))
		return
	}
	id := strings.TrimPrefix(string(kv.Key), p.prefix)
	for other, o := range p.members {
		if other == id || o.Address() != m.Address() {
			continue
		}
		if o.created > kv.CreateRevision {
			return // this key is the former self's
		}
		delete(p.members, other)
	}
	p.members[id] = etcdMember{Member: &m, created: kv.CreateRevision}
}

// publish hands the library the members as they are; p.mu is held.
func (p *etcdMembership) publish() {
	members := make(cluster.Members, 0, len(p.members))
	for _, m := range p.members {
		members = append(members, m.Member)
	}
	if _, ok := p.members[p.self.Id]; !ok {
		members = append(members, p.self) // until its own key is seen
	}
	p.cluster.MemberList.UpdateClusterTopology(members)
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := p.client.Revoke(ctx, p.lease)
	p.done.Wait()
	return errors.Join(err, p.client.Close())
}
