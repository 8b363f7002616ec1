package actors

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// A cluster member's own membership: whether it serves as a member, what happens when it
// loses that (Fenced), and how it becomes a member again (Rejoin). docs/design.md,
// "Cluster", states the rules.

// Fenced delivers, once, why this cluster member lost its membership: its lease ended
// while it was paused or cut off, or etcd was away longer than its lease and its journal
// does not fence stale writes. The others may run its tasks already, so it must not go
// on serving them: its owner calls Rejoin (the server does), or shuts it down. Never on
// a single node.
func (m *Manager) Fenced() <-chan error { return m.fenced }

func (m *Manager) fence(err error) {
	m.fenceOnce.Do(func() {
		m.logger.Error("fenced: this member is no longer in the cluster; it stops serving its tasks and joins again as a new member", slog.Any("reason", err))
		m.fenced <- err
	})
}

// ClusterMembers returns the addresses of the cluster's members as this member sees them
// and this member's own address; ok is false on a single node.
func (m *Manager) ClusterMembers() (members []string, self string, ok bool) {
	if m.cluster == nil {
		return nil, "", false
	}
	return m.cluster.member.Members(), m.system.Address(), true
}

// ClusterMembership reports whether this member serves as a member of the cluster (a
// single node always does), and a line that says why not, or what it serves without: a
// member started while etcd is down is not one until it has registered; one that serves
// on through an etcd outage is, and the line says since when etcd is away.
func (m *Manager) ClusterMembership() (serving bool, note string) {
	if m.cluster == nil {
		return true, ""
	}
	return m.cluster.member.Membership()
}

// Rejoin ends this member as Shutdown does (its viewers are closed with 1001 and its
// tasks stop) but leaves the journal open, and starts a new member with the same
// configuration, counters and journal: a new actor system, and so a new member id, which
// the others do not hold blocked. It keeps this member's cluster port, when that was
// picked at start (port 0). ctx bounds the shutdown; a failure to start is returned,
// and the caller may try again on the Manager it got, or on this one.
func (m *Manager) Rejoin(ctx context.Context) (*Manager, error) {
	if m.cluster == nil {
		return nil, fmt.Errorf("rejoin: not a cluster member")
	}
	opts := m.opts
	opts.Cluster = m.cluster.member.Again()
	began := time.Now()
	if err := m.shutdown(ctx, false); err != nil {
		if ctx.Err() != nil {
			// Stopped short (its own shutdown, or the server's): no new member beside
			// what may still run of the old one. Shutdown closes the journal.
			return nil, fmt.Errorf("rejoin: the fenced member did not stop: %w", err)
		}
		m.logger.Warn("rejoin: the fenced member did not stop cleanly", slog.Any("error", err))
	}
	next, err := newManager(m.cfg, opts, m.stats, m.logger)
	if err != nil {
		return nil, fmt.Errorf("rejoin: %w", err)
	}
	m.mu.Lock()
	m.leftOpen = false // the journal is the new member's now
	m.mu.Unlock()
	m.logger.Warn("rejoined the cluster as a new member", slog.Duration("took", time.Since(began).Round(time.Millisecond)))
	return next, nil
}
