package postgres

import (
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/record"
)

// The PostgreSQL journal's activity order: an index on (active DESC, task_id) (migration
// 4), read by keyset pages, so that a list that stops early reads little past where it
// stopped.

// activityPage is how many tasks ListActive asks for at first; each later page asks for
// more, up to activityPageMax.
const (
	activityPage    = 64
	activityPageMax = 1024
)

// activitySQL reads a page of the activity order after ($1, $2) of task_ids starting with
// $3. "C" compares bytes, as Position does.
const activitySQL = `SELECT task_id, meta, active FROM tasktail_tasks
WHERE active <= $1 AND (active < $1 OR task_id COLLATE "C" > $2) AND starts_with(task_id, $3) AND meta <> ''
ORDER BY active DESC, task_id COLLATE "C" LIMIT $4`

// ListActive implements Journal.
func (p *Journal) ListActive(prefix string, after journal.Position, fn func(journal.Listing) (bool, error)) error {
	for n := activityPage; ; n = min(n*2, activityPageMax) {
		read, stopped, err := p.readActivity(prefix, after, n, fn)
		if err != nil || stopped || read.n < n {
			return err
		}
		after = read.last
	}
}

// activityRead is what one page read: how many tasks, and the position of the last.
type activityRead struct {
	n    int
	last journal.Position
}

// readActivity calls fn with a page of at most n tasks after after, and reports whether fn
// stopped it.
func (p *Journal) readActivity(prefix string, after journal.Position, n int, fn func(journal.Listing) (bool, error)) (activityRead, bool, error) {
	ctx, cancel := p.ctx()
	defer cancel()
	var read activityRead
	rows, err := p.pool.Query(ctx, activitySQL, after.Active, after.TaskID, prefix, n)
	if err != nil {
		return read, false, unavailable(err)
	}
	defer rows.Close()
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&read.last.TaskID, &raw, &read.last.Active); err != nil {
			return read, false, unavailable(err)
		}
		read.n++
		meta, err := record.DecodeMeta(raw)
		if err != nil {
			return read, false, err
		}
		if more, err := fn(journal.ListingOf(read.last.TaskID, meta)); err != nil || !more {
			return read, true, err
		}
	}
	if err := rows.Err(); err != nil {
		return read, false, unavailable(err)
	}
	return read, false, nil
}
