package conn

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// corkConn is the connection under a viewer's WebSocket. The WebSocket library flushes
// every frame with its own write; while the writer holds the cork, those writes collect
// in memory, and flush sends the whole run in one write under a deadline. Outside a hold,
// writes go straight through: a pong or close frame written by the reading goroutine is
// never delayed.
type corkConn struct {
	net.Conn
	mu   sync.Mutex // orders held writes, the flush and writes going straight through
	held *[]byte    // the run collected so far, nil when not held
	// halfClose: the library's close only ends the sending side (FIN after the last
	// frame); the owner closes the connection itself later (see Accept's control budget).
	halfClose atomic.Bool
}

// Close closes the connection, or with halfClose set only its sending side: data the peer
// sent and nobody read would otherwise make the kernel answer the close with a reset,
// which may discard the close frame before the peer reads it.
func (c *corkConn) Close() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok && c.halfClose.Load() {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// corkBuffers recycles the buffers of runs: an idle viewer holds none.
var corkBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

// maxPooledRun keeps a rare very large run's buffer out of the pool.
const maxPooledRun = 256 << 10

// putCorkBuffer gives a run's buffer back to the pool, empty, unless it is very large.
func putCorkBuffer(buf *[]byte) {
	if cap(*buf) <= maxPooledRun {
		*buf = (*buf)[:0]
		corkBuffers.Put(buf)
	}
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held != nil {
		*c.held = append(*c.held, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// hold starts collecting writes.
func (c *corkConn) hold() {
	buf := corkBuffers.Get().(*[]byte)
	c.mu.Lock()
	c.held = buf
	c.mu.Unlock()
}

// flush ends the hold and writes what it collected, failing at deadline (zero: none).
func (c *corkConn) flush(deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf := c.held
	if buf == nil {
		return nil
	}
	c.held = nil
	defer putCorkBuffer(buf)
	if len(*buf) == 0 {
		return nil
	}
	if err := c.Conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	if _, err := c.Conn.Write(*buf); err != nil {
		return err // the deadline stays: the connection is being closed
	}
	return c.Conn.SetWriteDeadline(time.Time{})
}

// corkingWriter hands the WebSocket library a corkConn when it hijacks the connection.
type corkingWriter struct {
	http.ResponseWriter
	conn *corkConn
}

func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	w.conn = &corkConn{Conn: conn}
	// net/http's buffers are 4 KiB each, and a viewer keeps them for its whole life. Runs
	// collect in the cork, not in the writer's buffer, and a viewer sends only small
	// control frames, so small buffers cost no extra syscalls where it matters.
	reader := brw.Reader
	if reader.Buffered() == 0 { // else keep what the client sent early
		reader = bufio.NewReaderSize(w.conn, viewerReadBuffer)
	}
	return w.conn, bufio.NewReadWriter(reader, bufio.NewWriterSize(w.conn, viewerWriteBuffer)), nil
}

// The buffers under a viewer's WebSocket: a frame header and a control frame fit.
const (
	viewerReadBuffer  = 512
	viewerWriteBuffer = 256
)
