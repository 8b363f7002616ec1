package postgres

// The PostgreSQL journal's reads: a task's meta, the task list, a load (which also claims
// the task for the caller) and a range of entries.

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/record"
)

// Stat implements Journal.
func (p *Journal) Stat(taskID string) (journal.Meta, bool, error) {
	ctx, cancel := p.ctx()
	defer cancel()
	var raw []byte
	err := p.pool.QueryRow(ctx, `SELECT meta FROM tasktail_tasks WHERE task_id = $1`, taskID).Scan(&raw)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || err == nil && len(raw) == 0:
		return journal.Meta{}, false, nil
	case err != nil:
		return journal.Meta{}, false, unavailable(err)
	}
	meta, err := record.DecodeMeta(raw)
	return meta, err == nil, err
}

// List implements Journal.
func (p *Journal) List(prefix string, fn func(string, journal.Meta) bool) error {
	ctx, cancel := p.ctx()
	defer cancel()
	rows, err := p.pool.Query(ctx, `SELECT task_id, meta FROM tasktail_tasks WHERE starts_with(task_id, $1) AND meta <> ''`, prefix)
	if err != nil {
		return unavailable(err)
	}
	defer rows.Close()
	for rows.Next() {
		var taskID string
		var raw []byte
		if err := rows.Scan(&taskID, &raw); err != nil {
			return unavailable(err)
		}
		meta, err := record.DecodeMeta(raw)
		if err != nil {
			return err
		}
		if !fn(taskID, meta) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Load implements Journal: it also makes the caller the task's owner. It claims the task
// first, in a statement of its own (the row is locked only for it), and then reads the
// meta and the entries in one read-only repeatable-read snapshot. Once claimed, no stale
// owner can change the task (its commits are refused), so the snapshot holds what the
// claim left or what a newer owner wrote since; a writer that commits during the load
// never makes it fail. A delete or sweep between the two leaves nothing to read: the task
// is not found.
func (p *Journal) Load(taskID string, window int) (meta journal.Meta, recent []journal.Entry, found bool, err error) {
	ctx, cancel := p.ctx()
	defer cancel()
	var owner int64
	err = p.pool.QueryRow(ctx, `UPDATE tasktail_tasks SET owner = nextval('tasktail_owner') WHERE task_id = $1 RETURNING owner`, taskID).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return journal.Meta{}, nil, false, nil
	}
	if err != nil {
		return journal.Meta{}, nil, false, unavailable(err)
	}
	err = p.inTxWith(pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		meta, recent, found, err = p.load(ctx, tx, taskID, window)
		return err
	})
	if errors.Is(err, journal.ErrOutcomeUnknown) { // a read's commit changes nothing
		err = unavailable(err)
	}
	if err != nil {
		return journal.Meta{}, nil, false, err
	}
	meta.Owner = uint64(owner)
	return meta, recent, found, nil
}

// load reads a task's meta and newest window entries in tx; a task claimed by a first
// commit still on its way has an empty meta and is not found yet.
func (p *Journal) load(ctx context.Context, tx pgx.Tx, taskID string, window int) (journal.Meta, []journal.Entry, bool, error) {
	var raw []byte
	err := tx.QueryRow(ctx, `SELECT meta FROM tasktail_tasks WHERE task_id = $1`, taskID).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && len(raw) == 0 {
		return journal.Meta{}, nil, false, nil
	}
	if err != nil {
		return journal.Meta{}, nil, false, unavailable(err)
	}
	meta, err := record.DecodeMeta(raw)
	if err != nil {
		return journal.Meta{}, nil, false, fmt.Errorf("task %s: %w", taskID, err)
	}
	recent, err := p.newestEntries(ctx, tx, taskID, window)
	if err != nil {
		return journal.Meta{}, nil, false, err
	}
	return meta, recent, true, nil
}

// newestEntries reads a task's newest window entries, oldest first.
func (p *Journal) newestEntries(ctx context.Context, tx pgx.Tx, taskID string, window int) ([]journal.Entry, error) {
	if window <= 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT first_seq, data FROM tasktail_chunks WHERE task_id = $1 ORDER BY first_seq DESC`, taskID)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	w := record.Newest{Size: window}
	for !w.Full() && rows.Next() {
		var first int64
		var data []byte
		if err := rows.Scan(&first, &data); err != nil {
			return nil, unavailable(err)
		}
		if err := w.Add(data, uint64(first)); err != nil {
			return nil, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, unavailable(err)
	}
	return w.Entries(), nil
}

// Keys implements Journal.
func (p *Journal) Keys(taskID string, n int) ([]journal.Key, error) {
	ctx, cancel := p.ctx()
	defer cancel()
	rows, err := p.pool.Query(ctx, `SELECT key, hash, first_seq, last_seq, at FROM tasktail_keys WHERE task_id = $1 ORDER BY last_seq DESC LIMIT $2`, taskID, n)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var keys []journal.Key
	for rows.Next() {
		var k journal.Key
		var hash, first, last int64
		if err := rows.Scan(&k.Key, &hash, &first, &last, &k.At); err != nil {
			return nil, unavailable(err)
		}
		k.Hash, k.First, k.Last = uint64(hash), uint64(first), uint64(last)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(err)
	}
	slices.Reverse(keys)
	return keys, nil
}

// Read implements Journal, a page at a time (see readPaged): each page is a query of its
// own, so a slow reader holds no connection, and no query outlives Options.Timeout however
// long the whole read takes.
func (p *Journal) Read(taskID string, from uint64, fn func(journal.Entry) bool) error {
	first := func() (uint64, error) {
		ctx, cancel := p.ctx()
		defer cancel()
		var at int64
		err := p.pool.QueryRow(ctx, `SELECT coalesce(max(first_seq), 0) FROM tasktail_chunks WHERE task_id = $1 AND first_seq <= $2`,
			taskID, int64(from)).Scan(&at)
		if err != nil {
			return 0, unavailable(err)
		}
		return uint64(at), nil
	}
	page := func(at uint64) ([]record.Chunk, error) {
		ctx, cancel := p.ctx()
		defer cancel()
		rows, err := p.pool.Query(ctx, `SELECT first_seq, data FROM tasktail_chunks WHERE task_id = $1 AND first_seq >= $2 ORDER BY first_seq LIMIT $3`,
			taskID, int64(at), record.ReadPageBytes/record.MaxChunkBytes)
		if err != nil {
			return nil, unavailable(err)
		}
		defer rows.Close()
		var chunks []record.Chunk
		for rows.Next() {
			var c record.Chunk
			var first int64
			if err := rows.Scan(&first, &c.Data); err != nil {
				return nil, unavailable(err)
			}
			c.First = uint64(first)
			chunks = append(chunks, c)
		}
		if err := rows.Err(); err != nil {
			return nil, unavailable(err)
		}
		return chunks, nil
	}
	return record.ReadPaged(from, first, page, fn)
}
