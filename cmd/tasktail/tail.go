package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tasktail/tasktail/internal/cli"
	"github.com/tasktail/tasktail/internal/termtext"

	"github.com/tasktail/tasktail/client"
)

const tailSynopsis = `Usage: tasktail tail TASK [--since N] [-o json] [--wait] [--color auto|always|never]

Prints the task's messages as they come, with time, level and progress, reconnecting and
resuming by itself, until the task finishes or is deleted. On a terminal levels are
coloured and a progress bar follows the log. Escape sequences in messages are removed,
except, on a terminal (or with --color=always), those that colour text. Of a task nobody has published to yet it
says so on stderr after 2 s (a typo in TASK looks the same), unless --wait.

Exit status: 0 when the task finished with a non-error level, 1 when its final level was
error or critical (or the task was deleted), 2 on a usage or connection error.

Examples:
  tasktail tail import-42
  tasktail tail import-42 --since 120 -o json | jq .message`

// waitNoteAfter is how long tail waits for a task's first message before it says so.
const waitNoteAfter = 2 * time.Second

func tail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, server := cli.ClientCommand("tail", tailSynopsis, stderr)
	since := fs.Uint64("since", 0, "show only messages after this seq (0: everything the server retains)")
	output := fs.String("o", "text", "output: text, or json for the frames as JSON lines")
	quiet := fs.Bool("wait", false, "wait quietly for a task nobody has published to yet")
	colorMode := addColorFlag(fs)
	taskID, c, err := cli.ParseTaskCommand(fs, server, args)
	if err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return cli.UsageError{Err: fmt.Errorf("-o %q: want text or json", *output)}
	}
	colour, err := useColor(*colorMode, stdout)
	if err != nil {
		return err
	}
	stream, err := c.Tail(ctx, taskID, *since)
	if err != nil {
		return cli.ExitError{Code: 2, Err: err}
	}
	defer stream.Close()

	p := newPrinter(stdout, stderr, *output == "json", colour)
	type next struct {
		ev  client.Event
		err error
	}
	events := make(chan next, 1)
	go func() { // ends with the stream: Next fails once it is closed
		for {
			ev, err := stream.Next()
			events <- next{ev, err}
			if err != nil {
				return
			}
		}
	}()
	var last client.Event
	var waitNote <-chan time.Time
	for {
		var n next
		select {
		case n = <-events:
		case <-waitNote:
			p.note(fmt.Sprintf("waiting for the first message of %s: nobody has published to it yet (--wait hides this note)", taskID))
			waitNote = nil
			continue
		}
		ev, err := n.ev, n.err
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.finish()
			return cli.ExitError{Code: 2, Err: err}
		}
		if ev.Type == "hello" && stream.Reconnects() > 0 {
			p.note("reconnected")
		}
		if ev.Type == "hello" && ev.LastSeq == 0 && last.Seq == 0 && !*quiet {
			waitNote = time.After(waitNoteAfter)
		}
		p.event(ev)
		if ev.Type == "log" {
			last, waitNote = ev, nil
		}
		if len(events) == 0 {
			p.flush() // nothing else waits: show what came
		}
	}
	p.finish()
	if stream.EndReason() != "task finished" {
		return cli.ExitError{Code: 1, Err: errors.New(stream.EndReason())}
	}
	if last.Level == client.Error || last.Level == client.Critical {
		return cli.ExitError{Code: 1, Err: nil}
	}
	return nil
}

// printer writes events for a person (text, coloured with a progress bar on a terminal)
// or for a program (the frames as JSON lines).
type printer struct {
	out      *bufio.Writer // flushed once no event waits: a burst is one write
	notes    io.Writer
	json     bool
	terminal bool // the progress bar
	colour   bool // coloured levels, and the colours messages carry
	bar      bool // a progress bar is on screen
	progress float64
	lastSeq  uint64 // the last seq the latest hello announced
}

func newPrinter(out, notes io.Writer, json, colour bool) *printer {
	return &printer{out: bufio.NewWriterSize(out, 64<<10), notes: notes, json: json, terminal: !json && isTerminal(out), colour: !json && colour}
}

var levelColours = map[client.Level]string{
	client.Debug: "\x1b[90m", client.Info: "\x1b[36m", client.Success: "\x1b[32m",
	client.Warning: "\x1b[33m", client.Error: "\x1b[31m", client.Critical: "\x1b[1;31m",
}

func (p *printer) event(ev client.Event) {
	if p.json {
		fmt.Fprintf(p.out, "%s\n", ev.Raw)
		return
	}
	switch ev.Type {
	case "log":
		p.clearBar()
		// A section's start prints as its header; an end marker prints nothing (an
		// explicit end that has a message prints it).
		start, end, title := sectionMark(ev)
		if start {
			p.sectionHeader(ev, title)
		}
		if start || end && (ev.Section == "" || ev.Message == "") {
			p.progress = ev.Progress
			p.drawBar()
			return
		}
		level := fmt.Sprintf("%-8s", ev.Level)
		message := termtext.Clean(ev.Message, p.colour)
		if p.colour {
			level = levelColours[ev.Level] + level + "\x1b[0m"
			if strings.Contains(message, "\x1b[") {
				message += "\x1b[0m" // a colour the message left on ends with it
			}
		}
		fmt.Fprintf(p.out, "%s %s %3.0f%% %s\n", ev.Timestamp.Local().Format("15:04:05.000"), level, ev.Progress, message)
		p.progress = ev.Progress
		p.drawBar()
	case "hello":
		p.lastSeq = ev.LastSeq
	case "gap":
		p.clearBar()
		switch {
		case ev.Reason == "epoch" && ev.FromSeq > p.lastSeq+1:
			// Asked for what follows a seq the task never reached.
			fmt.Fprintf(p.out, "… the task has %d messages, none after %d: showing it from its start\n", p.lastSeq, ev.FromSeq-1)
		case ev.Reason == "epoch":
			fmt.Fprintln(p.out, "… the task restarted: messages of its earlier run are not shown")
		default:
			fmt.Fprintf(p.out, "… %d messages not shown (%s)\n", ev.ToSeq-ev.FromSeq+1, ev.Reason)
		}
		p.drawBar()
	}
}

// sectionHeader prints the line that opens a section in place of its marker.
func (p *printer) sectionHeader(ev client.Event, title string) {
	if p.colour {
		title = "\x1b[1m" + title + "\x1b[0m"
	}
	fmt.Fprintf(p.out, "%s ▶ %s\n", ev.Timestamp.Local().Format("15:04:05.000"), title)
}

// note tells the person something about the connection, on the notes stream.
func (p *printer) note(msg string) {
	p.clearBar()
	p.flush()
	fmt.Fprintf(p.notes, "tasktail: %s\n", msg)
	p.drawBar()
	p.flush()
}

// flush writes out what the printer holds.
func (p *printer) flush() { _ = p.out.Flush() } // a failed write means the reader left

const barWidth = 30

func (p *printer) drawBar() {
	if !p.terminal {
		return
	}
	filled := int(p.progress / 100 * barWidth)
	fmt.Fprintf(p.out, "[%s%s] %3.0f%%", strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), p.progress)
	p.bar = true
}

func (p *printer) clearBar() {
	if p.bar {
		fmt.Fprint(p.out, "\r\x1b[2K")
		p.bar = false
	}
}

// finish leaves the final progress bar on its own line.
func (p *printer) finish() {
	if p.bar {
		fmt.Fprintln(p.out)
		p.bar = false
	}
	p.flush()
}
