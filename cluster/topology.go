package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The etcd provider's topology: the members' keys as the watch reports them, handed to
// the library whole after each change.

// follow applies the watch's events to the topology.
func (p *etcdMembership) follow(ctx context.Context, watch clientv3.WatchChan) {
	defer p.done.Done()
	for ctx.Err() == nil {
		for resp := range watch {
			if resp.Err() != nil {
				continue // the client resumes the watch itself, or ends it (below)
			}
			p.apply(ctx, resp.Events)
		}
		// The client ended the watch (its revision was compacted away during an
		// outage, say): read the members again and watch from there.
		for ctx.Err() == nil {
			if w, err := p.relist(ctx); err == nil {
				watch = w
				break
			}
			sleepCtx(ctx, 250*time.Millisecond)
		}
	}
}

// apply applies a watch's events to the topology.
func (p *etcdMembership) apply(ctx context.Context, events []*clientv3.Event) {
	if p.gone.Load() {
		return // fenced: its member is being stopped, and the library with it
	}
	p.mu.Lock()
	for _, ev := range events {
		if ev.Type == clientv3.EventTypeDelete {
			delete(p.members, strings.TrimPrefix(string(ev.Kv.Key), p.prefix))
		} else {
			p.put(ev.Kv)
		}
	}
	p.publish()
	_, registered := p.members[p.self.Id]
	p.mu.Unlock()
	if !registered && ctx.Err() == nil && len(events) > 0 {
		// Our own key was deleted: the lease expired while we were away, or another
		// member found our port refusing connections.
		p.fence(errors.New("this member's etcd key is gone (its lease expired, or another member found it dead): the others may run its tasks already"))
	}
}

// relist reads the members anew, replacing what the topology held, and returns the watch
// of their changes from then on.
func (p *etcdMembership) relist(ctx context.Context) (clientv3.WatchChan, error) {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	listed, err := p.client.Get(cctx, p.prefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	clear(p.members)
	for _, kv := range listed.Kvs {
		p.put(kv)
	}
	p.publish()
	_, registered := p.members[p.self.Id]
	p.mu.Unlock()
	if !registered {
		p.fence(errors.New("this member's etcd key is gone (its lease expired while the watch was away): the others may run its tasks already"))
	}
	return p.client.Watch(ctx, p.prefix, clientv3.WithPrefix(), clientv3.WithRev(listed.Header.Revision+1)), nil
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
