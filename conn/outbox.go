package conn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// closeRequest asks the writer to end the connection; drain says whether the frames
// already waiting are written first.
type closeRequest struct {
	code   CloseCode
	reason string
	drain  bool
}

// outbox is the bounded buffer between a socket actor and the connection. The actor
// pushes without ever blocking. A writer goroutine runs only while there is something to
// do: the first push, close or end of connection after start spawns one, it takes
// everything pending in one step, and it exits when nothing is left, so an idle
// connection costs no goroutine. Only connection buffering is under its mutex, never
// task state.
type outbox struct {
	limit   int64
	pending atomic.Int64 // frames pushed and not yet written (the first push excluded)
	w       writer       // set by start, read-only after

	mu      sync.Mutex
	frames  [][]byte
	exempt  int // leading frames of frames that pending does not count
	closing *closeRequest
	started bool           // start was called: events spawn writers
	active  bool           // a writer goroutine is running
	ended   bool           // the connection ended: nothing spawns any more
	stops   [2]func() bool // stop the context watches
	abort   *time.Timer    // cuts the connection short after a close that does not drain
}

// Aborter is a Socket that can be cut off at once, without a close handshake, while a
// write or a close is in flight.
type Aborter interface{ Abort() }

// writer is what the writer goroutines of an outbox work with.
type writer struct {
	ctx      context.Context // done when the peer left
	s        Socket
	timeout  time.Duration
	closeAll *Broadcast
	// detach makes the socket leave its task at once. A close can block until the peer
	// answers the close handshake (seconds, for a peer that does not read), so a close for
	// closeAll calls it first.
	detach   func()
	counters Counters
	end      func(error) // called once, when the connection has ended
}

func newOutbox(limit int) *outbox {
	return &outbox{limit: int64(limit)}
}

// push queues frames for writing. It refuses (returns false) when that would leave more
// than limit frames waiting. The first push of a connection, the hello and its replay,
// is exempt: it is bounded by the history limit instead.
func (o *outbox) push(frames [][]byte, first bool) bool {
	if !first && o.pending.Load()+int64(len(frames)) > o.limit {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if first {
		o.exempt += len(frames)
	} else {
		o.pending.Add(int64(len(frames)))
	}
	o.frames = append(o.frames, frames...)
	o.spawnLocked()
	return true
}

func (o *outbox) close(req closeRequest) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closing == nil {
		o.closing = &req
		if !req.drain {
			// The frames waiting will never be written: let them go now.
			clear(o.frames)
			o.frames, o.exempt = o.frames[:0], 0
			if a, ok := o.w.s.(Aborter); ok && o.started && !o.ended {
				// A write in flight and the close handshake get the write timeout from now,
				// together: a peer too slow for its frames may not answer a close either.
				o.abort = time.AfterFunc(o.w.timeout, a.Abort)
			}
		}
	}
	o.spawnLocked()
}

// start begins writing to w.s: until then frames only collect. The writer ends the
// connection when the peer left (w.ctx done), the Manager closed all viewers (shutdown),
// a close was requested, or a write failed; then it calls w.end.
func (o *outbox) start(w writer) {
	o.w = w
	stopPeer := context.AfterFunc(w.ctx, o.kick)
	stopAll := context.AfterFunc(w.closeAll.ctx, o.kick)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stops = [2]func() bool{stopPeer, stopAll}
	o.started = true
	o.spawnLocked() // also for a context that ended before started was set
}

func (o *outbox) kick() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.spawnLocked()
}

// spawnLocked starts a writer goroutine unless one runs, the outbox is not started, or the
// connection has ended.
func (o *outbox) spawnLocked() {
	if o.started && !o.active && !o.ended {
		o.active = true
		go o.write()
	}
}

// take swaps out everything waiting, handing back the writer's spent slice for reuse, and
// returns how many leading frames are exempt from the pending count. With nothing to do,
// it marks the writer gone (ok false): the next event spawns another.
func (o *outbox) take(spent [][]byte) (frames [][]byte, exempt int, req *closeRequest, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.frames) == 0 && o.closing == nil && o.w.ctx.Err() == nil && o.w.closeAll.ctx.Err() == nil {
		o.active = false
		return nil, 0, nil, false
	}
	frames, exempt = o.frames, o.exempt
	o.frames, o.exempt = spent[:0], 0
	return frames, exempt, o.closing, true
}

// write is a writer goroutine: it writes until nothing is pending or the connection ends.
// Every write has a deadline.
func (o *outbox) write() {
	w := &o.w
	var batch [][]byte
	for {
		switch {
		case w.ctx.Err() != nil:
			o.finish(nil)
			return
		case w.closeAll.ctx.Err() != nil:
			w.detach()
			o.finish(ignoreCanceled(w.s.Close(w.closeAll.code, w.closeAll.reason)))
			return
		}
		frames, exempt, req, ok := o.take(batch)
		if !ok {
			return
		}
		if req != nil && !req.drain {
			frames = frames[:0]
		}
		if written, err := writeFrames(w.ctx, w.s, frames, w.timeout); err != nil {
			w.counters.Delivered(written)
			if w.ctx.Err() != nil {
				o.finish(nil)
				return
			}
			w.counters.WriteFailed()
			_ = w.s.Close(CloseInternal, "write failed") // the write error is the one to report
			o.finish(fmt.Errorf("write frame: %w", err))
			return
		}
		// Shared counters are touched once per batch, not once per frame: with many
		// viewers every frame of a message is written at about the same time.
		w.counters.Delivered(len(frames))
		if counted := len(frames) - exempt; counted > 0 {
			o.pending.Add(-int64(counted))
		}
		if req != nil {
			o.finish(ignoreCanceled(w.s.Close(req.code, req.reason)))
			return
		}
		// Keep a small slice for the next batch; let a large replay's go.
		if cap(frames) <= 64 {
			batch = frames
		} else {
			batch = nil
		}
	}
}

// finish ends the connection's writing for good and reports how it ended.
func (o *outbox) finish(err error) {
	o.mu.Lock()
	o.ended, o.active = true, false
	stops := o.stops
	if o.abort != nil {
		o.abort.Stop()
	}
	o.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	o.w.end(err)
}

// A write deadline covers a run of frames of at most deadlineFrames frames and
// deadlineBytes bytes (or one larger frame): one timer per run, not per frame, and no
// less time per byte than one full-size message has.
const (
	deadlineFrames = 64
	deadlineBytes  = 64 << 10
)

// writeFrames writes frames in order, each run under one deadline of timeout, clearing
// each written slot. It returns how many were written.
func writeFrames(ctx context.Context, s Socket, frames [][]byte, timeout time.Duration) (int, error) {
	for i := 0; i < len(frames); {
		end, bytes := i+1, len(frames[i])
		for end < len(frames) && end-i < deadlineFrames && bytes+len(frames[end]) <= deadlineBytes {
			bytes += len(frames[end])
			end++
		}
		n, err := writeRun(ctx, s, frames[i:end], timeout)
		clear(frames[i : i+n])
		i += n
		if err != nil {
			return i, err
		}
	}
	return len(frames), nil
}

// writeRun writes one run of frames within timeout: at once if the socket can, else
// frame by frame under one context.
func writeRun(ctx context.Context, s Socket, run [][]byte, timeout time.Duration) (int, error) {
	if bs, ok := s.(BatchSocket); ok {
		return bs.WriteFrames(time.Now().Add(timeout), run)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for i, frame := range run {
		if err := s.Write(ctx, frame); err != nil {
			return i, err
		}
	}
	return len(run), nil
}

// ignoreCanceled treats a close cut short because the peer left as no error.
func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
