package actors

import (
	"errors"
	"fmt"

	"github.com/tasktail/tasktail/wire"
)

var (
	// ErrNotFound is returned for a task that does not exist.
	ErrNotFound = errors.New("task not found")
	// ErrTaskFinished is returned when publishing to a task that has finished.
	ErrTaskFinished = errors.New("task finished")
	// ErrTaskFailed is returned when the task actor panicked while handling the request;
	// the request had no effect and the task keeps its state.
	ErrTaskFailed = errors.New("task failed to handle the request")
	// ErrTimeout is returned when a task actor did not answer within the request timeout.
	ErrTimeout = errors.New("task did not answer in time")
	// ErrShuttingDown is returned once the Manager has begun to shut down.
	ErrShuttingDown = errors.New("shutting down")
	// ErrTooManyTasks is returned when creating a task would pass Config.MaxTasks.
	ErrTooManyTasks = errors.New("too many live tasks")
	// ErrTooManyWaiting is returned when a viewer of a task nobody published to yet would
	// pass Config.MaxWaitingTasks.
	ErrTooManyWaiting = errors.New("too many tasks with viewers waiting for a first publish")
	// ErrTooManyViewers is returned when a task already has Config.MaxViewersPerTask sockets.
	ErrTooManyViewers = errors.New("too many viewers of this task")
	// ErrJournalUnavailable is returned when the journal could not store a publish, a
	// restart or a delete (disk full, database down): nothing of it was acknowledged or
	// shown, and a retry may succeed once the journal is back.
	ErrJournalUnavailable = errors.New("journal unavailable")
	// ErrOutcomeUnknown is returned when the journal's answer to a publish was lost (a
	// database connection that dropped after the commit was sent): it may or may not be
	// stored. A retry with the same idempotency key stores it once. It wraps
	// ErrJournalUnavailable.
	ErrOutcomeUnknown = fmt.Errorf("%w: the outcome is unknown; retry with the same Idempotency-Key", ErrJournalUnavailable)
	// ErrIdempotencyKeyReused is returned for a publish whose idempotency key the task
	// has stored with another body: nothing of it was stored.
	ErrIdempotencyKeyReused = errors.New("the idempotency key was used for another body")
	// ErrLogChanged is a log read (Manager.Log) whose task was restarted or deleted while it
	// read: what it handed out may mix incarnations, so it did not finish.
	ErrLogChanged = errors.New("the task was restarted or deleted during the read")
	// ErrTooLarge is wrapped by an InvalidError that breaks a size limit (wire.ErrTooLarge).
	ErrTooLarge = wire.ErrTooLarge
)

// InvalidError reports a field that breaks the contract's field rules (wire.InvalidError).
type InvalidError = wire.InvalidError

// TooLarge returns the error of a field that breaks a size limit.
func TooLarge(field, reason string) *InvalidError { return wire.TooLarge(field, reason) }

func tooLarge(field, format string, args ...any) *InvalidError {
	return wire.TooLarge(field, fmt.Sprintf(format, args...))
}

func invalid(field, format string, args ...any) *InvalidError {
	return wire.Invalidf(field, format, args...)
}
