package actors

import (
	"context"
	"errors"

	"github.com/tasktail/tasktail/actors/batch"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// producerWindow is how many calls of a Producer may be on their way before SendLog waits
// for the oldest.
const producerWindow = 4

// Producer publishes to one task without waiting for each message: SendLog hands the
// message to the task's pipe and returns, and the messages that pile up while the task is
// busy travel to it together. Messages keep their order. An error the task reports (the
// task had finished, the node has too many tasks, a timeout) is returned by the next
// SendLog or by Flush, and sticks: nothing the Producer sends after the error is reported
// is published (messages already on their way then, in later calls, may be). A Producer is
// for one goroutine; Close it when done.
//
// It is the in-process twin of a streaming publish. On a cluster member it falls back to
// one Publish per message.
type Producer struct {
	m      *Manager
	taskID string
	pipe   *batch.Pipe // nil in a cluster
	// sent are the calls holding this Producer's messages, oldest first, with the group
	// that is the Producer's in each (at most producerWindow).
	sent   []producerPart
	last   Ack
	err    error
	closed bool
}

type producerPart struct {
	call *PublishCall
	part int
}

// Producer returns a Producer for the task.
func (m *Manager) Producer(taskID string) (*Producer, error) {
	if err := m.cfg.ValidateTaskID(taskID); err != nil {
		return nil, err
	}
	pr := &Producer{m: m, taskID: taskID, sent: make([]producerPart, 0, producerWindow)}
	if m.pipes != nil {
		pr.pipe = m.pipes.Acquire(taskID)
	}
	return pr, nil
}

// SendLog publishes one message without waiting for the task, unless producerWindow calls
// are already on their way. It returns the message's validation error, or the error of an
// earlier message.
func (pr *Producer) SendLog(ctx context.Context, level v1.Level, message string, progress float64, finished bool) error {
	switch {
	case pr.closed:
		return errors.New("producer closed")
	case pr.err != nil:
		return pr.err
	}
	one := [1]logEntry{{Level: level, Message: message, Progress: progress, Finished: finished}}
	if err := validateEntries(&pr.m.cfg, one[:]); err != nil {
		return err
	}
	if pr.pipe == nil {
		pr.last, pr.err = pr.m.SendLog(ctx, pr.taskID, level, message, progress, finished)
		return pr.err
	}
	pr.reap()
	if pr.err == nil && len(pr.sent) == producerWindow {
		pr.wait(ctx, 1)
	}
	if pr.err != nil {
		return pr.err
	}
	var prev *PublishCall
	prevPart := 0
	if n := len(pr.sent); n > 0 {
		prev, prevPart = pr.sent[n-1].call, pr.sent[n-1].part
	}
	if c, part, joined := pr.pipe.Append(one[0], prev, prevPart, pr.m.cfg.MaxBatch); !joined {
		pr.sent = append(pr.sent, producerPart{call: c, part: part})
	}
	return nil
}

// Flush waits until the task has every message sent so far, and returns the answer to the
// last one, or the first error.
func (pr *Producer) Flush(ctx context.Context) (Ack, error) {
	if pr.pipe != nil {
		pr.wait(ctx, len(pr.sent))
	}
	return pr.last, pr.err
}

// Close flushes and lets go of the task.
func (pr *Producer) Close(ctx context.Context) (Ack, error) {
	if pr.closed {
		return pr.last, pr.err
	}
	ack, err := pr.Flush(ctx)
	pr.closed = true
	if pr.pipe != nil {
		pr.m.pipes.Release(pr.pipe)
	}
	return ack, err
}

// wait takes the results of the n oldest calls, waiting for them.
func (pr *Producer) wait(ctx context.Context, n int) {
	for range n {
		if pr.err != nil {
			return
		}
		select {
		case <-pr.sent[0].call.Done():
			pr.take()
		case <-ctx.Done():
			pr.err = ctx.Err()
			if errors.Is(pr.err, context.DeadlineExceeded) {
				pr.err = ErrTimeout
			}
		}
	}
}

// reap takes the results of the oldest calls that have been answered.
func (pr *Producer) reap() {
	for len(pr.sent) > 0 && pr.err == nil {
		select {
		case <-pr.sent[0].call.Done():
			pr.take()
		default:
			return
		}
	}
}

func (pr *Producer) take() {
	s := pr.sent[0]
	pr.last, pr.err = resultOf(s.call, s.part)
	pr.sent = append(pr.sent[:0], pr.sent[1:]...)
}
