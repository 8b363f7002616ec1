// Package postgres is the journal that cluster members share: one PostgreSQL database,
// whose owner generations refuse a stale member's writes (journal.Fencer).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/record"
)

// Postgres is the journal that every cluster member shares: one PostgreSQL database, two
// tables. A task's meta is one row (with the columns retention and fencing need), and each
// commit adds one chunk row per task. Commits are transactions with synchronous_commit on
// (the server's default; Open checks it).
type Journal struct {
	pool         *pgxpool.Pool
	maxTaskBytes int64
	keyWindow    int
	timeout      time.Duration
}

// Options configure a PostgreSQL journal; zero fields mean defaults.
type Options struct {
	// MaxTaskBytes caps what one task's entries take, as for Pebble (0: no cap).
	MaxTaskBytes int64
	// Timeout bounds each operation (default 10 s).
	Timeout time.Duration
	// KeyWindow is how many idempotency keys it keeps per task (default DefaultKeyWindow).
	KeyWindow int
	// IdleInTransaction is how long the database keeps a session of this journal that sits
	// inside a transaction without sending anything (default 1 s; the session's
	// idle_in_transaction_session_timeout). A member paused or cut off inside a commit
	// then lets go of its rows that long after, instead of holding them, and every member
	// that waits on them, for as long as the pause lasts.
	IdleInTransaction time.Duration
	// LockTimeout bounds how long one statement waits for a row another session holds
	// (default 1 s; lock_timeout). Past it the write fails and is tried again, so the
	// Writer, which serves every task of the member in turn, never waits longer on one.
	LockTimeout time.Duration
}

// Open connects to the database at url and creates the tables if needed.
func Open(url string, opts Options) (*Journal, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.KeyWindow <= 0 {
		opts.KeyWindow = journal.DefaultKeyWindow
	}
	if opts.IdleInTransaction <= 0 {
		opts.IdleInTransaction = time.Second
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres journal: %w", err)
	}
	sessionSettings(cfg.ConnConfig.RuntimeParams, opts)
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres journal: %w", err)
	}
	var sync string
	if err := pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&sync); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres journal: %w", err)
	}
	if sync == "off" {
		pool.Close()
		return nil, errors.New("postgres journal: synchronous_commit is off, so a commit is not durable when it returns: turn it on")
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres journal: %w", err)
	}
	return &Journal{pool: pool, maxTaskBytes: opts.MaxTaskBytes, keyWindow: opts.KeyWindow, timeout: opts.Timeout}, nil
}

// sessionSettings are what each session of the journal sets at its start, unless the URL
// sets them: the timeouts of opts, and a name that tells an operator in pg_stat_activity
// which process holds a session.
func sessionSettings(params map[string]string, opts Options) {
	set := func(name, value string) {
		if _, ok := params[name]; !ok {
			params[name] = value
		}
	}
	set("idle_in_transaction_session_timeout", strconv.FormatInt(opts.IdleInTransaction.Milliseconds(), 10))
	set("lock_timeout", strconv.FormatInt(opts.LockTimeout.Milliseconds(), 10))
	host, _ := os.Hostname()
	set("application_name", fmt.Sprintf("tasktail %s pid %d", host, os.Getpid()))
}

// FencesStaleOwners implements Fencer: every commit is applied only by the task's owner.
func (p *Journal) FencesStaleOwners() {}

func (p *Journal) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), p.timeout)
}

func unavailable(err error) error { return fmt.Errorf("%w: %v", journal.ErrUnavailable, err) }

// Commit implements Journal: one transaction of a few round trips whatever the number of
// appends: the rows of their tasks locked and their owners read in one query, new tasks
// claimed in one insert, then the chunks and the metas each sent as one pipelined batch.
// An append whose owner is not the task's (another activation loaded it since) is marked
// Fenced and left out.
func (p *Journal) Commit(appends []journal.Append) error {
	return p.inTx(func(ctx context.Context, tx pgx.Tx) error { return p.commit(ctx, tx, appends) })
}

func (p *Journal) commit(ctx context.Context, tx pgx.Tx, appends []journal.Append) error {
	if err := p.claim(ctx, tx, appends); err != nil {
		return unavailable(err)
	}
	var chunks pgx.Batch
	var buf []byte
	for i := range appends {
		a := &appends[i]
		if a.Fenced || a.Skipped {
			continue
		}
		if a.Reset {
			chunks.Queue(`DELETE FROM tasktail_chunks WHERE task_id = $1`, a.TaskID)
			chunks.Queue(`DELETE FROM tasktail_keys WHERE task_id = $1`, a.TaskID)
			a.Meta.Bytes, a.Meta.FirstSeq, a.Meta.Keys = 0, 0, 0
		}
		for _, k := range a.Keys {
			chunks.Queue(`INSERT INTO tasktail_keys (task_id, last_seq, key, hash, first_seq, at) VALUES ($1, $2, $3, $4, $5, $6)`,
				a.TaskID, int64(k.Last), k.Key, int64(k.Hash), int64(k.First), k.At)
		}
		if a.Meta.Keys += len(a.Keys); a.Meta.Keys > p.keyWindow && len(a.Keys) > 0 {
			chunks.Queue(`DELETE FROM tasktail_keys WHERE task_id = $1 AND last_seq IN
				(SELECT last_seq FROM tasktail_keys WHERE task_id = $1 ORDER BY last_seq LIMIT $2)`, a.TaskID, a.Meta.Keys-p.keyWindow)
			a.Meta.Keys = p.keyWindow
		}
		if len(a.Entries) > 0 {
			buf, _ = record.PutChunks(buf, a.Entries, func(first uint64, n int, data []byte) error {
				chunks.Queue(`INSERT INTO tasktail_chunks (task_id, first_seq, entries, data) VALUES ($1, $2, $3, $4)`,
					a.TaskID, int64(first), n, append([]byte(nil), data...))
				a.Meta.Bytes += int64(len(data))
				return nil
			})
			if a.Meta.FirstSeq == 0 {
				a.Meta.FirstSeq = a.Entries[0].Seq
			}
		}
	}
	if err := tx.SendBatch(ctx, &chunks).Close(); err != nil {
		return unavailable(err)
	}
	var metas pgx.Batch
	for i := range appends {
		a := &appends[i]
		if a.Fenced || a.Skipped {
			continue
		}
		if p.maxTaskBytes > 0 && a.Meta.Bytes > p.maxTaskBytes && len(a.Entries) > 0 && !a.Reset {
			if err := p.trim(ctx, tx, a); err != nil {
				return unavailable(err)
			}
		}
		metas.Queue(`UPDATE tasktail_tasks SET meta = $2, finished = $3, finished_at = $4, active = $5 WHERE task_id = $1`,
			a.TaskID, record.AppendMeta(nil, a.Meta), a.Meta.Finished, a.Meta.FinishedAt, a.Meta.Active)
	}
	if err := tx.SendBatch(ctx, &metas).Close(); err != nil {
		return unavailable(err)
	}
	return nil
}

// inTx runs f in one transaction and commits it. A failure before the commit was sent
// rolls everything back (ErrUnavailable); a commit whose answer did not arrive may or may
// not have been applied (ErrOutcomeUnknown).
func (p *Journal) inTx(f func(ctx context.Context, tx pgx.Tx) error) error {
	return p.inTxWith(pgx.TxOptions{}, f)
}

// inTxWith is inTx with the transaction's options.
func (p *Journal) inTxWith(opts pgx.TxOptions, f func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := p.ctx()
	defer cancel()
	tx, err := p.pool.BeginTx(ctx, opts)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	if err := f(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%w: %v", journal.ErrOutcomeUnknown, err)
	}
	return nil
}

// claim locks the rows of the appends' tasks for the transaction and admits each append
// against its task as stored (Append.Admit, with the owner column as the stored owner):
// a task new to the journal is inserted with a new owner generation (the first writer
// wins). A refused append is marked Fenced, a skipped one Skipped; neither is written.
func (p *Journal) claim(ctx context.Context, tx pgx.Tx, appends []journal.Append) error {
	ids := make([]string, 0, len(appends))
	for _, a := range appends {
		ids = append(ids, a.TaskID)
	}
	rows, err := tx.Query(ctx, `SELECT task_id, owner, meta FROM tasktail_tasks WHERE task_id = ANY($1) ORDER BY task_id FOR UPDATE`, ids)
	if err != nil {
		return err
	}
	stored := map[string]journal.Meta{}
	for rows.Next() {
		var id string
		var owner int64
		var raw []byte
		if err := rows.Scan(&id, &owner, &raw); err != nil {
			rows.Close()
			return err
		}
		if len(raw) == 0 { // claimed by a first commit still on its way: not stored yet
			continue
		}
		meta, err := record.DecodeMeta(raw)
		if err != nil {
			rows.Close()
			return fmt.Errorf("task %s: %w", id, err)
		}
		meta.Owner = uint64(owner)
		stored[id] = meta
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var fresh []string // tasks this commit creates
	for i := range appends {
		a := &appends[i]
		meta, found := stored[a.TaskID]
		switch a.Admit(meta, found) {
		case journal.Refuse:
			a.Fenced = true
			continue
		case journal.Skip:
			a.Skipped = true
			continue
		}
		a.Meta.Bytes, a.Meta.FirstSeq, a.Meta.Keys = meta.Bytes, meta.FirstSeq, meta.Keys // the journal keeps them
		if !found {
			fresh = append(fresh, a.TaskID)
		}
		stored[a.TaskID] = a.Meta // a later append of this commit follows this one
	}
	if len(fresh) == 0 {
		return nil
	}
	rows, err = tx.Query(ctx, `INSERT INTO tasktail_tasks (task_id, meta, owner, finished, finished_at, active)
		SELECT id, '', nextval('tasktail_owner'), false, 0, 0 FROM unnest($1::text[]) AS id
		ON CONFLICT (task_id) DO NOTHING RETURNING task_id, owner`, fresh)
	if err != nil {
		return err
	}
	owners := map[string]uint64{}
	for rows.Next() {
		var id string
		var owner int64
		if err := rows.Scan(&id, &owner); err != nil {
			rows.Close()
			return err
		}
		owners[id] = uint64(owner)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range appends {
		a := &appends[i]
		if a.Fenced || a.Skipped || a.Meta.Owner != 0 {
			continue
		}
		if owner, ok := owners[a.TaskID]; ok {
			a.Meta.Owner = owner
		} else { // another activation created it first
			a.Fenced = true
		}
	}
	return nil
}

// trim deletes the task's oldest chunks until it is under three quarters of its cap.
func (p *Journal) trim(ctx context.Context, tx pgx.Tx, a *journal.Append) error {
	rows, err := tx.Query(ctx, `SELECT first_seq, entries, length(data) FROM tasktail_chunks WHERE task_id = $1 ORDER BY first_seq`, a.TaskID)
	if err != nil {
		return err
	}
	var drop []int64
	for rows.Next() && a.Meta.Bytes > p.maxTaskBytes*3/4 {
		var first, n, size int64
		if err := rows.Scan(&first, &n, &size); err != nil {
			rows.Close()
			return err
		}
		if uint64(first) >= a.Entries[0].Seq { // the chunk this commit writes stays
			break
		}
		drop = append(drop, first)
		a.Meta.Bytes -= size
		a.Meta.FirstSeq = uint64(first + n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `DELETE FROM tasktail_chunks WHERE task_id = $1 AND first_seq = ANY($2)`, a.TaskID, drop)
	return err
}

// Delete implements Journal.
func (p *Journal) Delete(taskID string) error {
	return p.inTx(func(ctx context.Context, tx pgx.Tx) error {
		for _, q := range []string{`DELETE FROM tasktail_tasks WHERE task_id = $1`, `DELETE FROM tasktail_chunks WHERE task_id = $1`, `DELETE FROM tasktail_keys WHERE task_id = $1`} { // the row first: it orders the delete with commits
			if _, err := tx.Exec(ctx, q, taskID); err != nil {
				return unavailable(err)
			}
		}
		return nil
	})
}

// Expired implements Journal.
func (p *Journal) Expired(now time.Time, r journal.Retention, fn func(taskID string) bool) error {
	ctx, cancel := p.ctx()
	defer cancel()
	rows, err := p.pool.Query(ctx, `SELECT task_id FROM tasktail_tasks WHERE meta <> '' AND `+expiredSQL,
		now.UnixNano()-int64(r.Finished), now.UnixNano()-int64(r.Idle))
	if err != nil {
		return unavailable(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return unavailable(err)
		}
		if !fn(id) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// expiredSQL is Meta.Expired over tasktail_tasks' columns, with $1 the finished and $2 the
// idle cutoff.
const expiredSQL = `((finished AND finished_at <> 0 AND finished_at < $1) OR (NOT finished AND active < $2))`

// DeleteExpired implements Journal: the rows are locked and checked again by the delete.
func (p *Journal) DeleteExpired(taskIDs []string, now time.Time, r journal.Retention) (int, error) {
	var swept int
	err := p.inTx(func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM tasktail_tasks WHERE task_id = ANY($3) AND meta <> '' AND `+expiredSQL+` RETURNING task_id`,
			now.UnixNano()-int64(r.Finished), now.UnixNano()-int64(r.Idle), taskIDs)
		if err != nil {
			return unavailable(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return unavailable(err)
		}
		if len(ids) > 0 {
			for _, q := range []string{`DELETE FROM tasktail_chunks WHERE task_id = ANY($1)`, `DELETE FROM tasktail_keys WHERE task_id = ANY($1)`} {
				if _, err := tx.Exec(ctx, q, ids); err != nil {
					return unavailable(err)
				}
			}
		}
		swept = len(ids)
		return nil
	})
	return swept, err
}

// Close implements Journal.
func (p *Journal) Close() error {
	p.pool.Close()
	return nil
}
