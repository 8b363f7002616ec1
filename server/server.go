package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tasktail/tasktail/actors"
)

// Server is tasktail's HTTP and WebSocket edge over one actors.Manager.
type Server struct {
	cfg Config
	mgr atomic.Pointer[actors.Manager] // a new one each time a fenced member rejoins
	// rejoining is when the member began to join the cluster again, while it does.
	rejoining atomic.Pointer[time.Time]
	logger    *slog.Logger
	ready     atomic.Bool
	metrics   *metrics
	limiter   *rateLimiter
	bodies    *bodyBudget
	// searches bounds the log searches running at once (logpage.go).
	searches searchSlots
	// downloads counts the log downloads under way.
	downloads *downloadSlots
	handler   http.Handler
	// drainCtx is cancelled when Serve begins to shut down: streaming publishes end then.
	drainCtx context.Context
	drain    context.CancelFunc
}

// newManager fills in cfg's defaults and starts its Manager.
func newManager(cfg *Config) (*actors.Manager, error) {
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return actors.NewManager(cfg.Actors, actors.Options{Logger: cfg.Logger, Cluster: cfg.Cluster, Journal: cfg.Journal, ClusterJournal: cfg.ClusterJournal})
}

// New starts the actor system and builds the routes. Call Serve to listen.
func New(cfg Config) (*Server, error) {
	mgr, err := newManager(&cfg)
	if err != nil {
		if cfg.Journal != nil {
			cfg.Journal.Close() // it is the server's to close, started or not
		}
		return nil, err
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, limiter: newRateLimiter(cfg.PublishRate, cfg.PublishBurst),
		bodies: &bodyBudget{max: cfg.MaxBodyMemory}, searches: make(searchSlots, maxSearches),
		downloads: &downloadSlots{max: cfg.MaxDownloads, perCredential: cfg.MaxDownloadsPerCredential}}
	s.mgr.Store(mgr)
	s.metrics = newMetrics(s.Manager)
	s.handler = s.routes()
	s.drainCtx, s.drain = context.WithCancel(context.Background())
	s.ready.Store(true)
	return s, nil
}

// CheckExposure reports an error when addr reaches beyond loopback while publishing or
// viewing needs no credentials and Config.Insecure is not set. Serve checks it too.
func (s *Server) CheckExposure(addr net.Addr) error { return s.cfg.checkExposure(addr) }

// Handler returns the routes, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Manager returns the Manager the server serves now: a cluster member that was fenced
// serves on with a new one (Manager.Rejoin).
func (s *Server) Manager() *actors.Manager { return s.mgr.Load() }

// Serve answers on ln until ctx is done, then shuts down gracefully: readiness turns
// false, the listener closes, in-flight requests finish, every socket is closed with
// 1001 and the actors stop, all within Config.ShutdownTimeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.cfg.checkExposure(ln.Addr()); err != nil {
		ln.Close()
		_ = s.Manager().Shutdown(ctx)
		return err
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		ConnState:         connState,
		ConnContext:       connContext,
	}
	stopAdmin, err := s.serveAdmin()
	if err != nil {
		ln.Close()
		_ = s.Manager().Shutdown(ctx)
		return err
	}
	served := make(chan error, 1)
	go func() {
		served <- srv.Serve(&connLimitListener{Listener: ln, max: int64(s.cfg.MaxConnections), anonymousIdle: s.cfg.AnonymousIdleTimeout})
	}()

	err = s.serveUntilDone(ctx, served)
	s.ready.Store(false)
	s.drain()
	s.logger.Info("shutting down", slog.Duration("timeout", s.cfg.ShutdownTimeout))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if e := srv.Shutdown(shutdownCtx); e != nil {
		err = errors.Join(err, fmt.Errorf("http shutdown: %w", e))
	}
	stopAdmin(shutdownCtx)
	if e := s.Manager().Shutdown(shutdownCtx); e != nil {
		err = errors.Join(err, fmt.Errorf("actors shutdown: %w", e))
	}
	if e := <-served; e != nil && !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("serve: %w", e)
	}
	return err
}

// rejoinPatience is how long a fenced member may fail to join again before /healthz says
// it is not alive.
const rejoinPatience = time.Minute

// serveUntilDone waits until ctx is done (nil) or the HTTP server fails. A cluster member
// that is fenced meanwhile joins again in place as a new member (Manager.Rejoin): its
// viewers are closed with 1001 and resume on the tasks' owners, readiness answers 503
// until the new member has registered, and the process stays up, with no supervisor
// needed.
func (s *Server) serveUntilDone(ctx context.Context, served chan error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-served:
			served <- err // Serve reads it again once the server is shut down
			return fmt.Errorf("serve: %w", err)
		case <-s.Manager().Fenced():
			s.rejoin(ctx)
		}
	}
}

// rejoin replaces the fenced Manager with a new member, trying again while that fails,
// until ctx is done.
func (s *Server) rejoin(ctx context.Context) {
	began := time.Now()
	defer s.rejoining.Store(nil)
	s.rejoining.Store(&began)
	for pause := 100 * time.Millisecond; ctx.Err() == nil; pause = min(2*pause, 5*time.Second) {
		stopCtx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
		next, err := s.Manager().Rejoin(stopCtx)
		cancel()
		if err == nil {
			s.mgr.Store(next)
			return
		}
		s.logger.Error("joining the cluster again failed; trying again", slog.Duration("in", pause), slog.Any("error", err))
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// serveAdmin serves the probes on Config.AdminAddr, when set, until stop; stop returns
// once the admin server's goroutine has ended.
func (s *Server) serveAdmin() (stop func(context.Context), err error) {
	if s.cfg.AdminAddr == "" {
		return func(context.Context) {}, nil
	}
	ln, err := net.Listen("tcp", s.cfg.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	mux := http.NewServeMux()
	s.probes(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, IdleTimeout: s.cfg.IdleTimeout,
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn)}
	s.logger.Info("probes listening", slog.String("addr", ln.Addr().String()))
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	return func(ctx context.Context) {
		_ = srv.Shutdown(ctx) // probes only: nothing to finish
		<-served              // Serve returns as soon as Shutdown closes the listener
	}, nil
}

// probes adds health, readiness and metrics to mux.
func (s *Server) probes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		// A member that rejoins is alive; one that has failed to for a minute is not, and
		// its supervisor may as well start it again.
		if since := s.rejoining.Load(); since != nil && time.Since(*since) > rejoinPatience {
			writeErrorCode(w, http.StatusServiceUnavailable, codeUnavailable, "could not join the cluster again for "+time.Since(*since).Round(time.Second).String())
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.handler())
}

// isProbe reports whether path is one of the probes, which every connection may ask.
func isProbe(path string) bool { return path == "/healthz" || path == "/readyz" || path == "/metrics" }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.table() { // routes.go
		mux.HandleFunc(rt.method+" "+rt.pattern, s.serve(rt))
	}
	mux.Handle("GET /static/", staticFiles())
	s.probes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrorCode(w, http.StatusNotFound, codeNotFound, "no route for "+r.Method+" "+r.URL.Path)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Content-Type-Options"] = nosniff // no answer is ever to be sniffed
		if overflowed(r) {
			// A connection past the limit gets one answer: a probe's, or 503.
			w.Header().Set("Connection", "close")
			if !isProbe(r.URL.Path) {
				w.Header().Set("Retry-After", "1")
				writeErrorCode(w, http.StatusServiceUnavailable, codeUnavailable, "too many connections to this server; retry")
				return
			}
		}
		// Health checks say nothing of tasks: a probe may name any host.
		if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && s.checkHost(w, r) {
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		writeErrorCode(w, http.StatusServiceUnavailable, codeUnavailable, "draining")
		return
	}
	mgr := s.Manager()
	if err := mgr.JournalHealth(); err != nil {
		writeErrorCode(w, http.StatusServiceUnavailable, codeUnavailable, "journal: "+err.Error())
		return
	}
	if members, self, clustered := mgr.ClusterMembers(); clustered {
		serving, note := mgr.ClusterMembership()
		if !serving || !slices.Contains(members, self) {
			if note == "" {
				note = "not a member of the cluster yet"
			}
			writeErrorCode(w, http.StatusServiceUnavailable, codeUnavailable, note)
			return
		}
		body := map[string]any{"status": "ready", "member": self, "members": members}
		if note != "" {
			body["membership"] = note // ready, and what it serves without
		}
		writeJSON(w, http.StatusOK, body)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
