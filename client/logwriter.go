package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// StreamAck answers a streaming publish. After an error it still says what was published:
// Accepted lines, the first from FirstSeq, the last at LastSeq.
type StreamAck struct {
	TaskID   string `json:"task_id"`
	Accepted uint64 `json:"accepted"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Queued   bool   `json:"queued"` // no viewer was connected when the last lines arrived
}

// LogWriter is a streaming publish: one request whose body is a line of JSON per message
// (Content-Type application/x-ndjson). The server publishes lines as they arrive, so a
// producer with many messages pays for one request instead of one per message or batch.
//
// Send buffers; the buffer goes to the server when it fills (4 KiB), on Flush, and on
// Close. A LogWriter is not all or nothing: the server stops at the first bad line, and
// Close reports the error together with what was accepted before it. It is not safe for
// concurrent use.
type LogWriter struct {
	pw     *io.PipeWriter
	bw     *bufio.Writer
	enc    *json.Encoder
	done   chan struct{}
	ack    StreamAck
	err    error // the request's outcome, set before done is closed
	closed bool
}

// NewLogWriter starts a streaming publish to the task. The request lives until Close, or
// until ctx is done.
func (c *Client) NewLogWriter(ctx context.Context, taskID string) *LogWriter {
	pr, pw := io.Pipe()
	w := &LogWriter{pw: pw, bw: bufio.NewWriterSize(pw, 4<<10), done: make(chan struct{})}
	w.enc = json.NewEncoder(w.bw)
	w.enc.SetEscapeHTML(false)
	go func() {
		defer close(w.done)
		w.ack, w.err = c.stream(ctx, taskID, pr)
		// Unblock a Send still writing: the server will read no more.
		pr.CloseWithError(errStreamEnded)
	}()
	return w
}

var errStreamEnded = errors.New("the server ended the stream")

func (c *Client) stream(ctx context.Context, taskID string, body io.Reader) (StreamAck, error) {
	path := taskPath(taskID) + "/logs"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+path, body)
	if err != nil {
		return StreamAck{}, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	c.authorize(req.Header)
	// A stream may last longer than the client's timeout meant for one request.
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return StreamAck{}, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return StreamAck{}, fmt.Errorf("POST %s: read answer: %w", path, err)
	}
	var ack StreamAck
	_ = json.Unmarshal(raw, &ack) // error answers carry the counts too
	if resp.StatusCode != http.StatusAccepted {
		return ack, apiErrorOf(resp.StatusCode, raw)
	}
	if ack.TaskID == "" {
		return ack, fmt.Errorf("POST %s: unexpected answer %q", path, raw)
	}
	return ack, nil
}

// Send adds one message to the stream. An error means the stream has ended; Close says
// why.
func (w *LogWriter) Send(l Log) error {
	if w.closed {
		return errors.New("log writer closed")
	}
	if err := w.enc.Encode(l); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	return nil
}

// Flush hands every message sent so far to the server.
func (w *LogWriter) Flush() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	return nil
}

// Close ends the stream and waits for the server's answer: what it published, and the
// error that ended the stream early, if one did.
func (w *LogWriter) Close() (StreamAck, error) {
	if !w.closed {
		w.closed = true
		_ = w.bw.Flush() // a failed flush means the request ended; its outcome tells why
		_ = w.pw.Close()
	}
	<-w.done
	return w.ack, w.err
}
