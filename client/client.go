package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Level is a log level.
type Level string

// The levels the API accepts.
const (
	Debug    Level = "debug"
	Info     Level = "info"
	Success  Level = "success"
	Warning  Level = "warning"
	Error    Level = "error"
	Critical Level = "critical"
)

// Log is one message to publish.
type Log struct {
	Level    Level   `json:"level"`
	Message  string  `json:"message"`
	Progress float64 `json:"progress"` // 0–100, or KeepProgress
	Finished bool    `json:"finished"` // the task's last message

	// Optional attributes, left out when zero.
	Stream    string    `json:"stream,omitempty"`   // stdout, stderr, or a short name such as a step
	Update    bool      `json:"update,omitempty"`   // a new state of the stream's newest message (a \r line)
	Section   Section   `json:"section,omitempty"`  // SectionStart (the message is its title) or SectionEnd
	Timestamp time.Time `json:"timestamp,omitzero"` // the message's own time (a back-filled log)
}

// Section marks where a collapsible section of the log starts or ends.
type Section string

// The section marks.
const (
	SectionStart Section = "start"
	SectionEnd   Section = "end"
)

// KeepProgress as a Log's Progress leaves the task's progress as it is (the field is not
// sent); 0 sets it to 0.
const KeepProgress = -math.MaxFloat64

// MarshalJSON leaves progress out when it is KeepProgress.
func (l Log) MarshalJSON() ([]byte, error) {
	type plain Log
	if l.Progress != KeepProgress {
		return json.Marshal(plain(l))
	}
	return json.Marshal(struct {
		Level     Level     `json:"level"`
		Message   string    `json:"message"`
		Finished  bool      `json:"finished"`
		Stream    string    `json:"stream,omitempty"`
		Update    bool      `json:"update,omitempty"`
		Section   Section   `json:"section,omitempty"`
		Timestamp time.Time `json:"timestamp,omitzero"`
	}{l.Level, l.Message, l.Finished, l.Stream, l.Update, l.Section, l.Timestamp})
}

// Ack answers a publish of one message.
type Ack struct {
	TaskID string `json:"task_id"`
	Seq    uint64 `json:"seq"`
	Queued bool   `json:"queued"` // no viewer was connected
}

// BatchAck answers a batch publish.
type BatchAck struct {
	TaskID   string `json:"task_id"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Queued   bool   `json:"queued"`
}

// Status describes a task, as the server's status answer and each item of its task list
// do (one shape).
type Status struct {
	TaskID      string  `json:"task_id"`
	State       string  `json:"state"` // running, finished or failed
	Epoch       string  `json:"epoch"`
	Connected   bool    `json:"connected"`
	Subscribers int     `json:"subscribers"` // the task's viewers
	Queued      int     `json:"queued"`
	LastSeq     uint64  `json:"last_seq"`
	Progress    float64 `json:"progress"`
	Finished    bool    `json:"finished"`
	Failed      bool    `json:"failed"`
	// LastActive is when the task was last published to, watched or left.
	LastActive time.Time `json:"last_active"`
	// Member is the cluster member the task lives on (empty on a single node).
	Member string `json:"member,omitempty"`
}

// Options tune a Client; nil or zero fields mean the defaults.
type Options struct {
	// HTTPClient makes the requests (default: one with a 30 s timeout).
	HTTPClient *http.Client
	// MinBackoff is the first wait before a Stream reconnects (default 100 ms); it doubles
	// up to MaxBackoff (default 5 s).
	MinBackoff, MaxBackoff time.Duration
	// ReconnectTimeout is how long a Stream keeps trying to reconnect before it fails
	// (default 1 min).
	ReconnectTimeout time.Duration
	// Token is a publish key or a subscribe token, sent as Authorization: Bearer.
	Token string
}

// Client talks to one tasktail server.
type Client struct {
	base *url.URL
	http *http.Client
	opts Options
}

// New returns a client of the server at baseURL, e.g. "http://127.0.0.1:8080".
func New(baseURL string, opts *Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("server url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("server url %q: want http://host:port or https://host", baseURL)
	}
	c := &Client{base: u}
	if opts != nil {
		c.opts = *opts
	}
	c.http = c.opts.HTTPClient
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.opts.MinBackoff <= 0 {
		c.opts.MinBackoff = 100 * time.Millisecond
	}
	if c.opts.MaxBackoff <= 0 {
		c.opts.MaxBackoff = 5 * time.Second
	}
	if c.opts.ReconnectTimeout <= 0 {
		c.opts.ReconnectTimeout = time.Minute
	}
	return c, nil
}

// Publish appends one message to the task.
func (c *Client) Publish(ctx context.Context, taskID string, l Log) (Ack, error) {
	var ack Ack
	return ack, c.do(ctx, http.MethodPost, taskPath(taskID)+"/logs", l, http.StatusAccepted, &ack)
}

// PublishBatch appends messages to the task, all or nothing.
func (c *Client) PublishBatch(ctx context.Context, taskID string, logs []Log) (BatchAck, error) {
	var ack BatchAck
	if logs == nil {
		logs = []Log{}
	}
	return ack, c.do(ctx, http.MethodPost, taskPath(taskID)+"/logs", logs, http.StatusAccepted, &ack)
}

// PublishBatchOnce is PublishBatch with an idempotency key (sent as Idempotency-Key): a
// publish retried with the same key after a lost answer is answered as the first was and
// stored once. Use a key per publish, not per task.
func (c *Client) PublishBatchOnce(ctx context.Context, taskID, key string, logs []Log) (BatchAck, error) {
	var ack BatchAck
	if logs == nil {
		logs = []Log{}
	}
	return ack, c.doWith(ctx, http.MethodPost, taskPath(taskID)+"/logs", http.Header{"Idempotency-Key": {key}}, logs, http.StatusAccepted, &ack)
}

// Status returns the task's status; ErrNotFound if it does not exist.
func (c *Client) Status(ctx context.Context, taskID string) (Status, error) {
	var st Status
	return st, c.do(ctx, http.MethodGet, taskPath(taskID), nil, http.StatusOK, &st)
}

// TaskSummary is one task of the task list: its Status.
type TaskSummary = Status

// ListOptions select a page of the task list; zero values mean every task, the first
// page, and the server's page size.
type ListOptions struct {
	Prefix string // task_ids that start with it
	State  string // running, finished or failed
	Limit  int
	Cursor string // a TaskPage's NextCursor
}

// TaskPage is a page of the task list, the most recently active first; NextCursor is
// empty on the last page.
type TaskPage struct {
	Tasks      []TaskSummary `json:"tasks"`
	NextCursor string        `json:"next_cursor"`
}

// List returns a page of the tasks the server holds (in memory or in its journal).
func (c *Client) List(ctx context.Context, o ListOptions) (TaskPage, error) {
	q := url.Values{}
	for k, v := range map[string]string{"prefix": o.Prefix, "state": o.State, "cursor": o.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var page TaskPage
	return page, c.do(ctx, http.MethodGet, "/v1/tasks?"+q.Encode(), nil, http.StatusOK, &page)
}

// Delete closes the task's viewers and drops its state. Deleting an unknown task is not
// an error.
func (c *Client) Delete(ctx context.Context, taskID string) error {
	return c.do(ctx, http.MethodDelete, taskPath(taskID), nil, http.StatusNoContent, nil)
}

// Restart starts a new incarnation of a task and returns its epoch: seq starts again at 1
// and the task takes publishes again even if it had finished. Its viewers stay connected
// and are told with an epoch gap. An unknown task is ErrNotFound.
func (c *Client) Restart(ctx context.Context, taskID string) (string, error) {
	var out struct {
		Epoch string `json:"epoch"`
	}
	if err := c.do(ctx, http.MethodPost, taskPath(taskID)+"/restart", nil, http.StatusOK, &out); err != nil {
		return "", err
	}
	return out.Epoch, nil
}

// Log downloads a task's whole retained log: text lines "timestamp level message", or
// with ndjson the log frames, one JSON object per line (Event's fields). The caller reads
// and closes it. An unknown task is ErrNotFound.
func (c *Client) Log(ctx context.Context, taskID string, ndjson bool) (io.ReadCloser, error) {
	path := taskPath(taskID) + "/log"
	if ndjson {
		path += "?format=ndjson"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+path, nil)
	if err != nil {
		return nil, err
	}
	c.authorize(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, apiError(resp)
	}
	return resp.Body, nil
}

func taskPath(taskID string) string { return "/v1/tasks/" + url.PathEscape(taskID) }

func (c *Client) do(ctx context.Context, method, path string, in any, want int, out any) error {
	return c.doWith(ctx, method, path, nil, in, want, out)
}

// doWith is do with more request headers.
func (c *Client) doWith(ctx context.Context, method, path string, header http.Header, in any, want int, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	c.authorize(req.Header)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return apiError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// authorize adds the client's credential to a request's headers.
func (c *Client) authorize(h http.Header) {
	if c.opts.Token != "" {
		h.Set("Authorization", "Bearer "+c.opts.Token)
	}
}
