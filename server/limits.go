package server

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// rateLimiter is a token bucket per publish key: rate requests per second, up to burst at
// once. Its keys are the configured publish keys, so it holds at most one bucket each.
type rateLimiter struct {
	rate, burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

// allow takes one token from key's bucket, or says how long until one is there.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// connLimitListener counts client connections against max. Past max it still accepts
// up to overflowConns more, which answer health, readiness and metrics and 503 for
// anything else, each one request within overflowWindow: so a client that holds every
// slot does not blind the operator's probes (for probes no client can starve, use
// Config.AdminAddr). Past that it refuses with a 503 written straight to the socket.
// A connection whose requests carried no verified credential gets anonymousIdle to send
// its next request (its first included), instead of the idle timeout.
type connLimitListener struct {
	net.Listener
	max           int64
	anonymousIdle time.Duration
	active        atomic.Int64
	overflow      atomic.Int64
}

// overflowConns and overflowWindow bound what the connections past the limit may hold.
const (
	overflowConns  = 64
	overflowWindow = 2 * time.Second
)

const connRefusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 88\r\n\r\n" +
	`{"error":{"code":"unavailable","message":"too many connections to this server; retry"}}` + "\n"

func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.active.Add(1) <= l.max {
			cc := &countedConn{Conn: c, release: func() { l.active.Add(-1) }, anonymousIdle: l.anonymousIdle}
			cc.clampNext.Store(true) // the first request, too, comes soon or not at all
			return cc, nil
		}
		l.active.Add(-1)
		if l.overflow.Add(1) <= overflowConns {
			cc := &countedConn{Conn: c, release: func() { l.overflow.Add(-1) }, overflowUntil: time.Now().Add(overflowWindow)}
			return cc, nil
		}
		l.overflow.Add(-1)
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write([]byte(connRefusal)) // best effort: the client may be gone
		c.Close()
	}
}

// countedConn is a client connection as the limits see it.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
	// overflowUntil is set on a connection past the limit: every read ends by then.
	overflowUntil time.Time
	anonymousIdle time.Duration
	// trusted: a request on it carried a verified credential; its idle time is the
	// server's idle timeout from then on.
	trusted atomic.Bool
	// clampNext: the next read deadline net/http sets (the wait for the next request) is
	// cut to anonymousIdle.
	clampNext atomic.Bool
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// CloseWrite ends the sending side of a TCP connection (conn ends a flooding viewer so).
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// SetReadDeadline cuts the deadlines net/http sets as the connection's standing says.
func (c *countedConn) SetReadDeadline(t time.Time) error {
	if !c.overflowUntil.IsZero() && (t.IsZero() || t.After(c.overflowUntil)) {
		t = c.overflowUntil
	} else if c.clampNext.Swap(false) && !c.trusted.Load() {
		if limit := time.Now().Add(c.anonymousIdle); t.IsZero() || t.After(limit) {
			t = limit
		}
	}
	return c.Conn.SetReadDeadline(t)
}

// connState is the http.Server's ConnState hook: a connection that turns idle before any
// request on it was trusted waits only anonymousIdle for the next one.
func connState(c net.Conn, state http.ConnState) {
	if cc, ok := c.(*countedConn); ok && state == http.StateIdle && !cc.trusted.Load() {
		cc.clampNext.Store(true)
	}
}

type connKey struct{}

// connContext is the http.Server's ConnContext hook: requests can find their connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// trust marks r's connection as one a verified credential used.
func trust(r *http.Request) {
	if cc, ok := r.Context().Value(connKey{}).(*countedConn); ok {
		cc.trusted.Store(true)
	}
}

// overflowed reports whether r came on a connection past the limit.
func overflowed(r *http.Request) bool {
	cc, ok := r.Context().Value(connKey{}).(*countedConn)
	return ok && !cc.overflowUntil.IsZero()
}

// bodyBudget bounds the bytes of request bodies being read at once, process-wide: a body
// reserves its size (or, without a Content-Length, the largest a body may be) before it
// is read, and a stream what it buffers, and both give it back when done.
type bodyBudget struct {
	max  int64
	used atomic.Int64
}

// errBodyBudget is a body that would pass Config.MaxBodyMemory.
var errBodyBudget = errors.New("the server is reading its maximum of request bodies at once (--max-body-memory)")

func (b *bodyBudget) reserve(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *bodyBudget) release(n int64) { b.used.Add(-n) }

// readAll reads r to its end into buf's spare capacity, growing buf by doubling but never
// past limit+1 bytes of capacity, so that a body never holds more than it reserved; more
// than limit bytes is a *http.MaxBytesError.
func readAll(buf []byte, r io.Reader, limit int64) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return buf, &http.MaxBytesError{Limit: limit}
			}
			grown := make([]byte, len(buf), min(max(2*cap(buf), 4096), int(limit)+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF:
			if int64(len(buf)) > limit {
				return buf, &http.MaxBytesError{Limit: limit}
			}
			return buf, nil
		case err != nil:
			return buf, err
		}
	}
}
