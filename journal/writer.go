package journal

import (
	"runtime"
	"sync/atomic"
	"time"
)

// Bounds of one group commit: past them the rest waits for the next commit.
const (
	maxGroupAppends = 4096
	maxGroupBytes   = 16 << 20
)

// Before a commit the Writer lets the goroutines that are ready to run go first, while
// that brings more requests, up to gatherRounds times: a sync costs as much CPU as many
// publishes (0.15-0.4 ms of kernel time on a small VM), and the Writer, woken by the first
// request, would otherwise commit it alone before the others that are on their way could
// submit. Nothing waits on a timer, so a lone request on an idle server is committed at
// once.
const gatherRounds = 8

// Writer runs a journal's requests on one goroutine of its own, in the order they were
// submitted, and commits the appends that wait together in one write (group commit).
// Submitting never blocks and takes no lock, so an actor may submit from its Receive.
type Writer struct {
	j          Journal
	head       atomic.Pointer[request] // submitted, newest first
	wake       chan struct{}
	queued     atomic.Int64 // submitted and not yet taken
	closed     atomic.Bool
	submitting atomic.Int64
	stop, done chan struct{}
	counts     *Counts
}

// Counts are what Writers have written: commits that succeeded, and the appends they
// stored (not those refused or skipped). With every commit synced, appends per commit is
// how many writes share one sync. Writers may share one, one after another.
type Counts struct {
	Commits atomic.Uint64
	Appends atomic.Uint64
}

type request struct {
	append   *Append // a commit
	load     string  // a load of this task_id, with window
	window   int
	delete   string
	stored   func(Meta, error) // a commit's: the meta as stored
	read     string            // a read of this task_id, from, at most window entries
	from     uint64
	maxBytes int // of a read: it stops once its messages take that many
	entries  func([]Entry, error)
	done     func(error)
	loaded   func(Loaded, error)
	expired  []string // a sweep's: the tasks to delete if retention still expires them
	now      time.Time
	keep     Retention
	swept    func(int, error)
	previous *request
}

// NewWriter starts the Writer's goroutine, which adds what it writes to counts (nil: to
// counts of its own); Close stops it.
func NewWriter(j Journal, counts *Counts) *Writer {
	if counts == nil {
		counts = &Counts{}
	}
	w := &Writer{j: j, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), counts: counts}
	go w.run()
	return w
}

// Commit writes a durably and then calls done with its meta as stored (Bytes and
// FirstSeq kept by the journal), or with the failure.
func (w *Writer) Commit(a Append, done func(Meta, error)) {
	w.submit(&request{append: &a, stored: done})
}

// Loaded is what a load found of a task.
type Loaded struct {
	Meta    Meta
	Entries []Entry // the newest, oldest first
	Keys    []Key   // the newest idempotency keys, oldest first
	Found   bool
}

// Load reads a task's meta, its newest window entries and its newest window idempotency
// keys, after every request submitted before it, and calls done with them.
func (w *Writer) Load(taskID string, window int, done func(Loaded, error)) {
	w.submit(&request{load: taskID, window: window, loaded: done})
}

// Delete removes a task durably, after every request submitted before it.
func (w *Writer) Delete(taskID string, done func(error)) {
	w.submit(&request{delete: taskID, done: done})
}

// Read reads at most limit of a task's entries from seq from on, and no more once their
// messages take maxBytes, after every request submitted before it, and calls done with
// them.
func (w *Writer) Read(taskID string, from uint64, limit, maxBytes int, done func([]Entry, error)) {
	w.submit(&request{read: taskID, from: from, window: limit, maxBytes: maxBytes, entries: done})
}

// sweepBatch bounds how many tasks one of a sweep's requests deletes, so that commits
// waiting behind it wait little.
const sweepBatch = 1000

// Sweep removes the tasks that retention r has expired at now and returns how many. It
// reads the expired tasks on the caller's goroutine, then deletes them through the Writer,
// in order with commits, each only if it is still expired then. It blocks until done.
func (w *Writer) Sweep(now time.Time, r Retention) (int, error) {
	// The read ends before the deletes begin: a journal's read may hold a connection (or
	// a snapshot) that its deletes would wait for.
	var expired []string
	if err := w.j.Expired(now, r, func(id string) bool { expired = append(expired, id); return true }); err != nil {
		return 0, err
	}
	total := 0
	for len(expired) > 0 {
		batch := expired[:min(len(expired), sweepBatch)]
		expired = expired[len(batch):]
		done := make(chan struct{})
		var n int
		var err error
		w.submit(&request{expired: batch, now: now, keep: r, swept: func(swept int, e error) { n, err = swept, e; close(done) }})
		<-done
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Journal is what the Writer writes to, for reads that need no ordering (a download).
func (w *Writer) Journal() Journal { return w.j }

func (w *Writer) submit(r *request) {
	w.submitting.Add(1)
	defer w.submitting.Add(-1)
	if w.closed.Load() {
		r.fail(ErrUnavailable)
		return
	}
	for {
		r.previous = w.head.Load()
		if w.head.CompareAndSwap(r.previous, r) {
			break
		}
	}
	w.queued.Add(1)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (r *request) fail(err error) {
	switch {
	case r.loaded != nil:
		r.loaded(Loaded{}, err)
	case r.entries != nil:
		r.entries(nil, err)
	case r.stored != nil:
		r.stored(Meta{}, err)
	case r.swept != nil:
		r.swept(0, err)
	default:
		r.done(err)
	}
}

// Close carries out what was submitted, then stops the goroutine; later requests fail
// with ErrUnavailable. It does not close the journal.
func (w *Writer) Close() {
	if w.closed.Swap(true) {
		<-w.done
		return
	}
	for w.submitting.Load() != 0 { // a submit that did not see closed is pushing
		runtime.Gosched()
	}
	close(w.stop)
	<-w.done
}

func (w *Writer) run() {
	defer close(w.done)
	for {
		if batch := w.take(); batch != nil { // they gathered during the last commit
			w.carryOut(batch)
			continue
		}
		select {
		case <-w.wake:
			w.gather()
		case <-w.stop:
			if batch := w.take(); batch != nil {
				w.carryOut(batch)
			}
			return
		}
	}
}

// gather yields to the goroutines ready to run while that brings more requests.
func (w *Writer) gather() {
	for n, round := w.queued.Load(), 0; n < maxGroupAppends && round < gatherRounds; round++ {
		runtime.Gosched()
		m := w.queued.Load()
		if m == n {
			return
		}
		n = m
	}
}

// take returns everything submitted so far, oldest first.
func (w *Writer) take() []*request {
	r := w.head.Swap(nil)
	var batch []*request
	for ; r != nil; r = r.previous {
		batch = append(batch, r)
	}
	w.queued.Add(-int64(len(batch)))
	for i, j := 0, len(batch)-1; i < j; i, j = i+1, j-1 {
		batch[i], batch[j] = batch[j], batch[i]
	}
	return batch
}

// carryOut runs requests in order; consecutive commits go in one group.
func (w *Writer) carryOut(batch []*request) {
	var group []*request
	var appends []Append
	bytes := 0
	flush := func() {
		if len(group) == 0 {
			return
		}
		err := w.j.Commit(appends)
		if err == nil {
			stored := 0
			for i := range appends {
				if !appends[i].Fenced && !appends[i].Skipped {
					stored++
				}
			}
			w.counts.Commits.Add(1)
			w.counts.Appends.Add(uint64(stored))
		}
		for i, r := range group {
			if err == nil && appends[i].Fenced {
				r.stored(appends[i].Meta, ErrFenced)
				continue
			}
			r.stored(appends[i].Meta, err)
		}
		group, appends, bytes = group[:0], appends[:0], 0
	}
	for _, r := range batch {
		switch {
		case r.append != nil:
			size := appendBytes(r.append)
			if len(group) == maxGroupAppends || len(group) > 0 && bytes+size > maxGroupBytes {
				flush()
			}
			group, appends = append(group, r), append(appends, *r.append)
			bytes += size
		case r.loaded != nil:
			flush()
			r.loaded(w.load(r.load, r.window))
		case r.entries != nil:
			flush()
			var entries []Entry
			size := 0
			err := w.j.Read(r.read, r.from, func(e Entry) bool {
				entries = append(entries, e)
				size += len(e.Message)
				return len(entries) < r.window && size < r.maxBytes
			})
			r.entries(entries, err)
		case r.swept != nil:
			flush()
			r.swept(w.j.DeleteExpired(r.expired, r.now, r.keep))
		default:
			flush()
			r.done(w.j.Delete(r.delete))
		}
	}
	flush()
}

func (w *Writer) load(taskID string, window int) (Loaded, error) {
	var l Loaded
	var err error
	l.Meta, l.Entries, l.Found, err = w.j.Load(taskID, window)
	if err == nil && l.Found && l.Meta.Keys > 0 {
		l.Keys, err = w.j.Keys(taskID, window)
	}
	return l, err
}

func appendBytes(a *Append) int {
	n := 64
	for _, e := range a.Entries {
		n += 24 + len(e.Message)
	}
	return n
}
