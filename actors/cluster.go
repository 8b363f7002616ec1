package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/labstack/echo"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TaskKind is the cluster kind of task actors; a task's identity is its task_id.
const TaskKind = "task"

// Cluster providers.
const (
	ProviderEtcd        = "etcd"
	ProviderAutomanaged = "automanaged"
)

// ClusterConfig makes a Manager a member of a Proto.Actor cluster: every task_id is a
// grain of kind "task" that lives on one member (rendezvous hashing) and is reachable
// from all of them.
type ClusterConfig struct {
	// Name is the cluster's name; members with another name are not peers.
	Name string
	// Host and Port are where this member listens for other members (gRPC); port 0 picks
	// a free one.
	Host string
	Port int
	// AdvertisedAddress is the host:port other members dial (default Host:Port).
	AdvertisedAddress string
	// Provider finds the members: ProviderEtcd or ProviderAutomanaged.
	Provider string
	// EtcdEndpoints are the etcd servers (ProviderEtcd).
	EtcdEndpoints []string
	// AutomanagedAddr is where this member answers the other members' health polls, and
	// Peers is every member's AutomanagedAddr, this one's included (ProviderAutomanaged).
	AutomanagedAddr string
	Peers           []string
	// AttemptTimeout bounds one attempt of a request to a task's member. A request is
	// retried within Config.RequestTimeout, so a task whose member died is found again
	// on its new member.
	AttemptTimeout time.Duration
}

// Validate reports the first setting that cannot work.
func (c *ClusterConfig) Validate() error {
	if c.Name == "" {
		return errors.New("cluster name is empty")
	}
	if c.Host == "" || c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("cluster listen address %s: want a host and a port in 0..65535", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)))
	}
	if c.AdvertisedAddress != "" {
		if _, _, err := net.SplitHostPort(c.AdvertisedAddress); err != nil {
			return fmt.Errorf("cluster advertised address: %w", err)
		}
	} else if ip := net.ParseIP(c.Host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("cluster host %s is no address other members can dial: set the advertised address", c.Host)
	}
	if c.AttemptTimeout <= 0 {
		return errors.New("cluster request timeout must be positive")
	}
	switch c.Provider {
	case ProviderEtcd:
		if len(c.EtcdEndpoints) == 0 {
			return errors.New("etcd provider: no etcd endpoints")
		}
	case ProviderAutomanaged:
		if _, _, err := net.SplitHostPort(c.AutomanagedAddr); err != nil {
			return fmt.Errorf("automanaged provider: this member's health address: %w", err)
		}
		if !slices.Contains(c.Peers, c.AutomanagedAddr) {
			return fmt.Errorf("automanaged provider: peers %v must list this member's %s", c.Peers, c.AutomanagedAddr)
		}
	default:
		return fmt.Errorf("cluster provider %q: want %s or %s", c.Provider, ProviderEtcd, ProviderAutomanaged)
	}
	return nil
}

// clusterRouter is the Router of cluster mode: it asks the grain of kind "task" with the
// task_id as identity, wherever it lives.
type clusterRouter struct {
	c       *cluster.Cluster
	attempt time.Duration
	// stopProvider releases what the provider holds beyond the cluster (a listener).
	stopProvider func()
	// members are the addresses of the last topology. The library's own member list is
	// read without its lock, so it is copied here from its topology events.
	members  atomic.Pointer[[]string]
	topology *eventstream.Subscription
}

// startCluster joins system to the cluster that cc describes, with taskProps as kind
// "task", and returns its Router. The member appears in Members once the provider's
// first topology arrives.
func startCluster(system *actor.ActorSystem, cc ClusterConfig, taskProps *actor.Props, logger *slog.Logger) (*clusterRouter, error) {
	// The library panics when it cannot listen; find out first, with an error to show.
	listen := net.JoinHostPort(cc.Host, strconv.Itoa(cc.Port))
	probe, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("cluster listen address: %w", err)
	}
	probe.Close()
	r := &clusterRouter{attempt: cc.AttemptTimeout, stopProvider: func() {}}
	var provider cluster.ClusterProvider
	switch cc.Provider {
	case ProviderEtcd:
		p, err := etcdProvider(cc.EtcdEndpoints)
		if err != nil {
			return nil, err
		}
		provider = p
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
	cfg := cluster.Configure(cc.Name, provider, disthash.New(),
		remote.Configure(cc.Host, cc.Port, remoteOpts...),
		cluster.WithKinds(cluster.NewKind(TaskKind, taskProps)))
	r.c = cluster.New(system, cfg)
	r.topology = system.EventStream.Subscribe(func(ev any) {
		if topology, ok := ev.(*cluster.ClusterTopology); ok {
			members := make([]string, 0, len(topology.Members))
			for _, m := range topology.Members {
				members = append(members, m.Address())
			}
			r.members.Store(&members)
		}
	})
	r.c.StartMember()
	logger.Info("joined the cluster", slog.String("cluster", cc.Name), slog.String("address", system.Address()),
		slog.String("provider", cc.Provider))
	return r, nil
}

// etcdProvider checks that etcd answers before the library would wait for it forever.
func etcdProvider(endpoints []string) (cluster.ClusterProvider, error) {
	cfg := clientv3.Config{Endpoints: endpoints, DialTimeout: 3 * time.Second}
	probe, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd %v: %w", endpoints, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err = probe.Get(ctx, "/tasktail")
	cancel()
	probe.Close()
	if err != nil {
		return nil, fmt.Errorf("etcd %v does not answer: %w", endpoints, err)
	}
	p, err := etcd.NewWithConfig("/tasktail", cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd provider: %w", err)
	}
	return p, nil
}

// Request implements Router. It does not use the library's grain call (cluster.Request):
// that one finds the task's actor with a lookup that waits a fixed 5 s when the task's
// member has died, and retries with the process-wide default call config. Here every
// attempt, lookup included, ends after AttemptTimeout, and attempts repeat until timeout:
// a task whose member left, died or passivated it is found again on its member. A lookup
// given up on sends nothing to the task, so only a request that reached a live member
// slower than AttemptTimeout can be applied twice.
func (r *clusterRouter) Request(msg TaskMessage, timeout time.Duration) (any, error) {
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
			reply, err := r.c.ActorSystem.Root.RequestFuture(pid, msg, attempt).Result()
			if err == nil {
				return reply, nil
			}
			// Gone (dead letter) or unreachable (timeout): look it up again.
			r.c.PidCache.RemoveByValue(id, TaskKind, pid)
		}
		time.Sleep(min(pause, max(time.Until(deadline), 0)))
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// lookup returns the PID of the task's actor, activating it on its member if needed, or
// nil when that takes longer than within (the lookup then finishes on its own).
func (r *clusterRouter) lookup(id string, within time.Duration) *actor.PID {
	if pid, ok := r.c.PidCache.Get(id, TaskKind); ok {
		return pid
	}
	found := make(chan *actor.PID, 1)
	go func() { found <- r.c.Get(id, TaskKind) }()
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

// Shutdown implements Router: the member leaves the cluster, and its tasks stop; their
// next message starts them on another member.
func (r *clusterRouter) Shutdown() {
	r.c.Shutdown(true)
	r.stopProvider()
	r.c.ActorSystem.EventStream.Unsubscribe(r.topology)
}

// Members returns the addresses of the cluster's members as this member sees them.
func (r *clusterRouter) Members() []string {
	if m := r.members.Load(); m != nil {
		return *m
	}
	return nil
}

// taskGrain is a TaskActor as a cluster grain. The cluster activates a grain for any
// message, so the grain does what the local Registry does before a task exists: status
// and delete of a task nobody created answer "not found" and leave no actor behind, and
// a member at Config.MaxTasks refuses new tasks.
type taskGrain struct {
	*TaskActor
	created  bool                     // a Publish or Subscribe made the task exist
	failures *actor.RestartStatistics // for recoverGrain
}

// passivateNow is a grain's note to itself to stop if no routed message came since
// routed was counted. As a message it runs after everything already in the mailbox.
type passivateNow struct{ routed uint64 }

func newTaskGrain(cfg *Config, stats *Stats) *taskGrain {
	g := &taskGrain{TaskActor: NewTaskActor("", cfg, stats), failures: actor.NewRestartStatistics()}
	g.passivate = func(ctx actor.Context, routed uint64) { ctx.Send(ctx.Self(), passivateNow{routed: routed}) }
	return g
}

func (g *taskGrain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.taskID, g.member = m.Identity.Identity, ctx.ActorSystem().Address()
		return
	case passivateNow:
		if g.routed == m.routed {
			if g.created {
				g.stats.TasksPassivated.Add(1)
			}
			ctx.Stop(ctx.Self())
		}
		return
	case *v1.Publish, *v1.Subscribe:
		if !g.created {
			if g.stats.LiveTasks.Load() > int64(g.cfg.MaxTasks) {
				ctx.Respond(&v1.Refused{TaskId: g.taskID, Reason: v1.RefusedReason_REFUSED_REASON_TOO_MANY_TASKS})
				g.passivate(ctx, g.routed)
				return
			}
			g.created = true
		}
	case *v1.GetStatus:
		if !g.created {
			ctx.Respond(&v1.Status{TaskId: m.TaskId})
			g.passivate(ctx, g.routed)
			return
		}
	case *v1.Delete:
		if !g.created {
			ctx.Respond(&v1.DeleteAck{TaskId: m.TaskId})
			g.passivate(ctx, g.routed)
			return
		}
	}
	g.TaskActor.Receive(ctx)
}

// recoverGrain turns a panic of a grain (or of a middleware inside it) into what the local
// supervisor does: the failing message is dropped and answered with TaskFailure, the task
// keeps its state, and past its failure budget it stops. A grain's parent is the
// library's placement actor, whose strategy would restart it empty.
func recoverGrain(s *taskSupervisor) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
			defer func() {
				reason := recover()
				if reason == nil {
					return
				}
				g := ctx.Actor().(*taskGrain)
				if s.failed(ctx.ActorSystem(), ctx.Self(), g.failures, reason, env.Message, env.Sender) {
					ctx.ActorSystem().Root.Stop(ctx.Self())
				}
			}()
			next(ctx, env)
		}
	}
}

// taskGrainProps are the props of kind "task": grains, with middleware inside the
// panic recovery.
func taskGrainProps(cfg *Config, stats *Stats, s *taskSupervisor, middleware ...actor.ReceiverMiddleware) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return newTaskGrain(cfg, stats) },
		actor.WithMailbox(actor.UnboundedLockfree()),
		actor.WithReceiverMiddleware(append([]actor.ReceiverMiddleware{recoverGrain(s)}, middleware...)...))
}
