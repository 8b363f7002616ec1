// Package backends opens a journal by its kind's name, as the server's --journal flag
// names it. A program that opens its journal itself links only the backend it uses.
package backends

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/pebble"
	"github.com/tasktail/tasktail/journal/postgres"
)

// Options say where the journal of each kind is.
type Options struct {
	Dir          string // pebble
	PostgresURL  string // postgres
	MaxTaskBytes int64
	Logger       *slog.Logger
	// AcceptLoss opens a pebble journal whose write-ahead log is damaged
	// (pebble.Options.AcceptLoss).
	AcceptLoss bool
	// SyncInterval is the pebble journal's (pebble.Options.SyncInterval; pebble.ParseSync).
	SyncInterval time.Duration
}

// Open opens the journal of kind; memory is none (nil).
func Open(kind string, o Options) (journal.Journal, error) {
	switch kind {
	case journal.KindMemory:
		return nil, nil
	case journal.KindPebble:
		return pebble.Open(o.Dir, pebble.Options{Logger: o.Logger, MaxTaskBytes: o.MaxTaskBytes, AcceptLoss: o.AcceptLoss, SyncInterval: o.SyncInterval})
	case journal.KindPostgres:
		if o.PostgresURL == "" {
			return nil, errors.New("the postgres journal needs a database URL (--postgres-url)")
		}
		return postgres.Open(o.PostgresURL, postgres.Options{MaxTaskBytes: o.MaxTaskBytes})
	}
	return nil, fmt.Errorf("journal %q: want %s, %s or %s", kind, journal.KindPebble, journal.KindPostgres, journal.KindMemory)
}
