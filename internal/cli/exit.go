package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// UsageError is a mistake in the command line or the environment: exit code 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// ExitError ends a command with a given exit code; Err, if any, is printed.
type ExitError struct {
	Code int
	Err  error
}

func (e ExitError) Unwrap() error { return e.Err }

func (e ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

// ExitCode prints what a command's err says on stderr, prefixed with name, and returns the
// process exit code: 0 success (and --help), 1 failure, 2 usage error, or an ExitError's;
// 130, quietly, when the user interrupted it (ctx, the command's, was cancelled by
// SIGINT or SIGTERM).
func ExitCode(ctx context.Context, name string, err error, stderr io.Writer) int {
	var exit ExitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return 130
	case errors.As(err, &exit):
		if exit.Err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, exit.Err)
		}
		return exit.Code
	case errors.As(err, new(UsageError)):
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}
