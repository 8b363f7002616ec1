package main

import (
	"context"
	"io"

	"github.com/tasktail/tasktail/internal/cli"
)

const deleteSynopsis = `Usage: tasktail delete TASK

Closes the task's viewers with 1000 "task deleted" and drops its queue, history and state.
A later publish starts the task afresh (a new epoch, seq 1). Deleting an unknown task is
not an error.

Example:
  tasktail delete import-42`

func deleteTask(ctx context.Context, args []string, stderr io.Writer) error {
	fs, server := cli.ClientCommand("delete", deleteSynopsis, stderr)
	taskID, c, err := cli.ParseTaskCommand(fs, server, args)
	if err != nil {
		return err
	}
	return c.Delete(ctx, taskID)
}
