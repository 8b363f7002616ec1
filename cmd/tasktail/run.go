package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/tasktail/tasktail/internal/cli"
	"github.com/tasktail/tasktail/wire"

	"github.com/tasktail/tasktail/client"
)

const runSynopsis = `Usage: tasktail run TASK [--stderr-level L] [--pty] [--restart] -- COMMAND ARGS...

Runs COMMAND, passing its output through, and publishes each line it prints: standard
output as info on stream stdout, standard error as --stderr-level on stream stderr, in
the order tasktail reads them. A line rewritten with a carriage return (a progress bar)
is one message that updates: its first state, then at most about three a second, then its
final state, each matched by --progress-pattern. When the command exits, publishes a
final finished message (success, or error with the exit code) and exits with the
command's code. If the server cannot be reached the command still runs; tasktail says so
once, gives up publishing --flush-timeout after the command ends, and says what was not
delivered.

The kernel keeps no order between two pipes: writes to stdout and stderr closer together
than tasktail can read them, and output a program holds in its own buffer (Python's
stdout on a pipe), may arrive in another order. With --pty the command runs on a
terminal: one stream in exactly the order written, line-buffered, with the colours and
progress bars programs draw only on a terminal, and no stream names.

A task that has finished takes no more messages: run refuses it before starting the
command (exit 2), unless --restart starts the task again (a new run under the same id;
its viewers see the new run).

Example:
  tasktail run nightly-report --restart -- python build_report.py --month 2026-11`

// prepareTimeout bounds what run asks the server before it starts the command.
const prepareTimeout = 10 * time.Second

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, server := cli.ClientCommand("run", runSynopsis, stderr)
	stderrLevel := fs.String("stderr-level", "warning", "level of standard error lines: "+wire.LevelList)
	restart := fs.Bool("restart", false, "start the task again first if it exists (a finished task takes no messages otherwise)")
	lineOpts := addLineFlags(fs)
	progressPattern := fs.String("progress-pattern", "", "a regular expression whose first group (or whole match) in an output line is the task's progress, 0-100, e.g. '(\\d+)%'")
	onTerminal := fs.Bool("pty", false, "run the command on a terminal: stdout and stderr as one stream, in exactly the order written")
	flushTimeout := fs.Duration("flush-timeout", 2*time.Second, "how long to go on publishing after the command ends (the lines still waiting, then the final message); what is not delivered by then is reported on stderr")
	positional, command, err := cli.ParseCommand(fs, args)
	if err != nil {
		return err
	}
	taskID, err := cli.TaskArg(positional)
	if err != nil {
		return err
	}
	if len(command) == 0 {
		return cli.UsageError{Err: fmt.Errorf("want -- COMMAND ARGS...")}
	}
	if wire.LevelNamed(*stderrLevel) == 0 {
		return cli.Usagef("--stderr-level %q: want one of %s", *stderrLevel, wire.LevelList)
	}
	if err := lineOpts.validate(); err != nil {
		return err
	}
	if *progressPattern != "" {
		re, err := regexp.Compile(*progressPattern)
		if err != nil {
			return cli.Usagef("--progress-pattern: %v", err)
		}
		lineOpts.progress = re
	}
	c, err := cli.NewClient(server)
	if err != nil {
		return err
	}
	if err := prepareTask(ctx, c, taskID, *restart); err != nil {
		return err
	}

	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Stdin = os.Stdin
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var out *commandOutput
	if *onTerminal {
		out, err = terminalOutput(cmd, stdout)
	} else {
		out, err = pipeOutput(cmd, stdout, stderr, client.Level(*stderrLevel))
	}
	if err != nil {
		return err
	}
	defer out.close()

	var warnOnce sync.Once
	warn := func(err error) {
		warnOnce.Do(func() {
			fmt.Fprintf(stderr, "tasktail: publishing to %s failed (the command goes on): %v\n", server.Server, err)
		})
	}
	lines := make(chan client.Log, maxLinesPerBatch)
	published := make(chan struct{})
	pubCtx, stopPublishing := context.WithCancel(ctx)
	defer stopPublishing()
	lost := 0 // lines not delivered; read once published is closed
	go func() {
		defer close(published)
		publishLines(pubCtx, c, taskID, lines, func(n int, err error) { lost += n; warn(err) })
	}()
	// After the command ends, what is left to publish has flushTimeout, then is reported.
	var flushBy time.Time
	flush := func() {
		flushBy = time.Now().Add(*flushTimeout)
		defer time.AfterFunc(*flushTimeout, stopPublishing).Stop()
		close(lines)
		<-published
	}

	code, final := 0, client.Log{Level: client.Success, Message: "command succeeded", Progress: 100, Finished: true}
	if err := cmd.Start(); err != nil {
		flush()
		code = 126 // as a shell: found but not runnable
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, iofs.ErrNotExist) {
			code = 127
		}
		final = client.Log{Level: client.Error, Message: fmt.Sprintf("command failed to start: %v", err), Progress: client.KeepProgress, Finished: true}
		fmt.Fprintf(stderr, "tasktail run: %v\n", err)
	} else {
		out.started()
		out.publish(&outputLines{opts: lineOpts, now: time.Now, emit: func(l client.Log) { lines <- l }})
		waitErr := cmd.Wait()
		flush()
		code, final = exitOutcome(waitErr)
	}

	finalCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), flushBy)
	defer cancel()
	_, finalErr := c.Publish(finalCtx, taskID, final)
	if finalErr != nil {
		warn(finalErr)
	}
	if lost > 0 || finalErr != nil {
		what := "the final message"
		if lost > 0 {
			what = fmt.Sprintf("%d lines", lost)
			if finalErr != nil {
				what += " and the final message"
			}
		}
		fmt.Fprintf(stderr, "tasktail: %s were not delivered to %s (--flush-timeout %v after the command ended)\n", what, server.Server, *flushTimeout)
	}
	return cli.ExitError{Code: code, Err: nil}
}

// exitOutcome turns the command's end into an exit code and the task's final message.
func exitOutcome(waitErr error) (int, client.Log) {
	var exit *exec.ExitError
	switch {
	case waitErr == nil:
		return 0, client.Log{Level: client.Success, Message: "command succeeded", Progress: 100, Finished: true}
	case errors.As(waitErr, &exit) && exit.ExitCode() >= 0:
		code := exit.ExitCode()
		return code, client.Log{Level: client.Error, Message: fmt.Sprintf("command exited with code %d", code), Progress: client.KeepProgress, Finished: true}
	case errors.As(waitErr, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), client.Log{Level: client.Error, Message: fmt.Sprintf("command killed by signal: %v", ws.Signal()), Progress: client.KeepProgress, Finished: true}
		}
	}
	return 1, client.Log{Level: client.Error, Message: fmt.Sprintf("command failed: %v", waitErr), Finished: true}
}

// prepareTask makes sure the command's lines will be taken before the command starts: it
// starts the task again with restart, and otherwise refuses a task that has finished. A
// server it cannot ask is no reason to hold the command back: publishing warns later.
func prepareTask(ctx context.Context, c *client.Client, taskID string, restart bool) error {
	ctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	if restart {
		if _, err := c.Restart(ctx, taskID); err != nil && !errors.Is(err, client.ErrNotFound) {
			var api *client.APIError
			if errors.As(err, &api) {
				return err // refused (auth, say): the run would not be published either
			}
		}
		return nil
	}
	st, err := c.Status(ctx, taskID)
	if err == nil && st.Finished {
		return cli.Usagef("task %s has finished and takes no more messages: add --restart to run it again under the same id", taskID)
	}
	return nil
}
