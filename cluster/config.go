package cluster

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/actors"
)

// TaskKind is the cluster kind of task grains; a task's identity is its task_id.
const TaskKind = "task"

// Cluster providers.
const (
	ProviderEtcd        = "etcd"
	ProviderAutomanaged = "automanaged"
)

// Config makes a Manager a member of a Proto.Actor cluster: every task_id is a grain of
// kind "task" that lives on one member (rendezvous hashing) and is reachable from all of
// them.
type Config struct {
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
	// LeaseTTL is how long a member's etcd lease outlives its last keep-alive (ProviderEtcd,
	// default 1 s; whole seconds, and etcd raises one below 1.5 × its election timeout):
	// a member that dies leaves every topology that long after; one paused longer is fenced.
	LeaseTTL time.Duration
	// AutomanagedAddr is where this member answers the other members' health polls, and
	// Peers is every member's AutomanagedAddr, this one's included (ProviderAutomanaged).
	AutomanagedAddr string
	Peers           []string
	// AttemptTimeout bounds one attempt of a request to a task's member. A request is
	// retried within actors.Config.RequestTimeout, so a task whose member died is found again
	// on its new member.
	AttemptTimeout time.Duration
}

// DefaultConfig returns the cluster settings a member starts with unless told otherwise:
// cluster "tasktail" on 127.0.0.1:7400, found through etcd on 127.0.0.1:2379.
func DefaultConfig() Config {
	return Config{
		Name: "tasktail", Host: "127.0.0.1", Port: 7400, Provider: ProviderEtcd,
		EtcdEndpoints: []string{"127.0.0.1:2379"}, AutomanagedAddr: "127.0.0.1:7480",
		AttemptTimeout: time.Second, LeaseTTL: time.Second,
	}
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
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
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = time.Second
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

// New returns the cluster that c describes, for actors.Options.Cluster, or the first
// setting that cannot work.
func New(c Config) (actors.Cluster, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return joiner(c), nil
}

// joiner is a checked Config.
type joiner Config

func (j joiner) Join(system *actor.ActorSystem, host actors.Host) (actors.Member, error) {
	return join(system, Config(j), host)
}
