package main

import (
	"context"
	"fmt"
	"io"

	"github.com/tasktail/tasktail/internal/cli"
)

const restartSynopsis = `Usage: tasktail restart TASK

Starts a new incarnation of an existing task: a new epoch, seq from 1, and an empty queue
and history. A finished task takes publishes again. Viewers stay connected: they are told
the earlier run is over and then see the new one. Prints the new epoch. An unknown task
is an error (exit 1).

Example:
  tasktail restart nightly-report`

func restartTask(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, server := cli.ClientCommand("restart", restartSynopsis, stderr)
	taskID, c, err := cli.ParseTaskCommand(fs, server, args)
	if err != nil {
		return err
	}
	epoch, err := c.Restart(ctx, taskID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s restarted: epoch %s\n", taskID, epoch)
	return nil
}
