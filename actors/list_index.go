package actors

import (
	"sync"
	"sync/atomic"

	"github.com/google/btree"
	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// listIndex is what the task list reads of the tasks a process holds in memory: one entry
// per task a publish created, ordered as the list is (journal.Position: the most recently
// active first). Each task actor keeps its own entry current as it handles messages
// (TaskActor.relist) and removes it when it stops, so a page of the list is a walk of the
// order that reads about a page of entries and asks no actor anything.
//
// It is a read model, not task state: a task writes its entry and only the list reads it,
// under mu, which every call holds for a map lookup and a B-tree step (a page: for its
// walk). Its memory follows the tasks in memory (an entry, a tree slot, a map slot each);
// the map is made again when it shrinks well below its peak, as the registry's is.
type listIndex struct {
	mu    sync.Mutex
	order *btree.BTreeG[*listEntry]
	byID  map[string]*listEntry
	peak  int // the most entries since byID was last made (see shrunk)
	// walked counts the entries pages have read, for tests: a page reads about a page.
	walked atomic.Uint64
}

// listEntry is one task in the index: its place in the order and what the list shows.
type listEntry struct {
	at    journal.Position
	owner uint64 // the incarnation that wrote it (TaskActor.listGen)
	shown listedTask
}

// listedTask is what the list shows of a task besides its task_id and activity time.
type listedTask struct {
	epoch       string
	member      string
	lastSeq     uint64
	progress    float64
	subscribers uint32
	queued      uint32
	finished    bool
	failed      bool
}

// listGens numbers task incarnations in this process, so that an incarnation that stops
// never removes or overwrites the entry of a newer one of the same task_id.
var listGens atomic.Uint64

func newListIndex() *listIndex {
	return &listIndex{
		order: btree.NewG(32, func(a, b *listEntry) bool { return a.at.Compare(b.at) < 0 }),
		byID:  map[string]*listEntry{},
	}
}

// put makes the task at at with shown the entry of its task_id, unless a newer
// incarnation owns that entry.
func (x *listIndex) put(owner uint64, at journal.Position, shown listedTask) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.byID[at.TaskID]
	switch {
	case e == nil:
		e = &listEntry{at: at, owner: owner, shown: shown}
		x.byID[at.TaskID] = e
		x.peak = max(x.peak, len(x.byID))
		x.order.ReplaceOrInsert(e)
	case e.owner > owner:
	case e.at != at:
		x.order.Delete(e)
		e.at, e.owner, e.shown = at, owner, shown
		x.order.ReplaceOrInsert(e)
	default:
		e.owner, e.shown = owner, shown
	}
}

// remove drops the entry of taskID if owner wrote it last.
func (x *listIndex) remove(taskID string, owner uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if e := x.byID[taskID]; e != nil && e.owner == owner {
		x.order.Delete(e)
		delete(x.byID, taskID)
		x.byID = shrunk(x.byID, &x.peak)
	}
}

// matching reports whether the task is in memory here, and its status if q matches it
// there (else nil).
func (x *listIndex) matching(taskID string, q ListQuery) (*v1.Status, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.byID[taskID]
	if e == nil {
		return nil, false
	}
	if !q.admits(e.at, e.shown.finished, e.shown.failed) {
		return nil, true
	}
	return e.status(), true
}

// len is how many tasks the index holds.
func (x *listIndex) len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.byID)
}

// page returns the statuses of the first tasks after q.After that q matches, in order, at
// most n.
//
// It holds the index's lock for at most pageStep entries at a time: a filtered page may
// pass over many tasks, and every task actor takes that lock as it handles a message.
// Between steps a task may move; it only moves ahead in the order (its activity grows),
// to before where the walk resumes, so the walk never shows a task twice.
func (x *listIndex) page(q ListQuery, n int) []*v1.Status {
	var out []*v1.Status
	from := q.After
	for {
		walked, last := 0, from
		x.mu.Lock()
		x.order.AscendGreaterOrEqual(&listEntry{at: from}, func(e *listEntry) bool {
			walked++
			if from.Compare(e.at) < 0 && q.admits(e.at, e.shown.finished, e.shown.failed) {
				out = append(out, e.status())
			}
			last = e.at
			return len(out) < n && walked < pageStep
		})
		x.mu.Unlock()
		x.walked.Add(uint64(walked))
		if len(out) >= n || walked < pageStep {
			return out
		}
		from = last
	}
}

// pageStep is how many entries a page walks per hold of the index's lock.
const pageStep = 256

func (e *listEntry) status() *v1.Status {
	s := &e.shown
	return &v1.Status{
		TaskId: e.at.TaskID, Found: true, Epoch: s.epoch, LastSeq: s.lastSeq, Progress: s.progress,
		Finished: s.finished, Failed: s.failed, Subscribers: s.subscribers, Connected: s.subscribers > 0, Queued: s.queued,
		LastActiveUnixNano: e.at.Active, Member: s.member,
	}
}

// relist writes the task's entry in the list index as the task stands: after every message
// it handles (a no-op unless it moved), and before an answer that a list may follow at
// once. A task nobody has published to is not listed.
func (t *TaskActor) relist() {
	if t.listGen == 0 || !t.created {
		return
	}
	t.index.put(t.listGen, journal.Position{Active: processStart.Add(t.lastActive).UnixNano(), TaskID: t.taskID}, listedTask{
		epoch: t.s.Epoch, member: t.member, lastSeq: t.s.LastSeq, progress: t.s.Progress,
		subscribers: uint32(len(t.subs)), queued: t.queued(), finished: t.s.Finished, failed: t.s.Failed,
	})
}

// unlist removes the task from the list index for good: it is deleted or stopping.
func (t *TaskActor) unlist() {
	if t.listGen != 0 {
		t.index.remove(t.taskID, t.listGen)
		t.listGen = 0
	}
}
