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

// Compare orders positions: negative when p comes before q in the activity order (p is
// more recently active, or as recently with a smaller task_id), 0 when they are the same.
func (p Position) Compare(q Position) int {
	return cmp.Or(cmp.Compare(q.Active, p.Active), strings.Compare(p.TaskID, q.TaskID))
}
