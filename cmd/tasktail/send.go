package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/tasktail/tasktail/internal/cli"

	"github.com/tasktail/tasktail/client"
)

const sendSynopsis = `Usage: tasktail send TASK [--level L] [--progress P] [--finished] MESSAGE...
       tasktail send TASK --stdin [--level L] [--progress P] [--finished] < FILE

Publishes one message (the MESSAGE words joined by spaces), or with --stdin one message per
input line, in batches. With --finished the message, or the last input line, ends the task.

Examples:
  tasktail send import-42 --progress 40 rows 1000-2000 imported
  tasktail send import-42 --level success --progress 100 --finished done
  ./import.sh 2>&1 | tasktail send import-42 --stdin`

func send(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) error {
	fs, server := cli.ClientCommand("send", sendSynopsis, stderr)
	level := fs.String("level", "info", "level: debug, info, success, warning, error or critical")
	progress := fs.Float64("progress", 0, "progress, 0-100")
	finished := fs.Bool("finished", false, "end the task with this message (with --stdin: the last line)")
	fromStdin := fs.Bool("stdin", false, "publish each line of standard input")
	positional, rest, err := cli.ParseCommand(fs, args)
	if err != nil {
		return err
	}
	positional = append(positional, rest...)
	if len(positional) == 0 {
		return cli.UsageError{Err: fmt.Errorf("want a TASK argument")}
	}
	taskID, words := positional[0], positional[1:]
	c, err := cli.NewClient(server)
	if err != nil {
		return err
	}
	template := client.Log{Level: client.Level(*level), Progress: *progress}
	if !*fromStdin {
		if len(words) == 0 {
			return cli.UsageError{Err: fmt.Errorf("want a MESSAGE, or --stdin")}
		}
		template.Message, template.Finished = strings.Join(words, " "), *finished
		_, err := c.Publish(ctx, taskID, template)
		return err
	}
	if len(words) > 0 {
		return cli.UsageError{Err: fmt.Errorf("--stdin takes no MESSAGE")}
	}
	return sendLines(ctx, c, taskID, stdin, template, *finished)
}

// sendLines publishes every line of r. The latest line is held back until the next one
// arrives, so that at the end of input it can carry finished.
func sendLines(ctx context.Context, c *client.Client, taskID string, r io.Reader, template client.Log, finished bool) error {
	lines := make(chan client.Log, maxLinesPerBatch)
	var failed error
	done := make(chan struct{})
	go func() {
		defer close(done)
		publishLines(ctx, c, taskID, lines, func(err error) {
			if failed == nil {
				failed = err
			}
		})
	}()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var held *client.Log
	for sc.Scan() {
		if held != nil {
			lines <- *held
		}
		l := template
		l.Message = sc.Text()
		held = &l
	}
	if held != nil {
		held.Finished = finished
		lines <- *held
	}
	close(lines)
	<-done
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	if held == nil && finished {
		return cli.UsageError{Err: fmt.Errorf("no input line to finish the task with")}
	}
	return failed
}
