package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
)

// poster publishes over one keep-alive HTTP/1.1 connection with as little work as a
// request takes: one write for the request, one buffered reader for the answer, no
// allocation per request once warm. net/http's client hands every request through two
// goroutines of its own (a write loop and a read loop), which cost the load generator
// about as much CPU as the server spends, and add their scheduling to the latency it
// measures.
type poster struct {
	addr   string // host:port
	prefix []byte // "POST /v1/tasks/"
	head   []byte // everything after the task_id up to Content-Length's value
	conn   net.Conn
	stop   func() bool // ends the context watch of conn
	br     *bufio.Reader
	req    []byte
	want   int          // the status of an accepted publish
	failOn []byte       // if the answer's body holds this, the publish failed
	answer bytes.Buffer // the last answer's body
}

func newPoster(server, key string) (*poster, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("server %s: bench publishes over plain http", server)
	}
	head := "/logs HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Type: application/json\r\n"
	if key != "" {
		head += "Authorization: Bearer " + key + "\r\n"
	}
	return &poster{addr: u.Host, prefix: []byte("POST " + u.Path + "/v1/tasks/"), head: []byte(head + "Content-Length: "), want: http.StatusAccepted}, nil
}

// post publishes body (one entry or a batch) to taskID and checks for p.want.
func (p *poster) post(ctx context.Context, taskID string, body []byte) error {
	if p.conn == nil {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.addr)
		if err != nil {
			return err
		}
		p.conn, p.br = conn, bufio.NewReader(conn)
		p.stop = context.AfterFunc(ctx, func() { conn.Close() })
	}
	p.req = append(p.req[:0], p.prefix...)
	p.req = append(p.req, url.PathEscape(taskID)...)
	p.req = append(p.req, p.head...)
	p.req = strconv.AppendInt(p.req, int64(len(body)), 10)
	p.req = append(p.req, "\r\n\r\n"...)
	p.req = append(p.req, body...)
	if _, err := p.conn.Write(p.req); err != nil {
		p.close()
		return err
	}
	status, err := p.readAnswer()
	if err != nil {
		p.close()
		return err
	}
	if status != p.want {
		return fmt.Errorf("publish: %d %s", status, http.StatusText(status))
	}
	if p.failOn != nil && bytes.Contains(p.answer.Bytes(), p.failOn) {
		return fmt.Errorf("publish: %s", p.answer.Bytes())
	}
	return nil
}

// readAnswer reads one response and its body into p.answer, returning the status code. It
// closes the connection when the server asks to.
func (p *poster) readAnswer() (int, error) {
	line, err := p.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("malformed status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("malformed status line %q", line)
	}
	length, chunked, closing := int64(-1), false, false
	for {
		line, err := p.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("malformed header %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil {
				return 0, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	p.answer.Reset()
	switch {
	case chunked:
		if _, err = p.answer.ReadFrom(httputil.NewChunkedReader(p.br)); err == nil {
			err = p.skipTrailer()
		}
	case length >= 0:
		_, err = io.CopyN(&p.answer, p.br, length)
	default:
		return 0, errors.New("answer without a length")
	}
	if err != nil {
		return 0, err
	}
	if closing {
		p.close()
	}
	return status, nil
}

// skipTrailer reads the trailer of a chunked body, up to its empty line, which the
// chunked reader leaves.
func (p *poster) skipTrailer() error {
	for {
		line, err := p.br.ReadSlice('\n')
		if err != nil || len(bytes.TrimRight(line, "\r\n")) == 0 {
			return err
		}
	}
}

func (p *poster) close() {
	if p.conn != nil {
		p.stop()
		p.conn.Close()
		p.conn = nil
	}
}
