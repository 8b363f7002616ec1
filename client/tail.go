package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// Event is one frame of a task's stream.
type Event struct {
	Type   string // "hello", "log" or "gap"
	TaskID string

	// hello
	Epoch   string
	LastSeq uint64

	// log
	Seq       uint64
	Timestamp time.Time
	Level     Level
	Message   string
	Progress  float64
	Finished  bool
	Stream    string
	Update    bool      // a new state of the stream's newest message
	Section   Section   // "start", "end" or none
	Received  time.Time // when the server took it, if Timestamp is the producer's

	// gap: messages FromSeq..ToSeq will not arrive; ToSeq is 0 when the end is unknown
	// (Reason "epoch": the task restarted and what its earlier run published is gone).
	FromSeq uint64
	ToSeq   uint64
	Reason  string

	// Raw is the frame as the server sent it.
	Raw []byte
}

// Stream is a task's events, reconnecting and resuming by itself. Next returns them one by
// one; it is not safe for concurrent use.
type Stream struct {
	c      *Client
	ctx    context.Context
	taskID string

	conn    *websocket.Conn
	batch   []Event // events of the last message not yet handed out
	epoch   string
	lastSeq uint64 // the last seq handed out in epoch
	ended   string // close reason of a normal end
	err     error  // sticky: once set, Next returns it
	dials   int
}

// maxFrameBytes bounds one frame read; the server's message limit is far below it.
const maxFrameBytes = 16 << 20

// Tail connects to the task and returns its stream, starting after since: since=0 replays
// everything the server retains. The first connection must succeed; later ones are
// retried. ctx bounds the whole stream.
func (c *Client) Tail(ctx context.Context, taskID string, since uint64) (*Stream, error) {
	s := &Stream{c: c, ctx: ctx, taskID: taskID, lastSeq: since}
	if err := s.dial(); err != nil {
		return nil, err
	}
	return s, nil
}

// Next returns the next event. At the end of the task (finished or deleted) it returns
// io.EOF and EndReason tells which; other errors mean the stream gave up.
func (s *Stream) Next() (Event, error) {
	for s.err == nil {
		if len(s.batch) > 0 {
			ev := s.batch[0]
			s.batch = s.batch[1:]
			if s.skip(&ev) {
				continue
			}
			return ev, nil
		}
		if s.conn == nil {
			if err := s.reconnect(); err != nil {
				s.err = err
				break
			}
		}
		_, raw, err := s.conn.Read(s.ctx)
		if err != nil {
			s.conn.CloseNow()
			s.conn = nil
			s.err = s.afterReadError(err)
			continue
		}
		s.batch, s.err = ParseEvents(raw)
	}
	return Event{}, s.err
}

// EndReason is the server's close reason once Next has returned io.EOF: "task finished"
// or "task deleted".
func (s *Stream) EndReason() string { return s.ended }

// Reconnects counts the connections after the first.
func (s *Stream) Reconnects() int { return max(s.dials-1, 0) }

// Close ends the stream; Next then returns an error.
func (s *Stream) Close() error {
	if s.err == nil {
		s.err = errors.New("stream closed")
	}
	if s.conn != nil {
		return s.conn.Close(websocket.StatusNormalClosure, "")
	}
	return nil
}

// skip tracks epoch and seq, and drops a log frame already handed out in this epoch.
func (s *Stream) skip(ev *Event) bool {
	switch ev.Type {
	case "hello":
		s.epoch = ev.Epoch
	case "gap":
		if ev.Reason == "epoch" {
			s.lastSeq = 0 // the server says numbering restarted: a new incarnation from seq 1
		}
	case "log":
		if ev.Seq <= s.lastSeq {
			return true
		}
		s.lastSeq = ev.Seq
	}
	return false
}

// afterReadError decides what a failed read means: the end of the task, a failure, or
// nil to reconnect.
func (s *Stream) afterReadError(err error) error {
	if ctxErr := s.ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case websocket.StatusNormalClosure:
			s.ended = ce.Reason
			return io.EOF
		case websocket.StatusPolicyViolation:
			return fmt.Errorf("server closed the stream: %s (%d)", ce.Reason, ce.Code)
		}
	}
	return nil // 1001, 1011, 1013, a dropped connection: resume
}

// reconnect dials with exponential backoff and jitter until it succeeds, the error is
// permanent, or ReconnectTimeout passes.
func (s *Stream) reconnect() error {
	deadline := time.Now().Add(s.c.opts.ReconnectTimeout)
	wait := s.c.opts.MinBackoff
	for {
		jittered := wait/2 + rand.N(wait/2+1)
		select {
		case <-time.After(jittered):
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
		err := s.dial()
		var apiErr *APIError
		switch {
		case err == nil:
			return nil
		case s.ctx.Err() != nil:
			return s.ctx.Err()
		case errors.As(err, &apiErr) && apiErr.permanent():
			return err
		case time.Now().After(deadline):
			return fmt.Errorf("reconnect: gave up after %v: %w", s.c.opts.ReconnectTimeout, err)
		}
		wait = min(2*wait, s.c.opts.MaxBackoff)
	}
}

// dial opens the WebSocket, resuming after lastSeq in epoch.
func (s *Stream) dial() error {
	u := *s.c.base
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path += taskPath(s.taskID) + "/ws"
	q := url.Values{"since": {strconv.FormatUint(s.lastSeq, 10)}}
	if s.epoch != "" {
		q.Set("epoch", s.epoch)
	}
	u.RawQuery = q.Encode()
	header := http.Header{}
	s.c.authorize(header)
	conn, resp, err := websocket.Dial(s.ctx, u.String(), &websocket.DialOptions{HTTPClient: s.c.http, HTTPHeader: header, Subprotocols: []string{batchSubprotocol}})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return apiError(resp)
		}
		return fmt.Errorf("connect %s: %w", u.Redacted(), err)
	}
	conn.SetReadLimit(maxFrameBytes)
	s.conn = conn
	s.dials++
	return nil
}

// batchSubprotocol asks the server for batches: a message may carry several frames, as a
// JSON array (wire.BatchSubprotocol; the client does not import the server's packages).
const batchSubprotocol = "tasktail.batch"

// ParseEvents decodes one server-to-client message: a frame, or a batch of frames (a JSON
// array, sent to clients that offer the batch subprotocol). Each event's Raw is its frame.
func ParseEvents(raw []byte) ([]Event, error) {
	if trimmed := bytes.TrimLeft(raw, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '[' {
		ev, err := ParseEvent(raw)
		if err != nil {
			return nil, err
		}
		return []Event{ev}, nil
	}
	var frames []json.RawMessage
	if err := json.Unmarshal(raw, &frames); err != nil {
		return nil, fmt.Errorf("batch %.80q: %w", raw, err)
	}
	events := make([]Event, len(frames))
	for i, frame := range frames {
		ev, err := ParseEvent(frame)
		if err != nil {
			return nil, err
		}
		events[i] = ev
	}
	return events, nil
}

// ParseEvent decodes one server-to-client frame of the WebSocket contract.
func ParseEvent(raw []byte) (Event, error) {
	var f struct {
		Type      string  `json:"type"`
		TaskID    string  `json:"task_id"`
		Epoch     string  `json:"epoch"`
		LastSeq   uint64  `json:"last_seq"`
		Seq       uint64  `json:"seq"`
		Timestamp string  `json:"timestamp"`
		Level     string  `json:"level"`
		Message   string  `json:"message"`
		Progress  float64 `json:"progress"`
		Finished  bool    `json:"finished"`
		Stream    string  `json:"stream"`
		Update    bool    `json:"update"`
		Section   string  `json:"section"`
		Received  string  `json:"received"`
		FromSeq   uint64  `json:"from_seq"`
		ToSeq     uint64  `json:"to_seq"`
		Reason    string  `json:"reason"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return Event{}, fmt.Errorf("frame %.80q: %w", raw, err)
	}
	ev := Event{Type: f.Type, TaskID: f.TaskID, Epoch: f.Epoch, LastSeq: f.LastSeq, Seq: f.Seq,
		Level: Level(f.Level), Message: f.Message, Progress: f.Progress, Finished: f.Finished,
		Stream: f.Stream, Update: f.Update, Section: Section(f.Section),
		FromSeq: f.FromSeq, ToSeq: f.ToSeq, Reason: f.Reason, Raw: raw}
	if f.Timestamp != "" {
		ts, err := time.Parse(time.RFC3339Nano, f.Timestamp)
		if err != nil {
			return Event{}, fmt.Errorf("frame timestamp %q: %w", f.Timestamp, err)
		}
		ev.Timestamp = ts
	}
	if f.Received != "" {
		ts, err := time.Parse(time.RFC3339Nano, f.Received)
		if err != nil {
			return Event{}, fmt.Errorf("frame received %q: %w", f.Received, err)
		}
		ev.Received = ts
	}
	return ev, nil
}
