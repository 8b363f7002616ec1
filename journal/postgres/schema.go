package postgres

// The PostgreSQL journal's tables, and their migrations from one version to the next.

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaVersion is the version of the tables this code writes; the tasktail_schema table
// holds the version a database has. Members started together migrate under one advisory
// lock, so they never race on creating tables.
const schemaVersion = 4

// migrations[v] takes a database from version v to v+1.
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS tasktail_tasks (
	task_id     text PRIMARY KEY,
	meta        bytea NOT NULL,
	owner       bigint NOT NULL,
	finished    boolean NOT NULL,
	finished_at bigint NOT NULL,
	active      bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS tasktail_chunks (
	task_id   text NOT NULL,
	first_seq bigint NOT NULL,
	entries   integer NOT NULL,
	data      bytea NOT NULL,
	PRIMARY KEY (task_id, first_seq)
);`,
	// Owner generations come from one sequence, so they never go back, also across a
	// delete and a new task under the same id.
	`CREATE SEQUENCE IF NOT EXISTS tasktail_owner;
SELECT setval('tasktail_owner', greatest((SELECT max(owner) FROM tasktail_tasks), 0) + 1, false);`,
	// Idempotency keys have rows of their own, so that a load finds the newest keys.
	`CREATE TABLE IF NOT EXISTS tasktail_keys (
	task_id   text NOT NULL,
	last_seq  bigint NOT NULL,
	key       text NOT NULL,
	hash      bigint NOT NULL,
	first_seq bigint NOT NULL,
	at        bigint NOT NULL,
	PRIMARY KEY (task_id, last_seq)
);`,
	// The activity order (ListActive): the most recently active first, then by task_id
	// bytewise, as the task list shows tasks.
	`CREATE INDEX IF NOT EXISTS tasktail_tasks_activity ON tasktail_tasks (active DESC, task_id COLLATE "C");`,
}

// migrationLock is the advisory lock key the migrations run under ("tasktail" in ASCII).
const migrationLock = 0x7461736b7461696c

// migrate brings the database's tables to schemaVersion, in one transaction under the
// migration lock. A database newer than this code is refused.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS tasktail_schema (version integer NOT NULL)`); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	version := 0
	err = tx.QueryRow(ctx, `SELECT version FROM tasktail_schema`).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, `INSERT INTO tasktail_schema VALUES (0)`); err != nil {
			return fmt.Errorf("schema version: %w", err)
		}
	case err != nil:
		return fmt.Errorf("schema version: %w", err)
	case version > schemaVersion:
		return fmt.Errorf("the database's tables are of version %d, newer than this tasktail's %d: run a newer tasktail", version, schemaVersion)
	}
	for v := version; v < schemaVersion; v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrate tables to version %d: %w", v+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE tasktail_schema SET version = $1`, schemaVersion); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	return tx.Commit(ctx)
}
