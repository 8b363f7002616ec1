package conn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tasktail/tasktail/wire"
)

// closeRequest asks the writer to end the connection; drain says whether the frames
// already waiting are written first.
type closeRequest struct {
	code   wire.CloseCode
	reason string
	drain  bool
}

// Outbox is the bounded buffer between a viewer's socket actor and its connection. The actor
// pushes without ever blocking. A writer goroutine runs only while there is something to
// do: the first push, close or end of connection after start spawns one, it takes
// everything pending in one step, and it exits when nothing is left, so an idle
// connection costs no goroutine. Only connection buffering is under its mutex, never
// task state.
type Outbox struct {
	limit   int64
	pending atomic.Int64 // frames pushed and not yet written (the first push excluded)
	w       Writer       // set by Start, read-only after

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

// Writer is what the writer goroutines of an outbox work with.
type Writer struct {
	Ctx      context.Context // done when the peer left
	Socket   Socket
	Timeout  time.Duration // bounds a write of one run of frames
	CloseAll *Broadcast
	// Detach makes the viewer leave its task at once. A close can block until the peer
	// answers the close handshake (seconds, for a peer that does not read), so a close for
	// CloseAll calls it first.
	Detach   func()
	Counters Counters
	End      func(error) // called once, when the connection has ended
}

// NewOutbox returns an outbox that refuses a push past limit frames waiting.
func NewOutbox(limit int) *Outbox {
	return &Outbox{limit: int64(limit)}
}

// Push queues frames for writing. It refuses (returns false) when that would leave more
// than limit frames waiting. The first push of a connection, the hello and its replay,
// is exempt: it is bounded by the history limit instead.
func (o *Outbox) Push(frames [][]byte, first bool) bool {
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

// Close ends the connection with code and reason, once; drain writes the frames waiting
// first.
func (o *Outbox) Close(code wire.CloseCode, reason string, drain bool) {
	o.close(closeRequest{code: code, reason: reason, drain: drain})
}

func (o *Outbox) close(req closeRequest) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closing == nil {
		o.closing = &req
		if !req.drain {
			// The frames waiting will never be written: let them go now.
			clear(o.frames)
			o.frames, o.exempt = o.frames[:0], 0
			if a, ok := o.w.Socket.(Aborter); ok && o.started && !o.ended {
				// A write in flight and the close handshake get the write timeout from now,
				// together: a peer too slow for its frames may not answer a close either.
				o.abort = time.AfterFunc(o.w.Timeout, a.Abort)
			}
		}
	}
	o.spawnLocked()
}

// Start begins writing to w.Socket: until then frames only collect. The writer ends the
// connection when the peer left (w.Ctx done), the Manager closed all viewers (shutdown),
// a close was requested, or a write failed; then it calls w.End.
func (o *Outbox) Start(w Writer) {
	o.w = w
	stopPeer := context.AfterFunc(w.Ctx, o.kick)
	stopAll := context.AfterFunc(w.CloseAll.ctx, o.kick)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stops = [2]func() bool{stopPeer, stopAll}
	o.started = true
	o.spawnLocked() // also for a context that ended before started was set
}

func (o *Outbox) kick() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.spawnLocked()
}

// spawnLocked starts a writer goroutine unless one runs, the outbox is not started, or the
// connection has ended.
func (o *Outbox) spawnLocked() {
	if o.started && !o.active && !o.ended {
		o.active = true
		go o.write()
	}
}

// take swaps out everything waiting, handing back the writer's spent slice for reuse, and
// returns how many leading frames are exempt from the pending count. With nothing to do,
// it marks the writer gone (ok false): the next event spawns another.
func (o *Outbox) take(spent [][]byte) (frames [][]byte, exempt int, req *closeRequest, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.frames) == 0 && o.closing == nil && o.w.Ctx.Err() == nil && o.w.CloseAll.ctx.Err() == nil {
		o.active = false
		return nil, 0, nil, false
	}
	frames, exempt = o.frames, o.exempt
	o.frames, o.exempt = spent[:0], 0
	return frames, exempt, o.closing, true
}

// write is a writer goroutine: it writes until nothing is pending or the connection ends.
// Every write has a deadline.
func (o *Outbox) write() {
	w := &o.w
	var batch [][]byte
	for {
		switch {
		case w.Ctx.Err() != nil:
			o.finish(nil)
			return
		case w.CloseAll.ctx.Err() != nil:
			w.Detach()
			o.finish(ignoreCanceled(w.Socket.Close(w.CloseAll.code, w.CloseAll.reason)))
			return
		}
		frames, exempt, req, ok := o.take(batch)
		if !ok {
			return
		}
		if req != nil && !req.drain {
			frames = frames[:0]
		}
		if written, err := writeFrames(w.Ctx, w.Socket, frames, w.Timeout); err != nil {
			w.Counters.Delivered(written)
			if w.Ctx.Err() != nil {
				o.finish(nil)
				return
			}
			w.Counters.WriteFailed()
			_ = w.Socket.Close(wire.CloseInternal, "write failed") // the write error is the one to report
			o.finish(fmt.Errorf("write frame: %w", err))
			return
		}
		// Shared counters are touched once per batch, not once per frame: with many
		// viewers every frame of a message is written at about the same time.
		w.Counters.Delivered(len(frames))
		if counted := len(frames) - exempt; counted > 0 {
			o.pending.Add(-int64(counted))
		}
		if req != nil {
			o.finish(ignoreCanceled(w.Socket.Close(req.code, req.reason)))
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
func (o *Outbox) finish(err error) {
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
	o.w.End(err)
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
