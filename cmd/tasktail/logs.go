package main

import (
	"context"
	"fmt"
	"io"

	"github.com/tasktail/tasktail/internal/cli"
)

const logsSynopsis = `Usage: tasktail logs TASK [-o json]

Prints a task's whole retained log and exits: one line per message, "timestamp level
message", or with -o json the log frames as JSON lines. With the server's default journal
that is everything the task published, until its retention ends; tail follows a task
instead. An unknown task is an error (exit 1).

Example:
  tasktail logs nightly-report > nightly-report.log`

func printLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, server := cli.ClientCommand("logs", logsSynopsis, stderr)
	output := fs.String("o", "text", "output: text or json")
	taskID, c, err := cli.ParseTaskCommand(fs, server, args)
	if err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return cli.Usagef("-o %q: want text or json", *output)
	}
	body, err := c.Log(ctx, taskID, *output == "json")
	if err != nil {
		return err
	}
	defer body.Close()
	if _, err := io.Copy(stdout, body); err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	return nil
}
