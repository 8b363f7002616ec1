// Package embed is tasktail inside a Go program, in one import: a Manager of task actors
// (the original ConnectionManager's five methods, publishing, viewers, the task list),
// kept in memory or in a journal you open and pass in. It is a facade over package
// actors, which holds the same names; the journal backends (journal/pebble,
// journal/postgres) and the cluster (package cluster) are imports of their own, so a
// program that does not use them does not link them. docs/library.md walks through it.
package embed

import (
	"context"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/conn"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"google.golang.org/protobuf/proto"
)

// The Manager and what it is made with and answers.
type (
	Manager    = actors.Manager
	Config     = actors.Config
	Options    = actors.Options
	Ack        = actors.Ack
	Resume     = actors.Resume
	Attachment = actors.Attachment
	Producer   = actors.Producer
	// Socket is a viewer's connection: Write a frame, Close with a WebSocket close code.
	Socket = conn.Socket
	// Status is a task's status; Level a message's level.
	Status = v1.Status
	Level  = v1.Level
)

// The errors a Manager's calls return (errors.Is); actors documents each.
var (
	ErrNotFound           = actors.ErrNotFound
	ErrTaskFinished       = actors.ErrTaskFinished
	ErrTimeout            = actors.ErrTimeout
	ErrShuttingDown       = actors.ErrShuttingDown
	ErrTooManyTasks       = actors.ErrTooManyTasks
	ErrTooManyViewers     = actors.ErrTooManyViewers
	ErrJournalUnavailable = actors.ErrJournalUnavailable
)

// KeepProgress as a message's progress leaves the task's as it is.
const KeepProgress = actors.KeepProgress

// New starts a Manager: cfg's zero fields take their defaults (DefaultConfig), and
// opts.Journal, when set, keeps every task durably (the Manager closes it on Shutdown).
func New(cfg Config, opts Options) (*Manager, error) { return actors.NewManager(cfg, opts) }

// DefaultConfig is the settings a Manager starts with unless told otherwise.
func DefaultConfig() Config { return actors.DefaultConfig() }

// Ask asks a task any operation of the operations table and returns its answer
// (actors.Ask).
func Ask[A proto.Message](ctx context.Context, m *Manager, req actors.TaskMessage) (A, error) {
	return actors.Ask[A](ctx, m, req)
}
