package actors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// Options are the Manager's collaborators; nil fields mean defaults.
type Options struct {
	// Logger receives the service's log lines and the actor system's (default: discard).
	Logger *slog.Logger
	// TaskMiddleware wraps every task actor's Receive. On a single node publishes arrive as
	// *PublishCall, in a cluster as *v1.Publish.
	TaskMiddleware []actor.ReceiverMiddleware
	// Cluster, when set, makes the Manager a cluster member: tasks are grains spread over
	// the members instead of children of a local Registry.
	Cluster *ClusterConfig
}

// Manager is tasktail as a Go library: the seed's ConnectionManager, one method for each of
// its methods, over task actors. It is safe for concurrent use. Calls that ask a task
// something block until the task answers or Config.RequestTimeout passes.
type Manager struct {
	cfg     Config
	system  *actor.ActorSystem
	router  Router
	cluster *clusterRouter // nil on a single node
	pipes   *pipes         // the publish path on a single node (see pipe.go)
	stats   *Stats
	logger  *slog.Logger

	mu       sync.Mutex // guards closed and closeAll; orders wg.Add before Shutdown's wg.Wait
	closed   bool
	closeAll *closeBroadcast // the one every socket attached now listens to
	wg       sync.WaitGroup  // one per attached socket's writer
}

// closeBroadcast tells every socket attached before it fired to close with code. Its
// fields are written before ctx is cancelled and only read after, so they need no lock.
// A context, not a channel: a socket without a writer goroutine watches it with
// context.AfterFunc.
type closeBroadcast struct {
	ctx    context.Context
	fire   context.CancelFunc
	code   CloseCode
	reason string
}

func newCloseBroadcast() *closeBroadcast {
	ctx, fire := context.WithCancel(context.Background())
	return &closeBroadcast{ctx: ctx, fire: fire}
}

// NewManager starts an actor system with a local Registry.
func NewManager(cfg Config, opts Options) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if opts.Cluster != nil {
		if err := opts.Cluster.Validate(); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(libraryHandler{logger.Handler()}).With(slog.String("component", "actor"))
	}))
	m := &Manager{cfg: cfg, system: system, stats: &Stats{}, logger: logger, closeAll: newCloseBroadcast()}
	if opts.Cluster == nil {
		registry := NewRegistry(system, &m.cfg, m.stats, logger, opts.TaskMiddleware...)
		m.router, m.pipes = registry, newPipes(registry.send, cfg.RequestTimeout)
		return m, nil
	}
	supervisor := &taskSupervisor{cfg: &m.cfg, stats: m.stats, logger: logger}
	r, err := startCluster(system, *opts.Cluster, taskGrainProps(&m.cfg, m.stats, supervisor, opts.TaskMiddleware...), logger)
	if err != nil {
		system.Shutdown()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	m.router, m.cluster = r, r
	return m, nil
}

// ClusterMembers returns the addresses of the cluster's members as this member sees them
// and this member's own address; ok is false on a single node.
func (m *Manager) ClusterMembers() (members []string, self string, ok bool) {
	if m.cluster == nil {
		return nil, "", false
	}
	return m.cluster.Members(), m.system.Address(), true
}

// Stats returns the Manager's running counters.
func (m *Manager) Stats() *Stats { return m.stats }

// Ack is the answer to a publish.
type Ack struct {
	TaskID   string
	FirstSeq uint64
	LastSeq  uint64
	Queued   bool // no viewer was connected: the messages wait in the queue
	Epoch    string
}

// SendLog is seed method send_log: it publishes one message and returns its seq. It waits
// for the task; a Producer does not.
func (m *Manager) SendLog(ctx context.Context, taskID string, level v1.Level, message string, progress float64, finished bool) (Ack, error) {
	if m.pipes == nil {
		return m.Publish(ctx, taskID, []*v1.LogInput{{Level: level, Message: message, Progress: progress, Finished: finished}})
	}
	one := [1]logEntry{{level: level, message: message, progress: progress, finished: finished}}
	return m.publish(ctx, taskID, one[:])
}

// Publish appends entries to a task, all or nothing, after checking the field rules.
func (m *Manager) Publish(ctx context.Context, taskID string, entries []*v1.LogInput) (Ack, error) {
	if m.pipes == nil {
		return m.publishRequest(ctx, taskID, entries)
	}
	values := make([]logEntry, len(entries))
	for i, in := range entries {
		values[i] = entryOf(in)
	}
	return m.publish(ctx, taskID, values)
}

// publish is Publish on a single node: through the task's pipe, where publishes made at
// the same time travel to the task together.
func (m *Manager) publish(ctx context.Context, taskID string, entries []logEntry) (Ack, error) {
	if err := m.cfg.ValidateTaskID(taskID); err != nil {
		return Ack{}, err
	}
	if err := validateEntries(&m.cfg, entries); err != nil {
		return Ack{}, err
	}
	if err := ctx.Err(); err != nil {
		return Ack{}, err
	}
	p := m.pipes.acquire(taskID)
	defer m.pipes.release(p)
	c, part := p.add(entries, m.cfg.MaxBatch)
	select {
	case <-c.done:
		return c.result(part)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Ack{}, ErrTimeout
		}
		return Ack{}, ctx.Err()
	}
}

// publishRequest is Publish in a cluster: a request to the task's grain.
func (m *Manager) publishRequest(ctx context.Context, taskID string, entries []*v1.LogInput) (Ack, error) {
	if err := m.cfg.ValidateTaskID(taskID); err != nil {
		return Ack{}, err
	}
	if err := m.cfg.ValidateEntries(entries); err != nil {
		return Ack{}, err
	}
	reply, err := m.request(ctx, &v1.Publish{TaskId: taskID, Entries: entries})
	if err != nil {
		return Ack{}, err
	}
	ack, ok := reply.(*v1.PublishAck)
	if !ok {
		return Ack{}, unexpected(reply)
	}
	if ack.Status == v1.PublishStatus_PUBLISH_STATUS_FINISHED {
		return Ack{}, ErrTaskFinished
	}
	return Ack{TaskID: taskID, FirstSeq: ack.FirstSeq, LastSeq: ack.LastSeq, Queued: ack.Queued, Epoch: ack.Epoch}, nil
}

// Status returns a task's status, or ErrNotFound.
func (m *Manager) Status(ctx context.Context, taskID string) (*v1.Status, error) {
	if err := m.cfg.ValidateTaskID(taskID); err != nil {
		return nil, err
	}
	reply, err := m.request(ctx, &v1.GetStatus{TaskId: taskID})
	if err != nil {
		return nil, err
	}
	st, ok := reply.(*v1.Status)
	if !ok {
		return nil, unexpected(reply)
	}
	if !st.Found {
		return nil, ErrNotFound
	}
	return st, nil
}

// ConnectionStatus is seed method get_connection_status: true if at least one socket is
// connected to the task.
func (m *Manager) ConnectionStatus(ctx context.Context, taskID string) (bool, error) {
	st, err := m.Status(ctx, taskID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return st.GetConnected(), err
}

// QueuedCount is seed method get_queued_message_count: how many messages wait for a
// viewer (0 for an unknown task).
func (m *Manager) QueuedCount(ctx context.Context, taskID string) (int, error) {
	st, err := m.Status(ctx, taskID)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	return int(st.GetQueued()), err
}

// Disconnect is seed method disconnect: it closes the task's sockets with 1000 "task
// deleted" and drops all its state. Deleting an unknown task is not an error.
func (m *Manager) Disconnect(ctx context.Context, taskID string) error {
	if err := m.cfg.ValidateTaskID(taskID); err != nil {
		return err
	}
	reply, err := m.request(ctx, &v1.Delete{TaskId: taskID})
	if err != nil {
		return err
	}
	if _, ok := reply.(*v1.DeleteAck); !ok {
		return unexpected(reply)
	}
	return nil
}

// Resume selects what a new connection receives before live messages. The zero value is
// seed rule 1: flush the queue.
type Resume struct {
	// Replay selects history replay: every retained message with seq > Since.
	Replay bool
	Since  uint64
	// Epoch is the epoch the client last saw; a different one means the task was
	// restarted and the client gets a gap and the new incarnation from its start.
	Epoch string
}

// Connect is seed method connect: it registers s with the task (creating the task if
// needed), sends it the hello frame and every queued message in order, and clears the
// queue. It returns once s is registered; frames are written by a goroutine the Manager
// owns until the connection ends or Shutdown.
func (m *Manager) Connect(ctx context.Context, taskID string, s Socket) error {
	a, err := m.Attach(ctx, taskID, Resume{})
	if err != nil {
		return err
	}
	return a.Start(context.Background(), s, func(err error) {
		if err != nil {
			m.logger.Info("socket closed after a failed write", slog.String("task_id", taskID), slog.Any("error", err))
		}
	})
}

// Serve is Attach and Run: it attaches s to the task with the replay from selects and
// writes frames in the calling goroutine until the connection ends.
func (m *Manager) Serve(ctx context.Context, taskID string, s Socket, from Resume) error {
	a, err := m.Attach(ctx, taskID, from)
	if err != nil {
		return err
	}
	return a.Run(ctx, s)
}

// Attachment is a connection registered with its task whose frames wait, in a bounded
// outbox, for Run to write them. A server attaches before it accepts a WebSocket, so a
// refusal (ErrTooManyViewers, ErrTooManyTasks, ErrShuttingDown) can still be an HTTP
// answer.
type Attachment struct {
	m        *Manager
	out      *outbox
	self     *actor.PID
	closeAll *closeBroadcast
	done     bool
}

// Attach spawns a socket actor and subscribes it to the task (creating the task if
// needed) with the replay from selects. The caller must call Run or Cancel.
func (m *Manager) Attach(ctx context.Context, taskID string, from Resume) (*Attachment, error) {
	if err := m.cfg.ValidateTaskID(taskID); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrShuttingDown
	}
	m.wg.Add(1)
	closeAll := m.closeAll
	m.mu.Unlock()

	out := newOutbox(m.cfg.SocketBuffer)
	self := m.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &socketActor{taskID: taskID, out: out, stats: m.stats}
	}, actor.WithMailbox(actor.Unbounded())))
	a := &Attachment{m: m, out: out, self: self, closeAll: closeAll}
	reply, err := m.request(ctx, &v1.Subscribe{TaskId: taskID, Subscriber: self, Resume: from.Replay, Since: from.Since, Epoch: from.Epoch})
	if err != nil {
		a.Cancel()
		return nil, err
	}
	ack, ok := reply.(*v1.SubscribeAck)
	if !ok {
		a.Cancel()
		return nil, unexpected(reply)
	}
	m.system.Root.Send(self, watchTask{task: ack.Task})
	return a, nil
}

// Run writes the attachment's frames to s until the connection ends: ctx is done (the
// peer left), the task finished or was deleted, the socket fell behind (1013), a write
// failed, or CloseViewers or Shutdown closed it. A failed write is returned as an error.
func (a *Attachment) Run(ctx context.Context, s Socket) error {
	result := make(chan error, 1)
	if err := a.Start(ctx, s, func(err error) { result <- err }); err != nil {
		return err
	}
	return <-result
}

// Start is Run without waiting: frames are written to s by a goroutine that runs only
// while there is something to write, so an idle connection costs none. When the
// connection has ended, ended (if not nil) is called once, from another goroutine, with
// what Run would return.
func (a *Attachment) Start(ctx context.Context, s Socket, ended func(error)) error {
	if a.done {
		return errors.New("attachment already used")
	}
	a.done = true
	a.out.start(writer{
		ctx: ctx, s: s, timeout: a.m.cfg.WriteTimeout, closeAll: a.closeAll, stats: a.m.stats,
		detach: func() { a.m.system.Root.Send(a.self, detachSocket{}) },
		end: func(err error) {
			a.m.system.Root.Stop(a.self)
			if ended != nil {
				ended(err)
			}
			a.m.wg.Done()
		},
	})
	return nil
}

// Close ends a running attachment's connection with code and reason, from any goroutine:
// the socket leaves its task at once, and its writer closes the connection after the
// frame it may be writing.
func (a *Attachment) Close(code CloseCode, reason string) {
	a.m.system.Root.Send(a.self, closeSocket{code: code, reason: reason})
}

// Cancel gives up an attachment that will not Run: the task forgets the subscriber.
func (a *Attachment) Cancel() {
	if a.done {
		return
	}
	a.done = true
	a.m.system.Root.Stop(a.self)
	a.m.wg.Done()
}

// CloseViewers closes every socket attached now with code and reason; the tasks keep
// their state, and clients resume with since/epoch. Shutdown uses it with 1001; a member
// that hands its tasks to others, or a test of reconnects, may use it alone.
func (m *Manager) CloseViewers(code CloseCode, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fired := m.closeAll
	m.closeAll = newCloseBroadcast()
	fired.code, fired.reason = code, reason
	fired.fire()
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
		if r.Reason == v1.RefusedReason_REFUSED_REASON_TOO_MANY_VIEWERS {
			return ErrTooManyViewers
		}
		return ErrTooManyTasks
	}
	return nil
}

func unexpected(reply any) error { return fmt.Errorf("unexpected reply %T", reply) }

// Shutdown closes every socket with 1001 "server shutting down", waits for their writers
// until ctx is done, then stops every task actor and the actor system. Later calls that
// attach sockets fail with ErrShuttingDown.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.CloseViewers(CloseGoingAway, "server shutting down")

	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("sockets still open: %w", ctx.Err())
	}
	m.router.Shutdown()
	if m.cluster == nil {
		m.system.Shutdown() // a cluster's Shutdown has shut its system down
	}
	return err
}
