package actors

import (
	"context"
	"fmt"

	"github.com/tasktail/tasktail/conn"
	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// entryFrame is the log frame of an entry from the journal; stamp is scratch space for
// its timestamp.
func entryFrame(taskID string, e journal.Entry, stamp []byte) []byte {
	return conn.LogFrame(&v1.LogEntry{
		TaskId: taskID, Seq: e.Seq, TimeUnixNano: e.TimeUnixNano,
		Level: e.Level, Message: e.Message, Progress: e.Progress, Finished: e.Finished,
	}, conn.AppendTimestamp(stamp, e.TimeUnixNano))
}

// Log calls fn with every retained log frame of the task, oldest first, until fn returns
// an error, which Log returns; ErrNotFound for a task that does not exist. With a journal
// that is the whole stored log (what retention and the size cap kept); without one, what
// the task's history holds in memory.
func (m *Manager) Log(ctx context.Context, taskID string, fn func(frame []byte) error) error {
	if err := m.cfg.ValidateTaskID(taskID); err != nil {
		return err
	}
	if m.store == nil {
		reply, err := m.request(ctx, &v1.GetLog{TaskId: taskID})
		if err != nil {
			return err
		}
		frames, ok := reply.(*v1.LogFrames)
		switch {
		case !ok:
			return unexpected(reply)
		case !frames.Found:
			return ErrNotFound
		}
		for _, f := range frames.Frames {
			if err := fn(f); err != nil {
				return err
			}
		}
		return nil
	}
	j := m.store.w.Journal()
	if _, found, err := j.Stat(taskID); err != nil { // Load would take the task over
		return fmt.Errorf("%w: %v", ErrJournalUnavailable, err)
	} else if !found {
		return ErrNotFound
	}
	var stamp [40]byte
	var failed error
	err := j.Read(taskID, 1, func(e journal.Entry) bool {
		if failed = ctx.Err(); failed != nil {
			return false
		}
		failed = fn(entryFrame(taskID, e, stamp[:0]))
		return failed == nil
	})
	if failed != nil {
		return failed
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrJournalUnavailable, err)
	}
	return nil
}
