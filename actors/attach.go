package actors

import (
	"context"
	"errors"

	"github.com/tasktail/tasktail/conn"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// Resume selects what a new connection receives before live messages. The zero value is
// rule 1: flush the queue.
type Resume struct {
	// Replay selects history replay: every retained message with seq > Since.
	Replay bool
	Since  uint64
	// Epoch is the epoch the client last saw; a different one means the task was
	// restarted and the client gets a gap and the new incarnation from its start.
	Epoch string
}

// Attachment is a connection registered with its task whose frames wait, in a bounded
// outbox, until Start writes them. A server attaches before it accepts a WebSocket, so a
// refusal (ErrTooManyViewers, ErrTooManyTasks, ErrShuttingDown) can still be an HTTP
// answer. Attach, then Start or Cancel, is the one way to attach a connection; Connect is
// the same for the original API.
type Attachment struct {
	m      *Manager
	viewer *Viewer
	used   bool
}

// Attach subscribes a new connection to the task (creating the task if needed) with the
// replay from selects. The caller must call Start or Cancel.
func (m *Manager) Attach(ctx context.Context, taskID string, from Resume) (*Attachment, error) {
	if err := m.cfg.ValidateTaskID(taskID); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrShuttingDown
	}
	m.attached++
	closeAll := m.closeAll
	m.mu.Unlock()

	a := &Attachment{m: m, viewer: NewViewer(m.system.Root, ViewerOptions{
		TaskID: taskID, Buffer: m.cfg.SocketBuffer, WriteTimeout: m.cfg.WriteTimeout,
		CloseAll: closeAll, Counters: viewerCounters{m.stats},
	})}
	ack, err := Ask[*v1.SubscribeAck](ctx, m, &v1.Subscribe{TaskId: taskID, Subscriber: refOf(a.viewer.PID()), Resume: from.Replay, Since: from.Since, Epoch: from.Epoch})
	if err != nil {
		a.Cancel()
		return nil, err
	}
	a.viewer.Subscribed(pidOf(ack.Task))
	return a, nil
}

// Start writes the attachment's frames to s from a goroutine that runs only while there
// is something to write, so an idle connection costs none, until the connection ends:
// ctx is done (the peer left), the task finished or was deleted, the socket fell behind
// (1013), a write failed, or Close, CloseViewers or Shutdown closed it. Then ended (if
// not nil) is called once, from another goroutine, with the failed write's error or nil.
func (a *Attachment) Start(ctx context.Context, s conn.Socket, ended func(error)) error {
	if a.used {
		return errors.New("attachment already used")
	}
	a.used = true
	a.viewer.Start(ctx, s, func(err error) {
		if ended != nil {
			ended(err)
		}
		a.m.detached()
	})
	return nil
}

// Run is Start that waits for the connection to end and returns what ended got.
func (a *Attachment) Run(ctx context.Context, s conn.Socket) error {
	result := make(chan error, 1)
	if err := a.Start(ctx, s, func(err error) { result <- err }); err != nil {
		return err
	}
	return <-result
}

// Close ends a started attachment's connection with code and reason, from any goroutine:
// the socket leaves its task at once, and its writer closes the connection after the
// frame it may be writing.
func (a *Attachment) Close(code wire.CloseCode, reason string) { a.viewer.Close(code, reason) }

// Cancel gives up an attachment that will not Start: the task forgets the subscriber.
func (a *Attachment) Cancel() {
	if a.used {
		return
	}
	a.used = true
	a.viewer.Stop()
	a.m.detached()
}

// detached counts one attached connection as ended.
func (m *Manager) detached() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.attached--; m.attached == 0 && m.closed {
		close(m.allEnded)
	}
}

// CloseViewers closes every connection attached now with code and reason; the tasks keep
// their state, and clients resume with since/epoch. Shutdown uses it with 1001; a member
// that hands its tasks to others, or a test of reconnects, may use it alone.
func (m *Manager) CloseViewers(code wire.CloseCode, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fired := m.closeAll
	m.closeAll = conn.NewBroadcast()
	fired.Fire(code, reason)
}
