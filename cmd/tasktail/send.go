package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tasktail/tasktail/internal/cli"
	"github.com/tasktail/tasktail/wire"

	"github.com/tasktail/tasktail/client"
)

const sendSynopsis = `Usage: tasktail send TASK [--level L] [--progress P] [--finished] MESSAGE...
       tasktail send TASK --stdin [--level L] [--progress P] [--finished] < FILE

Publishes one message (the MESSAGE words joined by spaces), or with --stdin one message per
input line as it arrives. With --finished the message, or the last input line, ends the
task (a line that had to go before input ended is followed by "(end of input)").

Examples:
  tasktail send import-42 --progress 40 rows 1000-2000 imported
  tasktail send import-42 --level success --progress 100 --finished done
  ./import.sh 2>&1 | tasktail send import-42 --stdin`

func send(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) error {
	fs, server := cli.ClientCommand("send", sendSynopsis, stderr)
	level := fs.String("level", "info", "level: debug, info, success, warning, error or critical")
	progress := client.KeepProgress
	fs.Func("progress", "progress, 0-100 (without it the task's progress stays as it is)", func(v string) error {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || !(p >= 0 && p <= 100) {
			return fmt.Errorf("want a number from 0 to 100")
		}
		progress = p
		return nil
	})
	finished := fs.Bool("finished", false, "end the task with this message (with --stdin: the last line)")
	fromStdin := fs.Bool("stdin", false, "publish each line of standard input")
	lineOpts := addLineFlags(fs)
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
	if err := lineOpts.validate(); err != nil {
		return err
	}
	template := client.Log{Level: client.Level(*level), Progress: progress}
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
	if wire.LevelNamed(*level) == 0 { // before any input is read: a bad level would lose every line
		return cli.Usagef("--level %q: want one of %s", *level, wire.LevelList)
	}
	return sendLines(ctx, c, taskID, stdin, template, *finished, lineOpts)
}

// holdLast is how long send --stdin --finished holds the latest line back, in case input
// ends right after it and the line should carry finished. A line is published within it.
const holdLast = 200 * time.Millisecond

// sendLines publishes every line of r as it arrives. With finished, the latest line is
// held back for at most holdLast: if input ends meanwhile, that line finishes the task;
// if the line had to go first, a last message "(end of input)" does.
func sendLines(ctx context.Context, c *client.Client, taskID string, r io.Reader, template client.Log, finished bool, o *lineOptions) error {
	lines := make(chan client.Log, maxLinesPerBatch)
	var failed error
	done := make(chan struct{})
	go func() {
		defer close(done)
		publishLines(ctx, c, taskID, lines, func(_ int, err error) {
			if failed == nil {
				failed = err
			}
		})
	}()
	in := make(chan string)
	var readErr error
	go func() { // ends at the end of input, which the loop below waits for
		defer close(in)
		readErr = readLines(r, func(line string, cut int) {
			for _, m := range o.messages(line, cut) {
				in <- m
			}
		})
	}()
	var held *client.Log
	sent := 0
	hold := time.NewTimer(holdLast)
	hold.Stop()
	for reading := true; reading; {
		select {
		case text, ok := <-in:
			if !ok {
				reading = false
				break
			}
			if held != nil {
				lines <- *held
				sent++
			}
			l := template
			l.Message = text
			held = &l
			if !finished {
				lines <- l
				held, sent = nil, sent+1
			} else {
				hold.Reset(holdLast)
			}
		case <-hold.C:
			if held != nil {
				lines <- *held
				held, sent = nil, sent+1
			}
		}
	}
	hold.Stop()
	switch {
	case !finished:
	case held != nil:
		held.Finished = true
		lines <- *held
	case sent > 0:
		end := template
		end.Message, end.Finished = "(end of input)", true
		lines <- end
	}
	close(lines)
	<-done
	if readErr != nil {
		return fmt.Errorf("read input: %w", readErr)
	}
	if finished && held == nil && sent == 0 {
		return cli.UsageError{Err: fmt.Errorf("no input line to finish the task with")}
	}
	return failed
}
