package actors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/actors/batch"
	"github.com/tasktail/tasktail/conn"
	"github.com/tasktail/tasktail/internal/goroutines"
	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
	"google.golang.org/protobuf/proto"
)

// Options are the Manager's collaborators; nil fields mean defaults.
type Options struct {
	// Logger receives the service's log lines and the actor system's (default: discard).
	Logger *slog.Logger
	// TaskMiddleware wraps every task actor's Receive. Publishes arrive as *PublishCall on a
	// single node and as *v1.Publish (the same call, as it crossed members) in a cluster.
	TaskMiddleware []actor.ReceiverMiddleware
	// Cluster, when set, makes the Manager a cluster member (package cluster): tasks are
	// grains spread over the members instead of children of a local Registry.
	Cluster Cluster
	// Journal, when set, keeps every task durably (docs/design.md, "Durability"); the
	// Manager closes it on Shutdown. Without one, tasks live in memory only.
	Journal journal.Journal
	// ClusterJournal says Journal may serve a cluster member: one that every member
	// shares (PostgreSQL), or one on the member's own disk that the operator chose to
	// allow (it cannot survive the member's loss, and does not fence).
	ClusterJournal bool
}

// Manager is tasktail as a Go library: the original ConnectionManager's five methods
// (seed.go), publishing (publish.go) and attaching connections (attach.go), over task
// actors. It is safe for concurrent use. Calls that ask a task something block until the
// task answers or Config.RequestTimeout passes.
type Manager struct {
	cfg       Config
	system    *actor.ActorSystem
	router    Router
	cluster   *memberRouter    // nil on a single node
	pipes     *batch.Pipes     // the publish path (package batch)
	store     *store           // the journal; nil without one
	index     *listIndex       // the tasks in memory here, for the task list (list_index.go)
	sweeper   goroutines.Group // the journal's retention sweep
	stopSweep chan struct{}
	stats     *Stats
	logger    *slog.Logger

	mu       sync.Mutex // guards what follows
	closed   bool
	closeAll *conn.Broadcast // the one every connection attached now listens to
	attached int             // connections attached and not yet ended
	// allEnded is closed once the Manager is shutting down and no connection is attached.
	allEnded chan struct{}
	// fenced carries why this cluster member lost its membership (Fenced).
	fenced    chan error
	fenceOnce sync.Once
	// opts are what the Manager was made with, for Rejoin.
	opts Options
	// leftOpen: shut down for Rejoin, with the journal still open (guarded by mu).
	leftOpen bool
}

// NewManager starts an actor system with a local Registry, or joins a cluster.
func NewManager(cfg Config, opts Options) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if opts.Cluster != nil && opts.Journal != nil && !opts.ClusterJournal {
		return nil, errors.New("cluster: a journal on this member's own disk cannot survive its loss: use a shared journal (PostgreSQL) or none")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return newManager(cfg, opts, &Stats{}, logger)
}

// newManager is NewManager with the counters to keep, once cfg and opts are checked.
func newManager(cfg Config, opts Options, stats *Stats, logger *slog.Logger) (*Manager, error) {
	system := NewActorSystem(logger)
	m := &Manager{cfg: cfg, system: system, stats: stats, logger: logger, opts: opts,
		closeAll: conn.NewBroadcast(), allEnded: make(chan struct{}), fenced: make(chan error, 1)}
	if opts.Journal != nil {
		m.store = &store{w: journal.NewWriter(opts.Journal, &stats.Journal)}
		m.stopSweep = make(chan struct{})
		m.sweeper.Go(m.sweep)
	}
	m.index = newListIndex()
	if opts.Cluster == nil {
		m.router = newRegistry(system, &m.cfg, m.stats, logger, m.store, m.index, opts.TaskMiddleware...)
	} else {
		supervisor := &taskSupervisor{cfg: &m.cfg, stats: m.stats, logger: logger}
		_, err := spawnLister(system, m.index)
		if err != nil {
			system.Shutdown()
			m.stopJournal()
			return nil, fmt.Errorf("cluster: %w", err)
		}
		_, outlive := opts.Journal.(journal.Fencer) // shared: a task that moves continues from it
		member, err := opts.Cluster.Join(system, Host{
			Grains: func(identify func(any) (string, bool)) *actor.Props {
				return taskGrainProps(&m.cfg, m.stats, m.store, m.index, supervisor, identify, opts.TaskMiddleware...)
			},
			Logger: logger, Outlive: outlive, Fenced: m.fence,
		})
		if err != nil {
			system.Shutdown()
			m.stopJournal() // the caller still owns the journal: it was not started
			return nil, fmt.Errorf("cluster: %w", err)
		}
		r := &memberRouter{member: member, timeout: cfg.RequestTimeout}
		m.router, m.cluster = r, r
	}
	m.pipes = batch.NewPipes(m.router.Publish, cfg.RequestTimeout, ErrTimeout)
	return m, nil
}

// NewActorSystem returns the process's actor system, whose actors' ids are unique to this
// process. The library numbers the actors and futures of a process from 1, so a member
// that restarts at the same address would give the same PIDs to other actors: a message
// or a Watch for an actor of the process that died (a subscriber, a request's future) would
// reach whatever now holds its number, for instance a viewer of another task, which would
// then be shown that task's lines, or count as a subscriber that never leaves. Starting
// the sequence at a random point makes such a PID name nothing, so the message goes to
// dead letters and a Watch is answered with Terminated.
func NewActorSystem(logger *slog.Logger) *actor.ActorSystem {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(libraryHandler{logger.Handler()}).With(slog.String("component", "actor"))
	}))
	atomic.AddUint64(&system.ProcessRegistry.SequenceID, rand.Uint64()>>1)
	compactProcessRegistry(system)
	return system
}

// Stats returns the Manager's running counters.
func (m *Manager) Stats() *Stats { return m.stats }

// Journaled reports whether the Manager keeps its tasks in a journal (Stats.Journal counts
// its commits).
func (m *Manager) Journaled() bool { return m.store != nil }

// Status returns a task's status, or ErrNotFound.
func (m *Manager) Status(ctx context.Context, taskID string) (*v1.Status, error) {
	st, err := Ask[*v1.Status](ctx, m, &v1.GetStatus{TaskId: taskID})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// status is the task's status, found or not: a task nobody published to may have viewers
// waiting.
func (m *Manager) status(ctx context.Context, taskID string) (*v1.Status, error) {
	st, err := Ask[*v1.Status](ctx, m, &v1.GetStatus{TaskId: taskID})
	if errors.Is(err, ErrNotFound) {
		return st, nil
	}
	return st, err
}

// Restart starts a new incarnation of the task and returns its epoch, or ErrNotFound. Its
// viewers stay connected and get a gap with reason epoch and a new hello; a finished task
// takes publishes again.
func (m *Manager) Restart(ctx context.Context, taskID string) (string, error) {
	ack, err := Ask[*v1.RestartAck](ctx, m, &v1.Restart{TaskId: taskID})
	if err != nil {
		return "", err
	}
	return ack.Epoch, nil
}

// Ask sends req to its task, by the operations table (ops.go), and returns the task's
// answer. The errors are the package's: a task_id that is not valid, ErrTimeout, a
// refusal (ErrTooManyTasks, ErrJournalUnavailable…), ErrTaskFailed, and ErrNotFound with
// the answer when it says the task does not exist (its found is false). A new task
// operation needs no Manager method of its own: its route calls Ask.
func Ask[A proto.Message](ctx context.Context, m *Manager, req TaskMessage) (A, error) {
	var none A
	if _, ok := req.(*v1.Publish); ok {
		// A *v1.Publish is a call that crossed members, checked where it was made.
		return none, errors.New("actors.Ask: publish with Manager.Publish, which checks the field rules")
	}
	if err := m.cfg.ValidateTaskID(req.GetTaskId()); err != nil {
		return none, err
	}
	reply, err := m.request(ctx, req)
	if err != nil {
		return none, err
	}
	ans, ok := reply.(A)
	if !ok {
		return none, unexpected(reply)
	}
	if f, ok := any(ans).(interface{ GetFound() bool }); ok && !f.GetFound() {
		return ans, ErrNotFound
	}
	return ans, nil
}

// request asks the task's actor through the router, translating the actor library's
// errors into the package's.
func (m *Manager) request(ctx context.Context, msg TaskMessage) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	timeout := m.cfg.RequestTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline))
	}
	reply, err := m.router.Request(msg, timeout)
	switch {
	case errors.Is(err, actor.ErrTimeout):
		return nil, ErrTimeout
	case err != nil:
		return nil, fmt.Errorf("request %T: %w", msg, err)
	}
	if err := replyError(reply); err != nil {
		return nil, err
	}
	return reply, nil
}

// replyError is the error a task's failure or refusal stands for, or nil for an answer.
func replyError(reply any) error {
	switch r := reply.(type) {
	case *v1.TaskFailure:
		return fmt.Errorf("%w: %s", ErrTaskFailed, r.Reason)
	case *v1.Refused:
		switch r.Reason {
		case v1.RefusedReason_REFUSED_REASON_TOO_MANY_VIEWERS:
			return ErrTooManyViewers
		case v1.RefusedReason_REFUSED_REASON_JOURNAL_UNAVAILABLE:
			return ErrJournalUnavailable
		case v1.RefusedReason_REFUSED_REASON_OUTCOME_UNKNOWN:
			return ErrOutcomeUnknown
		case v1.RefusedReason_REFUSED_REASON_TOO_MANY_WAITING:
			return ErrTooManyWaiting
		}
		return ErrTooManyTasks
	}
	return nil
}

func unexpected(reply any) error { return fmt.Errorf("unexpected reply %T", reply) }

// Shutdown closes every connection with 1001 "server shutting down", waits for their
// writers until ctx is done, then stops every task actor and the actor system, and waits
// for the goroutines they started. Later calls that attach connections fail with
// ErrShuttingDown.
func (m *Manager) Shutdown(ctx context.Context) error {
	return m.shutdown(ctx, true)
}

// shutdown is Shutdown; the journal is closed only with closeJournal.
func (m *Manager) shutdown(ctx context.Context, closeJournal bool) error {
	m.mu.Lock()
	if m.closed {
		// A Manager that Rejoin stopped without starting its successor left the journal
		// open: the last Shutdown closes it.
		leftOpen := closeJournal && m.leftOpen
		m.leftOpen = false
		m.mu.Unlock()
		if leftOpen {
			return m.store.w.Journal().Close()
		}
		return nil
	}
	m.closed = true
	m.leftOpen = !closeJournal && m.store != nil
	if m.attached == 0 {
		close(m.allEnded)
	}
	m.mu.Unlock()
	m.CloseViewers(wire.CloseGoingAway, "server shutting down")

	var err error
	select {
	case <-m.allEnded:
	case <-ctx.Done():
		err = fmt.Errorf("sockets still open: %w", ctx.Err())
	}
	// Leaving a cluster talks to its provider, which may be gone (etcd down): the leave
	// gets what is left of ctx, and past it the Manager gives up on it and says so.
	left := make(chan struct{})
	go func() {
		m.router.Shutdown()
		close(left)
	}()
	select {
	case <-left:
		if m.cluster != nil {
			err = errors.Join(err, m.cluster.leaveErr)
		}
	case <-ctx.Done():
		what := "stopping the tasks"
		if m.cluster != nil {
			what = "leaving the cluster (is its provider, etcd, reachable?)"
		}
		return errors.Join(err, fmt.Errorf("%s did not finish within the shutdown timeout", what))
	}
	m.pipes.Wait()
	if m.cluster == nil {
		m.system.Shutdown() // a cluster's Shutdown has shut its system down
	}
	if m.store != nil {
		m.stopJournal() // after the tasks: it stores what they wrote as they stopped
		if !closeJournal {
			return err
		}
		if e := m.store.w.Journal().Close(); e != nil {
			err = errors.Join(err, fmt.Errorf("close journal: %w", e))
		}
	}
	return err
}

// JournalHealth returns why the journal cannot store writes now (a full disk, a failed
// write-ahead log), or nil: with none, or one that cannot tell.
func (m *Manager) JournalHealth() error {
	if m.store == nil {
		return nil
	}
	if hc, ok := m.store.w.Journal().(journal.HealthChecker); ok {
		return hc.Healthy()
	}
	return nil
}

// stopJournal stops the retention sweep and the journal's Writer, if there is a journal.
func (m *Manager) stopJournal() {
	if m.store == nil {
		return
	}
	close(m.stopSweep)
	m.sweeper.Wait()
	m.store.w.Close()
}

// sweepOnce removes what retention has expired at now from the journal, through its
// Writer, and returns how many tasks it removed.
func (m *Manager) sweepOnce(now time.Time) (int, error) {
	return m.store.w.Sweep(now, journal.Retention{Finished: m.cfg.Retention, Idle: m.cfg.IdleRetention})
}

// sweep removes what retention has expired from the journal, every eighth of the shorter
// retention (at most hourly), until Shutdown.
func (m *Manager) sweep() {
	every := min(m.cfg.Retention, m.cfg.IdleRetention) / 8
	every = min(max(every, time.Second), time.Hour)
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-m.stopSweep:
			return
		case now := <-ticker.C:
			if n, err := m.sweepOnce(now); err != nil {
				m.logger.Warn("journal retention sweep failed; it runs again later", slog.Any("error", err))
			} else if n > 0 {
				m.logger.Info("journal retention removed tasks", slog.Int("tasks", n))
			}
		}
	}
}
