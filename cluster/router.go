package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	protocluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/labstack/echo"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/internal/goroutines"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// member is a cluster member (actors.Member): it asks the grain of kind "task" with the
// task_id as identity, wherever it lives.
type member struct {
	config  Config // as it started, with the port it was given
	c       *protocluster.Cluster
	attempt time.Duration
	// stopProvider releases what the provider holds beyond the cluster (a listener).
	stopProvider func()
	// members are the addresses of the last topology. The library's own member list is
	// read without its lock, so it is copied here from its topology events.
	members  atomic.Pointer[[]string]
	topology *eventstream.Subscription
	// inflight are the futures of requests and activations waiting on a member, with its
	// address: those of a member that leaves are answered at once, and the request looks
	// its task up again (its owner may be another member now).
	inflight sync.Map
	// owners maps a task_id to its member by rendezvous hashing over the last topology:
	// a new one per topology, never changed after, so lookups read it without a lock. (The
	// library's own, which its lookup reads, is replaced under the lookups: a data race.)
	owners atomic.Pointer[protocluster.Rendezvous]
	// requests are the goroutines of lookups.
	requests goroutines.Group
	// membership is the etcd provider, nil with another: it says whether this member
	// serves as one, and drops members found dead.
	membership *etcdMembership
	logger     *slog.Logger // the service's
	// probing are the addresses being probed (probe), one probe each.
	probing sync.Map
	// fenced is set once the member has lost its membership: it then stops without the
	// leave that a member the others still hold needs.
	fenced atomic.Bool
}

// join makes system a member of the cluster that cc describes, with host's grains as kind
// "task". The member appears in Members once the provider's first topology arrives.
func join(system *actor.ActorSystem, cc Config, host actors.Host) (*member, error) {
	logger, outlive := host.Logger, host.Outlive
	// The library panics when it cannot listen; find out first, with an error to show.
	listen := net.JoinHostPort(cc.Host, strconv.Itoa(cc.Port))
	probe, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("cluster listen address: %w", err)
	}
	probe.Close()
	r := &member{config: cc, attempt: cc.AttemptTimeout, stopProvider: func() {}, logger: logger}
	leftMsg := "a member left the cluster; its tasks start again on the others"
	if outlive {
		leftMsg = "a member left the cluster; its tasks continue on the others from the journal"
	}
	var provider protocluster.ClusterProvider
	switch cc.Provider {
	case ProviderEtcd:
		r.membership = newEtcdMembership(cc.EtcdEndpoints, cc.Name, cc.LeaseTTL, outlive, logger, func(err error) {
			r.fenced.Store(true)
			host.Fenced(err)
		})
		provider = r.membership
	case ProviderAutomanaged:
		// The library's health endpoint listens on 0.0.0.0; serve it on the address the
		// operator chose instead, through the provider's own hook for a ready server.
		ln, err := net.Listen("tcp", cc.AutomanagedAddr)
		if err != nil {
			return nil, fmt.Errorf("automanaged provider: %w", err)
		}
		e := echo.New()
		e.HideBanner, e.HidePort, e.Listener = true, true, ln
		e.GET("/_health", func(ec echo.Context) error {
			host, port, err := system.GetHostPort()
			if err != nil {
				return err
			}
			return ec.JSON(http.StatusOK, automanaged.NewNode(cc.Name, system.ID, host, port, ln.Addr().(*net.TCPAddr).Port, r.c.GetClusterKinds()))
		})
		provider = automanaged.NewWithTesting(time.Second, ln.Addr().(*net.TCPAddr).Port, e, cc.Peers...)
		r.stopProvider = func() { _ = e.Close() }
	}
	var remoteOpts []remote.ConfigOption
	if cc.AdvertisedAddress != "" {
		remoteOpts = append(remoteOpts, remote.WithAdvertisedHost(cc.AdvertisedAddress))
	}
	r.c = protocluster.New(system, protocluster.Configure(cc.Name, provider, disthash.New(),
		remoteConfig(cc.Host, cc.Port, remoteOpts...),
		protocluster.WithKinds(protocluster.NewKind(TaskKind, host.Grains(activation)))))
	r.topology = system.EventStream.Subscribe(func(ev any) {
		if lost, ok := ev.(*remote.EndpointTerminatedEvent); ok {
			r.probe(lost.Address)
		}
		if topology, ok := ev.(*protocluster.ClusterTopology); ok {
			members := make([]string, 0, len(topology.Members))
			for _, m := range topology.Members {
				members = append(members, m.Address())
			}
			r.members.Store(&members)
			owners := protocluster.NewRendezvous()
			owners.UpdateMembers(topology.Members)
			r.owners.Store(owners)
			// One line per change: a member that leaves and one that dies look the same
			// here (its lease or health check ended, or its port refused connections).
			for _, m := range topology.Joined {
				if m.Address() != system.Address() {
					logger.Info("a member joined the cluster", slog.String("member", m.Address()), slog.Int("members", len(members)))
				}
			}
			for _, m := range topology.Left {
				logger.Warn(leftMsg, slog.String("member", m.Address()), slog.Int("members", len(members)))
			}
			if len(topology.Left) > 0 {
				r.answerLeft(topology.Left)
			}
		}
	})
	r.c.StartMember()
	logger.Info("joined the cluster", slog.String("cluster", cc.Name), slog.String("address", system.Address()),
		slog.String("provider", cc.Provider))
	return r, nil
}

// remoteConfig is the library's remote as members use it, with two corrections:
//   - A connection to a member is tried once, not five times: each failed try waits 2 s,
//     inside the actor that holds the messages for that address, so five tries to a
//     member that died kept them 10 s and held up this member's own shutdown as long. A
//     member that answers connects at the first try; one that does not is reported gone
//     after 2 s, and whoever watched an actor there is told.
//   - A connection's end that the endpoint writer caused itself is not a lost connection
//     (ownCloseIsNoLoss).
func remoteConfig(host string, port int, opts ...remote.ConfigOption) *remote.Config {
	return remote.Configure(host, port, append(opts, func(c *remote.Config) {
		c.MaxRetryCount = 1
		c.DialOptions = append(c.DialOptions, grpc.WithStreamInterceptor(ownCloseIsNoLoss))
	})...)
}

// ownCloseIsNoLoss makes the end of a member connection that its endpoint writer closed
// itself read as the stream's normal end. The writer, stopped because its connection was
// dropped, closes the connection; its receiving goroutine then reads Canceled ("the
// client connection is closing") and reported that as a lost connection for the address.
// That dropped the next connection to the address, which the messages sent since had
// opened, with those messages; and its own closing dropped the one after, for as long as
// messages kept coming. The writer's stream runs under context.Background, so Canceled
// comes from nothing but its own close; a peer that dies or leaves ends it otherwise.
func ownCloseIsNoLoss(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return ownCloseStream{s}, nil
}

type ownCloseStream struct{ grpc.ClientStream }

func (s ownCloseStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if status.Code(err) == codes.Canceled {
		return io.EOF
	}
	return err
}

// Request implements actors.Member. It does not use the library's grain call (protocluster.Request):
// that one finds the task's actor with a lookup that waits a fixed 5 s when the task's
// member has died, and retries with the process-wide default call config. Here every
// attempt, lookup included, ends after AttemptTimeout, and attempts repeat until timeout:
// a task whose member left, died or passivated it is found again on its member. A lookup
// given up on sends nothing to the task, so only a request that reached a live member
// slower than AttemptTimeout can be applied twice.
func (r *member) Request(msg actors.TaskMessage, timeout time.Duration) (any, error) {
	id := msg.GetTaskId()
	deadline := time.Now().Add(timeout)
	pause := 10 * time.Millisecond
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, actor.ErrTimeout
		}
		attempt := min(r.attempt, left)
		if pid := r.lookup(id, attempt); pid != nil {
			reply, err := r.await(r.c.ActorSystem.Root.RequestFuture(pid, msg, attempt), pid.Address)
			if err == nil {
				return reply, nil
			}
			// Gone (dead letter), unreachable (timeout) or its member left: look it up again.
			r.c.PidCache.RemoveByValue(id, TaskKind, pid)
		}
		time.Sleep(min(pause, max(time.Until(deadline), 0)))
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// errMemberLeft is an attempt given up because the member it waited on left the cluster.
var errMemberLeft = errors.New("the task's member left the cluster")

// memberLeftAnswer completes a request's future when its member left the topology.
type memberLeftAnswer struct{}

// await waits for a request's answer. The futures of requests in flight are known by
// member, so that when a member leaves the topology its requests are answered at once
// (memberLeftAnswer, see the topology subscriber) instead of waiting out the attempt.
func (r *member) await(f *actor.Future, address string) (any, error) {
	r.inflight.Store(f, address)
	reply, err := f.Result()
	r.inflight.Delete(f)
	if _, left := reply.(memberLeftAnswer); left {
		return nil, errMemberLeft
	}
	return reply, err
}

// answerLeft completes the requests in flight to members that left.
func (r *member) answerLeft(left []*protocluster.Member) {
	gone := make(map[string]bool, len(left))
	for _, m := range left {
		gone[m.Address()] = true
	}
	r.inflight.Range(func(f, address any) bool {
		if gone[address.(string)] {
			r.c.ActorSystem.Root.Send(f.(*actor.Future).PID(), memberLeftAnswer{})
		}
		return true
	})
}

// activate asks the task's member, by our own rendezvous, for the PID of its grain (which
// it starts if needed), as the library's lookup does with its own; nil when there is no
// member yet or no answer within.
func (r *member) activate(id string, within time.Duration) *actor.PID {
	owners := r.owners.Load()
	if owners == nil {
		return nil
	}
	identity := protocluster.NewClusterIdentity(id, TaskKind)
	owner := owners.GetByClusterIdentity(identity)
	if owner == "" {
		return nil
	}
	reply, err := r.await(r.c.ActorSystem.Root.RequestFuture(actor.NewPID(owner, disthash.PartitionActivatorActorName),
		&protocluster.ActivationRequest{ClusterIdentity: identity}, within), owner)
	if resp, ok := reply.(*protocluster.ActivationResponse); ok && err == nil {
		return resp.Pid
	}
	return nil
}

// lookup returns the PID of the task's actor, activating it on its member if needed, or
// nil when that takes longer than within (the lookup then finishes on its own).
func (r *member) lookup(id string, within time.Duration) *actor.PID {
	if pid, ok := r.c.PidCache.Get(id, TaskKind); ok {
		return pid
	}
	found := make(chan *actor.PID, 1)
	if !r.requests.Go(func() { found <- r.activate(id, within) }) {
		return nil
	}
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case pid := <-found:
		if pid != nil {
			r.c.PidCache.Set(id, TaskKind, pid)
		}
		return pid
	case <-timer.C:
		return nil
	}
}

// Leave implements actors.Member: the member leaves the cluster, and its tasks stop;
// their next message starts them on another member. It waits for the lookups in flight.
func (r *member) Leave() error {
	r.requests.Stop()
	leave := func() { r.c.Shutdown(true) }
	if r.fenced.Load() {
		leave = r.stopFenced
	}
	err := leaveCluster(leave, func() { r.c.Remote.Shutdown(false) })
	r.requests.Wait()
	r.stopProvider()
	r.c.ActorSystem.EventStream.Unsubscribe(r.topology)
	return err
}

// Again implements actors.Member: the same cluster, on the port this member was given
// when it asked for any (port 0).
func (r *member) Again() actors.Cluster {
	cc := r.config
	if cc.Port == 0 {
		if _, port, err := net.SplitHostPort(r.c.ActorSystem.Address()); err == nil {
			cc.Port, _ = strconv.Atoi(port)
		}
	}
	return joiner(cc)
}

// activation reads the task_id from the message that starts a grain.
func activation(msg any) (string, bool) {
	if init, ok := msg.(*protocluster.ClusterInit); ok {
		return init.Identity.Identity, true
	}
	return "", false
}

// stopFenced stops a member that is no longer in the cluster: the library's graceful
// leave without its last steps, which are for a member the others still hold (it tells
// them by gossip that it leaves, then sleeps 2 s for ownership to move). The others have
// dropped this one already, and a fenced member that rejoins waits for nothing.
//
// The provider stops first: a topology it handed the library after the actor system had
// stopped could wait for that system for good.
func (r *member) stopFenced() {
	c := r.c
	_ = c.Config.ClusterProvider.Shutdown(true)
	c.ActorSystem.Shutdown()
	c.IdentityLookup.Shutdown()
	c.Gossip.Shutdown()
	// Not gracefully: gRPC's graceful stop waits for every stream the other members hold
	// open into this one (the library gives it 10 s), and they have no reason to close them.
	c.Remote.Shutdown(false)
}

// leaveCluster runs the library's graceful leave, leave. That can panic: its endpoint
// manager, stopping, sends on the channel of each connection from another member, and
// one that ends at that moment has closed its channel ("send on closed channel"; seen
// when another member's connection closes as this one leaves). The member's server is
// then stopped at once with stop, and the panic comes back as an error, so that the
// shutdown still ends, with one line saying what did not finish.
func leaveCluster(leave, stop func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("leaving the cluster: the actor library failed (%v); its server was stopped at once", p)
			stop()
		}
	}()
	leave()
	return nil
}

// Membership implements actors.Member: it reports whether this member serves as a member of the cluster, and a line
// that says why not, or what it serves without (etcd unreachable).
func (r *member) Membership() (bool, string) {
	if r.membership != nil {
		return r.membership.status()
	}
	if !slices.Contains(r.Members(), r.c.ActorSystem.Address()) {
		return false, "not a member of the cluster yet"
	}
	return true, ""
}

// Members implements actors.Member: the addresses of the cluster's members as this member sees them.
func (r *member) Members() []string {
	if m := r.members.Load(); m != nil {
		return *m
	}
	return nil
}
