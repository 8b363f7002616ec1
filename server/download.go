package server

import (
	"errors"
	"net/http"
	"sync"
	"time"
)

// What a log download may cost: a bounded number at once, server-wide and per credential,
// and every write under a deadline, so a reader that stops reading is cut off within
// the write timeout and holds a download slot no longer.

// errTooManyDownloads is a download past MaxDownloads or MaxDownloadsPerCredential.
var errTooManyDownloads = errors.New("too many log downloads at once")

// downloadSlots counts the downloads under way, in all and per credential.
type downloadSlots struct {
	max, perCredential int

	mu     sync.Mutex
	total  int
	byCred map[string]int
}

// take reserves a slot for cred ("" without credentials); release gives it back.
func (d *downloadSlots) take(cred string) (release func(), ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.total >= d.max || d.byCred[cred] >= d.perCredential {
		return nil, false
	}
	if d.byCred == nil {
		d.byCred = make(map[string]int)
	}
	d.total++
	d.byCred[cred]++
	return func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.total--
		if d.byCred[cred]--; d.byCred[cred] == 0 {
			delete(d.byCred, cred)
		}
	}, true
}

// credential names who asks, for the per-credential limit: the key or token as sent.
func credential(r *http.Request) string {
	if c := bearer(r); c != "" {
		return c
	}
	return r.URL.Query().Get("token")
}

// deadlineWriter writes to a response with a fresh write deadline before each write, and
// refuses to write once the server drains (stop closes the connection's deadline at once).
type deadlineWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration

	mu      sync.Mutex
	stopped bool
}

func newDeadlineWriter(w http.ResponseWriter, timeout time.Duration) *deadlineWriter {
	return &deadlineWriter{w: w, rc: http.NewResponseController(w), timeout: timeout}
}

var errDraining = errors.New("server is shutting down")

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return 0, errDraining
	}
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	d.mu.Unlock()
	return d.w.Write(p)
}

// stop ends the writes: the one under way fails at once, later ones are refused.
func (d *deadlineWriter) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	_ = d.rc.SetWriteDeadline(time.Now())
}
