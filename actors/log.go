package actors

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// entryFrame is the log frame of an entry from the journal; stamp is scratch space for
// its timestamp.
func entryFrame(taskID string, e journal.Entry, stamp []byte) []byte {
	return wire.LogFrame(&v1.LogEntry{
		TaskId: taskID, Seq: e.Seq, TimeUnixNano: e.TimeUnixNano,
		Level: e.Level, Message: e.Message, Progress: e.Progress, Finished: e.Finished, Attrs: e.Attrs,
	}, wire.AppendTimestamp(stamp, e.TimeUnixNano))
}

// LogLine is one message of a downloaded log: from the journal, an entry that is turned
// into the format asked for only; from a task's memory, the frame it keeps.
type LogLine struct {
	taskID string
	entry  *journal.Entry
	frame  []byte
}

// Frame returns the message's WebSocket log frame.
func (l LogLine) Frame() []byte {
	if l.frame == nil {
		var stamp [40]byte
		return entryFrame(l.taskID, *l.entry, stamp[:0])
	}
	return l.frame
}

// AppendText appends the message as a text line, "timestamp level message\n".
func (l LogLine) AppendText(b []byte) ([]byte, error) {
	if l.entry != nil {
		at := l.entry.TimeUnixNano
		if a := l.entry.Attrs; a != nil && a.ProducedUnixNano != 0 {
			at = a.ProducedUnixNano // the frame's timestamp
		}
		b = wire.AppendTimestamp(b, at)
		b = append(append(append(b, ' '), wire.LevelName(l.entry.Level)...), ' ')
		return append(append(b, l.entry.Message...), '\n'), nil
	}
	var f struct {
		Timestamp string `json:"timestamp"`
		Level     string `json:"level"`
		Message   string `json:"message"`
	}
	if err := json.Unmarshal(l.frame, &f); err != nil {
		return b, err
	}
	return append(append(append(append(append(append(b, f.Timestamp...), ' '), f.Level...), ' '), f.Message...), '\n'), nil
}

// Log calls fn with every retained message of the task, oldest first, until fn returns an
// error, which Log returns; ErrNotFound for a task that does not exist. With a journal
// that is the whole stored log (what retention and the size cap kept); without one, what
// the task's history holds in memory.
func (m *Manager) Log(ctx context.Context, taskID string, fn func(LogLine) error) error {
	var failed error
	_, _, epoch, err := m.walkLog(ctx, taskID, 1, func(it *logItem) bool {
		failed = fn(LogLine{taskID: taskID, entry: it.entry, frame: it.stored})
		return failed == nil
	})
	switch {
	case failed != nil:
		return failed
	case err != nil || epoch == "": // epoch "": read from the task's memory, at once
		return err
	}
	// The journal reads a page at a time: a restart or delete between pages would leave
	// later pages from another incarnation, or none.
	if after, found, err := m.store.w.Journal().Stat(taskID); err != nil {
		return fmt.Errorf("%w: %v", ErrJournalUnavailable, err)
	} else if !found || after.Epoch != epoch {
		return ErrLogChanged
	}
	return nil
}
