package server

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/token"
)

// Config holds the edge's settings. The zero value of every field means its documented
// default; fill sets them and nothing else does.
type Config struct {
	// Addr is the listen address (default "127.0.0.1:8080").
	Addr string
	// MaxBodyBytes bounds a request body (default 8 MiB), and a streaming publish's line; a
	// larger one gets 413.
	MaxBodyBytes int64
	// ShutdownTimeout bounds the graceful shutdown (default 10 s).
	ShutdownTimeout time.Duration
	// MaxConnections bounds open client connections, viewers included (default 10,000);
	// one more is answered 503 and closed.
	MaxConnections int
	// PublishRate is how many publish requests per second one publish key may make
	// (default 1,000), with bursts of PublishBurst (default 2,000); past it: 429 with
	// Retry-After. Without publish keys there is no rate limit.
	PublishRate  float64
	PublishBurst int
	// IdleTimeout closes a keep-alive connection idle that long (default 2 min), and ends a
	// streaming publish that sends nothing that long.
	IdleTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's headers (default 10 s).
	ReadHeaderTimeout time.Duration
	// BodyTimeout bounds reading a whole request body (default 30 s); a slower one gets
	// 408. (A streaming publish has IdleTimeout per line instead.)
	BodyTimeout time.Duration
	// AnonymousIdleTimeout is how long a connection whose requests carried no verified
	// credential may wait before its next request, its first included (default 5 s).
	AnonymousIdleTimeout time.Duration
	// MaxBodyMemory bounds the bytes of request bodies being read at once, process-wide
	// (default 64 MiB, at least MaxBodyBytes); past it a publish gets 503 with
	// Retry-After, before its body is read when it has a Content-Length.
	MaxBodyMemory int64
	// MaxDownloads bounds the log downloads served at once (default 16); one more gets 503
	// with Retry-After. Each holds about a page of the journal (see the operator guide's "Memory").
	MaxDownloads int
	// MaxDownloadsPerCredential bounds the log downloads one key or token (or, without
	// credentials, everyone) has at once (default 4); one more gets 503 with Retry-After.
	MaxDownloadsPerCredential int
	// AdminAddr, when set, serves /healthz, /readyz and /metrics on a listener of their
	// own, outside MaxConnections: probes answer whatever clients hold.
	AdminAddr string
	// WebSocketReadLimit bounds a message a viewer may send (default 1 KiB); viewers send
	// only control frames, and any data message closes the connection.
	WebSocketReadLimit int64
	// PublishKeys are the keys that may publish and delete (Authorization: Bearer KEY).
	// Empty: anyone may.
	PublishKeys []string
	// TokenSecret signs subscribe tokens (HS256, at least 32 bytes). Empty: anyone may
	// view any task and read its status.
	TokenSecret []byte
	// AllowedOrigins are the host patterns (as in "app.example.com" or "*.example.com")
	// whose pages may open viewer WebSockets besides the server's own origin. A pattern
	// without a port allows every port of the host; "host:port" allows that port only.
	AllowedOrigins []string
	// AllowedHosts are the host patterns ("tasks.internal", "*.example.com", "*" for any)
	// a server without PublishKeys or TokenSecret answers besides the loopback names
	// (localhost, 127.0.0.1, [::1]); other Host headers get 421, so that a page on a DNS
	// rebinding domain cannot reach it through a browser. With both, any host is answered.
	AllowedHosts []string
	// MaxTokenTTL refuses subscribe tokens whose exp lies further ahead than this
	// (default 24 h): a leaked token works for a bounded time.
	MaxTokenTTL time.Duration
	// Insecure allows listening beyond loopback without PublishKeys and TokenSecret.
	Insecure bool
	// Actors are the task and socket settings.
	Actors actors.Config
	// Cluster, when set, joins a cluster (cluster.New): tasks live on the members by
	// task_id.
	Cluster actors.Cluster
	// Journal, when set, keeps every task durably; the server closes it when it shuts
	// down (or when New fails). Nil keeps tasks in memory only.
	Journal journal.Journal
	// ClusterJournal allows Journal on a cluster member: it is shared by every member
	// (PostgreSQL), or on the member's own disk by the operator's choice.
	ClusterJournal bool
	// Logger receives the service's logs (default: discard).
	Logger *slog.Logger
}

// DefaultAddr is where tasktail listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8080"

// DefaultConfig returns the configuration with every default filled in, the actors' too;
// the serve command builds its flags from it.
func DefaultConfig() Config {
	var c Config
	c.fillDefaults()
	c.Actors = actors.DefaultConfig()
	return c
}

// fillDefaults sets every zero field to its default; it is the one place they are written.
func (c *Config) fillDefaults() {
	setDefault(&c.Addr, DefaultAddr)
	setDefault(&c.MaxBodyBytes, 8<<20)
	setDefault(&c.ShutdownTimeout, 10*time.Second)
	setDefault(&c.MaxConnections, 10_000)
	setDefault(&c.PublishRate, 1000)
	setDefault(&c.PublishBurst, 2000)
	setDefault(&c.IdleTimeout, 2*time.Minute)
	setDefault(&c.ReadHeaderTimeout, 10*time.Second)
	setDefault(&c.WebSocketReadLimit, 1<<10)
	setDefault(&c.MaxTokenTTL, 24*time.Hour)
	setDefault(&c.BodyTimeout, 30*time.Second)
	setDefault(&c.AnonymousIdleTimeout, 5*time.Second)
	setDefault(&c.MaxBodyMemory, 64<<20)
	setDefault(&c.MaxDownloads, 16)
	setDefault(&c.MaxDownloadsPerCredential, 4)
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Validate fills in defaults and reports the first setting that cannot work, before
// anything is started or opened.
func (c *Config) Validate() error { return c.fill() }

func (c *Config) fill() error {
	c.fillDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.MaxBodyBytes < 0 || c.ShutdownTimeout < 0 || c.MaxConnections < 0 || c.PublishRate < 0 || c.PublishBurst < 0 ||
		c.IdleTimeout < 0 || c.ReadHeaderTimeout < 0 || c.WebSocketReadLimit < 0 || c.MaxTokenTTL < 0 ||
		c.BodyTimeout < 0 || c.AnonymousIdleTimeout < 0 || c.MaxBodyMemory < 0 || c.MaxDownloads < 0 || c.MaxDownloadsPerCredential < 0 {
		return fmt.Errorf("limits and timeouts must not be negative")
	}
	if c.MaxBodyMemory < c.MaxBodyBytes {
		return fmt.Errorf("max body memory %d is less than max body bytes %d: a largest body could never be read", c.MaxBodyMemory, c.MaxBodyBytes)
	}
	if n := len(c.TokenSecret); n > 0 && n < token.MinSecretBytes {
		return fmt.Errorf("token secret of %d bytes: want at least %d", n, token.MinSecretBytes)
	}
	for _, k := range c.PublishKeys {
		if len(k) < 16 {
			return fmt.Errorf("publish key %.4s…: want at least 16 characters", k)
		}
	}
	return c.Actors.Validate()
}
