package actors

import (
	"context"
	"errors"
	"log/slog"

	"github.com/tasktail/tasktail/conn"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// The original ConnectionManager's five methods, one for one (docs/design.md, "The
// original ConnectionManager"): connect, disconnect, send_log, get_connection_status and
// get_queued_message_count.

// Connect registers s with the task (creating the task if needed), sends it the hello
// frame and every queued message in order, and clears the queue (rule 1). It returns once
// s is registered; frames are written by a goroutine the Manager owns until the connection
// ends or Shutdown. A failed write closes s and removes it (rule 7).
func (m *Manager) Connect(ctx context.Context, taskID string, s conn.Socket) error {
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

// Disconnect closes the task's sockets with 1000 "task deleted" and drops all its state
// (rule 2). Deleting an unknown task is not an error.
func (m *Manager) Disconnect(ctx context.Context, taskID string) error {
	_, err := Ask[*v1.DeleteAck](ctx, m, &v1.Delete{TaskId: taskID})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// SendLog publishes one message and returns its seq: delivered now to the connected
// sockets, or queued (rules 3 and 4). It waits for the task; a Producer does not.
func (m *Manager) SendLog(ctx context.Context, taskID string, level v1.Level, message string, progress float64, finished bool) (Ack, error) {
	one := [1]logEntry{{Level: level, Message: message, Progress: progress, Finished: finished}}
	return m.publish(ctx, taskID, one[:])
}

// ConnectionStatus is true if at least one socket is connected to the task (rule 5), also
// one waiting for the task's first message.
func (m *Manager) ConnectionStatus(ctx context.Context, taskID string) (bool, error) {
	st, err := m.status(ctx, taskID)
	return st.GetConnected(), err
}

// QueuedCount is how many messages wait for a viewer, 0 for an unknown task (rule 6).
func (m *Manager) QueuedCount(ctx context.Context, taskID string) (int, error) {
	st, err := m.Status(ctx, taskID)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	return int(st.GetQueued()), err
}
