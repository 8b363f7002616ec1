package journal

import (
	"cmp"
	"math"
	"strings"
)

// The activity order: the task list shows tasks the most recently active first
// (Meta.Active descending), tasks active at the same nanosecond by task_id (bytewise
// ascending). Each journal keeps its tasks in that order (ListActive), so that a page of
// the list reads about a page of tasks, not all of them.

// Position is a place in the activity order: the task (or where a task would be) active
// at Active with TaskID.
type Position struct {
	Active int64
	TaskID string
}

// Newest is the position before every task: a list from it starts with the most recently
// active task.
var Newest = Position{Active: math.MaxInt64}

// A Listing is a task as ListActive reaches it: its place in the order and its state,
// known without reading its meta, and its meta on demand.
type Listing struct {
	At       Position
	Finished bool
	Failed   bool
	meta     func() (Meta, bool, error)
}

// Meta reads the task's meta; found is false for a task deleted since it was reached.
func (l Listing) Meta() (m Meta, found bool, err error) { return l.meta() }

// ListingRead is the Listing of a task whose meta read reads when asked (a backend's walk
// of its activity order).
func ListingRead(at Position, finished, failed bool, read func() (Meta, bool, error)) Listing {
	return Listing{At: at, Finished: finished, Failed: failed, meta: read}
}

// ListingOf is the Listing of a task whose meta is at hand.
func ListingOf(taskID string, m Meta) Listing {
	return Listing{At: Position{Active: m.Active, TaskID: taskID}, Finished: m.Finished, Failed: m.Failed,
		meta: func() (Meta, bool, error) { return m, true, nil }}
}

// Compare orders positions: negative when p comes before q in the activity order (p is
// more recently active, or as recently with a smaller task_id), 0 when they are the same.
func (p Position) Compare(q Position) int {
	return cmp.Or(cmp.Compare(q.Active, p.Active), strings.Compare(p.TaskID, q.TaskID))
}
