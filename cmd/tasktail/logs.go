package main

import (
	"context"
	"fmt"
	"io"

	"github.com/tasktail/tasktail/internal/cli"
)

const logsSynopsis = `Usage: tasktail logs TASK [-o json] [--color auto|always|never]

Prints a task's whole retained log and exits: one line per message, "timestamp level
message", or with -o json the log frames as JSON lines. With the server's default journal
that is everything the task published, until its retention ends; tail follows a task
instead. An unknown task is an error (exit 1). Escape sequences in messages are removed,
except, on a terminal (or with --color=always), those that colour text.

Example:
  tasktail logs nightly-report > nightly-report.log`

func printLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, server := cli.ClientCommand("logs", logsSynopsis, stderr)
	output := fs.String("o", "text", "output: text or json")
	colorMode := addColorFlag(fs)
	taskID, c, err := cli.ParseTaskCommand(fs, server, args)
	if err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return cli.Usagef("-o %q: want text or json", *output)
	}
	colour, err := useColor(*colorMode, stdout)
	if err != nil {
		return err
	}
	body, err := c.Log(ctx, taskID, *output == "json")
	if err != nil {
		return err
	}
	defer body.Close()
	copyLog := func() error { return copyClean(stdout, body, colour) }
	if *output == "json" { // JSON escapes every control character
		copyLog = func() error { _, err := io.Copy(stdout, body); return err }
	}
	if err := copyLog(); err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	return nil
}
