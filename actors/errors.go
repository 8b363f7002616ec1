package actors

import (
	"errors"
	"fmt"
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
	// ErrTooManyViewers is returned when a task already has Config.MaxViewersPerTask sockets.
	ErrTooManyViewers = errors.New("too many viewers of this task")
)

// InvalidError reports a field that breaks the contract's field rules.
type InvalidError struct {
	Field  string // JSON name of the field, e.g. "level" or "[3].progress"
	Reason string
	// TooLarge marks a size rule (the HTTP API answers 413 instead of 400).
	TooLarge bool
}

func (e *InvalidError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

func invalid(field, format string, args ...any) *InvalidError {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
