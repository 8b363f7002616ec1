package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"

	"github.com/tasktail/tasktail/cluster"
	"github.com/tasktail/tasktail/internal/cli"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/backends"
	"github.com/tasktail/tasktail/journal/pebble"

	"github.com/tasktail/tasktail/server"
)

const serveSynopsis = `Usage: tasktail serve [flags]

Runs the tasktail service. With no flags it listens on 127.0.0.1:8080 with the defaults
below. SIGINT or SIGTERM drains it: readiness turns false, viewers get close 1001, and
the process exits within --shutdown-timeout.

Example:
  tasktail serve --addr 127.0.0.1:9000 --history-limit 5000`

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// Every default comes from the configs' own (server.DefaultConfig,
	// cluster.DefaultConfig); the flags only name them.
	var (
		cfg       = server.DefaultConfig()
		def       = cfg
		logFormat string
		logLevel  string
	)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", def.Addr, "listen address")
	fs.IntVar(&cfg.Actors.QueueLimit, "queue-limit", def.Actors.QueueLimit, "unseen messages a task queues while nobody watches")
	fs.IntVar(&cfg.Actors.QueueKeep, "queue-keep", def.Actors.QueueKeep, "most recent messages kept when the queue would pass its limit")
	fs.IntVar(&cfg.Actors.HistoryLimit, "history-limit", def.Actors.HistoryLimit, "recent messages a task keeps for replay with since (at least --queue-limit)")
	fs.IntVar(&cfg.Actors.HistoryBytes, "history-bytes", def.Actors.HistoryBytes, "most bytes of frames a task keeps in memory for replay (its queue always stays); with a journal, older ones are read from there")
	fs.IntVar(&cfg.Actors.MaxMessageBytes, "max-message-bytes", def.Actors.MaxMessageBytes, "largest message text in bytes (larger: 413)")
	fs.IntVar(&cfg.Actors.MaxBatch, "max-batch", def.Actors.MaxBatch, "most messages in one batch publish (more: 413)")
	fs.IntVar(&cfg.Actors.MaxTaskIDLength, "max-task-id-length", def.Actors.MaxTaskIDLength, "longest task_id accepted (at most 128)")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", def.MaxBodyBytes, "largest request body in bytes (larger: 413); for a stream, the longest line")
	fs.DurationVar(&cfg.Actors.FinishedTTL, "finished-ttl", def.Actors.FinishedTTL, "how long a finished task keeps its state for late viewers")
	fs.DurationVar(&cfg.Actors.IdleTTL, "idle-ttl", def.Actors.IdleTTL, "how long a task with no viewers and no new messages lives")
	fs.IntVar(&cfg.Actors.SocketBuffer, "socket-buffer", def.Actors.SocketBuffer, "frames that may wait for one viewer before it is closed with 1013 (at least --max-batch)")
	fs.DurationVar(&cfg.Actors.WriteTimeout, "write-timeout", def.Actors.WriteTimeout, "deadline of a write to a viewer: one frame, or a run of up to 64 frames and 64 KiB")
	fs.DurationVar(&cfg.Actors.RequestTimeout, "request-timeout", def.Actors.RequestTimeout, "deadline of one request to a task actor")
	fs.IntVar(&cfg.Actors.MaxTasks, "max-tasks", def.Actors.MaxTasks, "most live tasks; creating one more answers 503 (only a publish creates a task)")
	fs.IntVar(&cfg.Actors.MaxWaitingTasks, "max-waiting-tasks", def.Actors.MaxWaitingTasks, "most task_ids nobody has published to that viewers may wait on; a viewer of one more answers 503")
	fs.IntVar(&cfg.Actors.MaxViewersPerTask, "max-viewers-per-task", def.Actors.MaxViewersPerTask, "most viewers of one task; one more answers 503")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", def.ShutdownTimeout, "deadline of the graceful shutdown")
	fs.IntVar(&cfg.MaxConnections, "max-connections", def.MaxConnections, "most open client connections, viewers included; one more is answered 503")
	fs.Float64Var(&cfg.PublishRate, "publish-rate", def.PublishRate, "publish requests per second per publish key (more: 429); no limit without keys")
	fs.IntVar(&cfg.PublishBurst, "publish-burst", def.PublishBurst, "publish requests one key may make at once before --publish-rate applies")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", def.IdleTimeout, "close a keep-alive connection idle that long, and end a stream that sends nothing that long")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", def.ReadHeaderTimeout, "deadline for reading a request's headers")
	fs.DurationVar(&cfg.BodyTimeout, "body-timeout", def.BodyTimeout, "deadline for reading a whole request body (slower: 408); a stream has --idle-timeout per line instead")
	fs.DurationVar(&cfg.AnonymousIdleTimeout, "anonymous-idle-timeout", def.AnonymousIdleTimeout, "how long a connection that has shown no valid key or token may wait before its next request, its first included")
	fs.Int64Var(&cfg.MaxBodyMemory, "max-body-memory", def.MaxBodyMemory, "most bytes of request bodies read at once, process-wide (at least --max-body-bytes); past it a publish answers 503 with Retry-After")
	fs.IntVar(&cfg.MaxDownloads, "max-downloads", def.MaxDownloads, "most log downloads served at once; one more answers 503 with Retry-After")
	fs.IntVar(&cfg.MaxDownloadsPerCredential, "max-downloads-per-credential", def.MaxDownloadsPerCredential, "most log downloads one key or token (without credentials: everyone) has at once; one more answers 503 with Retry-After")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "", "serve /healthz, /readyz and /metrics also on this address, outside --max-connections (off when empty)")
	fs.Int64Var(&cfg.WebSocketReadLimit, "ws-read-limit", def.WebSocketReadLimit, "largest message a viewer may send, in bytes (viewers send only control frames)")
	var publishKeys, origins cli.StringList
	var secret string
	fs.Var(&publishKeys, "publish-keys", "comma-separated keys that may publish and delete (prefer the environment variable to the flag: flags show in ps)")
	fs.StringVar(&secret, "token-secret", "", "secret (32+ bytes) that signs subscribe tokens; set it to require a token for viewing and status")
	fs.Var(&origins, "allowed-origins", "comma-separated host patterns (app.example.com, *.example.com, 127.0.0.1:3000) whose pages may open viewer WebSockets; a host without a port allows it on every port")
	var hosts cli.StringList
	fs.Var(&hosts, "allowed-hosts", "comma-separated host patterns (tasks.internal, *.example.com, * for any) a server without --publish-keys or --token-secret answers besides localhost, 127.0.0.1 and [::1]; others get 421 (DNS rebinding)")
	fs.DurationVar(&cfg.MaxTokenTTL, "max-token-ttl", def.MaxTokenTTL, "refuse subscribe tokens whose exp is further ahead than this")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "allow listening beyond loopback without publish keys and a token secret")
	var (
		clustered bool
		cc        = cluster.DefaultConfig()
		cdef      = cc
		etcdEPs   = cli.StringList(cdef.EtcdEndpoints)
		peers     cli.StringList
	)
	fs.BoolVar(&clustered, "cluster", false, "join a cluster: each task lives on one member and is reachable from all (see the cluster flags)")
	fs.StringVar(&cc.Name, "cluster-name", cdef.Name, "cluster name; only members with the same name form a cluster")
	fs.StringVar(&cc.Host, "cluster-host", cdef.Host, "interface this member listens on for other members (keep it on a private network: member traffic is not authenticated)")
	fs.IntVar(&cc.Port, "cluster-port", cdef.Port, "port this member listens on for other members (0: any free port)")
	fs.StringVar(&cc.AdvertisedAddress, "cluster-advertise", "", "host:port the other members dial to reach this one (default: cluster host and port)")
	fs.StringVar(&cc.Provider, "cluster-provider", cdef.Provider, "how members find each other: etcd or automanaged (a fixed list of peers)")
	fs.Var(&etcdEPs, "etcd-endpoints", "comma-separated etcd endpoints (provider etcd)")
	fs.StringVar(&cc.AutomanagedAddr, "automanaged-addr", cdef.AutomanagedAddr, "host:port this member answers the other members' health polls on (provider automanaged)")
	fs.Var(&peers, "cluster-peers", "comma-separated automanaged addresses of every member, this one included (provider automanaged)")
	fs.DurationVar(&cc.LeaseTTL, "cluster-lease-ttl", cdef.LeaseTTL, "how long a member's etcd lease outlives its last keep-alive (whole seconds; etcd raises it to 1.5 × its election timeout, 2s on its defaults, and the log says what it granted): a member that dies leaves the others' topology that long after, or at once when its cluster port refuses connections; one paused longer is fenced, closes its viewers and joins again as a new member (provider etcd)")
	fs.DurationVar(&cc.AttemptTimeout, "cluster-request-timeout", cdef.AttemptTimeout, "deadline of one attempt to reach a task's member; attempts repeat within --request-timeout")
	journalKind, dataDir := journal.DefaultKind, journal.DefaultDir
	maxTaskBytes := int64(journal.DefaultMaxTaskBytes)
	fs.StringVar(&journalKind, "journal", journalKind, "where tasks are kept: pebble (on disk in --data-dir: every acknowledged message survives a restart or a crash), postgres (one database every cluster member shares: --postgres-url) or memory (lost on restart)")
	var postgresURL string
	var allowLocal bool
	fs.BoolVar(&allowLocal, "cluster-local-journal", false, "allow --journal pebble on a cluster member: its tasks survive its restarts in place, but not its loss, and a task that moves starts a new epoch")
	fs.StringVar(&postgresURL, "postgres-url", "", "database of the postgres journal, as postgres://user:password@host:port/database (prefer the environment variable: flags show in ps)")
	fs.StringVar(&dataDir, "data-dir", dataDir, "directory of the pebble journal (created 0700)")
	var acceptLoss bool
	fs.BoolVar(&acceptLoss, "accept-journal-loss", false, "open a pebble journal whose write-ahead log is damaged, without the messages after the damage (refused otherwise): every task starts a new epoch; keep a copy of --data-dir first")
	syncSetting := "always"
	fs.StringVar(&syncSetting, "sync", syncSetting, "when the pebble journal acknowledges a publish: always (after it is synced to disk: nothing acknowledged is lost) or interval=DURATION, e.g. interval=10ms (once written; the disk is synced every DURATION, and a crash loses what was acknowledged since the last sync, as Redis's appendfsync everysec)")
	fs.Int64Var(&maxTaskBytes, "max-task-bytes", maxTaskBytes, "most bytes one task's messages take in the journal; past it the oldest are dropped (a gap with reason retention)")
	fs.IntVar(&cfg.Actors.ReplayLimit, "replay-limit", def.Actors.ReplayLimit, "most messages a viewer resuming with since gets from the journal beyond the history (and at most --history-bytes of them); older ones are a gap (the download has them)")
	fs.DurationVar(&cfg.Actors.Retention, "retention", def.Actors.Retention, "how long the journal keeps a finished task")
	fs.DurationVar(&cfg.Actors.IdleRetention, "idle-retention", def.Actors.IdleRetention, "how long the journal keeps an unfinished task nobody published to or watched")
	var debugAddr string
	fs.StringVar(&debugAddr, "debug-addr", "", "serve Go's pprof profiles on this loopback address (off when empty)")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cli.WithEnvUsage(fs, serveSynopsis)
	if err := cli.ParseWithEnv(fs, args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, logFormat, logLevel)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	cfg.Logger = logger
	if clustered && journalKind == journal.KindPebble && !allowLocal {
		return cli.Usagef("--cluster needs a journal every member shares (--journal postgres) or none (--journal memory): a member's own disk cannot survive its loss (--cluster-local-journal allows it anyway)")
	}
	if clustered {
		cc.EtcdEndpoints, cc.Peers = etcdEPs, peers
		if cfg.Cluster, err = cluster.New(cc); err != nil {
			return cli.Usagef("cluster: %v", err)
		}
	}
	if err := cfg.Validate(); err != nil { // before the journal's directory is made
		return cli.UsageError{Err: err}
	}
	syncInterval, err := pebble.ParseSync(syncSetting)
	if err == nil && syncInterval > 0 && journalKind != journal.KindPebble {
		err = fmt.Errorf("--sync %s: only the pebble journal has a sync interval (PostgreSQL's is its synchronous_commit)", syncSetting)
	}
	if err != nil {
		return cli.UsageError{Err: err}
	}
	cfg.ClusterJournal = journalKind == journal.KindPostgres || allowLocal
	if cfg.Journal, err = backends.Open(journalKind, backends.Options{
		Dir: dataDir, PostgresURL: postgresURL, MaxTaskBytes: maxTaskBytes, Logger: logger, AcceptLoss: acceptLoss, SyncInterval: syncInterval,
	}); err != nil {
		return cli.UsageError{Err: err}
	}
	cfg.PublishKeys, cfg.AllowedOrigins, cfg.AllowedHosts, cfg.TokenSecret = publishKeys, origins, hosts, []byte(secret)
	if len(cfg.PublishKeys) == 0 || len(cfg.TokenSecret) == 0 {
		logger.Warn("publishing or viewing needs no credentials: set --publish-keys and --token-secret before exposing this server; without them it listens on loopback only (or pass --insecure)",
			slog.Bool("publish_keys", len(cfg.PublishKeys) > 0), slog.Bool("token_secret", len(cfg.TokenSecret) > 0))
	}

	srv, err := server.New(cfg)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = srv.Manager().Shutdown(ctx)
		return fmt.Errorf("listen: %w", err)
	}
	if err := srv.CheckExposure(ln.Addr()); err != nil {
		ln.Close()
		_ = srv.Manager().Shutdown(ctx)
		return cli.UsageError{Err: err}
	}
	if debugAddr != "" {
		stop, err := serveDebug(debugAddr, logger)
		if err != nil {
			ln.Close()
			_ = srv.Manager().Shutdown(ctx)
			return cli.UsageError{Err: err}
		}
		defer stop()
	}
	base := "http://" + ln.Addr().String()
	logger.Info("tasktail listening", slog.String("addr", ln.Addr().String()), slog.String("version", version))
	// With credentials configured, the commands carry them: a publish key in $TASKTAIL_KEY,
	// a subscribe token from `tasktail token` for viewing.
	publishAuth, viewAuth, viewQuery := "", "", ""
	if len(cfg.PublishKeys) > 0 {
		publishAuth = ` -H "Authorization: Bearer $TASKTAIL_KEY"`
	}
	if len(cfg.TokenSecret) > 0 {
		viewAuth, viewQuery = publishAuth, "?token=TOKEN (tasktail token demo)"
	}
	fmt.Fprintf(stdout, `tasktail %s listening on %s
  publish:  curl -X POST %s/v1/tasks/demo/logs%s -H 'Content-Type: application/json' -d '{"level":"info","message":"hello"}'
  status:   curl%s %s/v1/tasks/demo
  view:     %s/tasks/demo%s
  watch:    node --experimental-websocket -e 'new WebSocket(process.argv[1]).onmessage = e => console.log(e.data)' '%s/v1/tasks/demo/ws?since=0'
  health:   %s/healthz   metrics: %s/metrics
  journal:  %s
`, version, base, base, publishAuth, viewAuth, base, base, viewQuery, strings.Replace(base, "http://", "ws://", 1), base, base, journalNote(journalKind, dataDir))
	if members, self, ok := srv.Manager().ClusterMembers(); ok {
		fmt.Fprintf(stdout, "  cluster:  member %s of %q (%s); %d members so far, listed at %s/readyz\n",
			self, cc.Name, cc.Provider, len(members), base)
	}
	return srv.Serve(ctx, ln)
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// journalNote says where tasks are kept, for the start-up lines.
func journalNote(kind, dir string) string {
	switch kind {
	case journal.KindMemory:
		return "memory (tasks are lost on restart)"
	case journal.KindPostgres:
		return "postgres (every acknowledged message survives a restart, and a member's loss)"
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return kind + " in " + dir + " (every acknowledged message survives a restart)"
}
