package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Liveness in a cluster on etcd: a member that died is found by its port refusing
// connections, long before its lease ends (probe, evict); a member that was paused finds
// out by its own clock (watchClock), and readiness says so (status).

// probe finds out whether the member at address, whose connection just ended, is dead:
// its cluster port refuses connections (a process that died has closed its sockets). A
// dead member is evicted from the topology at once instead of at its lease's end. The
// port is tried a few times over half a second, since a process being killed closes its
// connections before its listener; a port that goes on taking connections, or does not
// answer at all (a paused process, a lost network), proves nothing: the lease decides.
func (r *member) probe(address string) {
	if r.membership == nil || address == r.c.ActorSystem.Address() || !slices.Contains(r.Members(), address) {
		return
	}
	if _, busy := r.probing.LoadOrStore(address, true); busy {
		return
	}
	started := r.requests.Go(func() {
		defer r.probing.Delete(address)
		for range 10 {
			c, err := net.DialTimeout("tcp", address, 250*time.Millisecond)
			if err == nil {
				c.Close()
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				r.membership.evict(address)
			}
			return
		}
	})
	if !started {
		r.probing.Delete(address)
	}
}

// evict drops the members at address, whose cluster port refuses connections: a process
// that died closes its sockets at once, so this is known long before its lease ends. It
// leaves this member's topology at once, and its key is deleted so that every other
// member drops it too (unless a younger key took its place meanwhile). A wrong guess
// costs a task move: the journal fences a write from the place the task left.
func (p *etcdMembership) evict(address string) {
	if p.gone.Load() {
		return // fenced: its member is being stopped, and the library with it
	}
	p.mu.Lock()
	var gone []string
	revisions := map[string]int64{}
	for id, m := range p.members {
		if id != p.self.Id && m.Address() == address {
			gone = append(gone, id)
			revisions[id] = m.created
			delete(p.members, id)
		}
	}
	if len(gone) > 0 {
		p.publish()
	}
	p.mu.Unlock()
	for _, id := range gone {
		p.logger.Info("a member's cluster port refuses connections: it is gone, and leaves the topology before its lease ends", slog.String("member", address))
		key := p.prefix + id
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := p.client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", revisions[id])).Then(clientv3.OpDelete(key)).Commit()
		cancel()
		if err != nil {
			p.logger.Debug("deleting a dead member's etcd key", slog.String("member", address), slog.Any("error", err))
		}
	}
}

// watchClock reads the monotonic clock every 50 ms: a reading further than the lease from
// the last one means the process did not run for that long (SIGSTOP, a frozen VM), so
// the others may have dropped it. It asks etcd at once.
func (p *etcdMembership) watchClock(ctx context.Context) {
	defer p.done.Done()
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		// The state says "not ready" before the reading that ends the gap is stored: until
		// then status sees the gap itself, so no readiness check in between answers ready.
		now := int64(time.Since(p.clock))
		if gap := time.Duration(now - p.lastTick.Load()); gap > time.Duration(p.granted.Load()) {
			p.setState(&membershipState{note: fmt.Sprintf("did not run for %v, longer than its lease: checking its membership with etcd", gap.Round(time.Millisecond))})
			p.logger.Warn("this member did not run for longer than its lease: not ready until etcd says whether it is still a member", slog.Duration("paused", gap.Round(time.Millisecond)))
			select {
			case p.check <- struct{}{}:
			default:
			}
		}
		p.lastTick.Store(now)
	}
}

// tick reads the clock as the last reading.
func (p *etcdMembership) tick() { p.lastTick.Store(int64(time.Since(p.clock))) }

// status reports whether the member serves as a member, and a line that says why not, or
// what it serves without.
func (p *etcdMembership) status() (bool, string) {
	st := p.state.Load()
	if st.ready {
		if away := time.Since(p.clock) - time.Duration(p.lastTick.Load()); away > time.Duration(p.granted.Load())+100*time.Millisecond {
			return false, fmt.Sprintf("did not run for %v, longer than its lease: checking its membership with etcd", away.Round(time.Millisecond))
		}
	}
	return st.ready, st.note
}
