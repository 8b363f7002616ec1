package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tasktail/tasktail/client"
	"github.com/tasktail/tasktail/internal/cli"
)

const lsSynopsis = `Usage: tasktail ls [PREFIX] [--state running|finished|failed] [--limit N] [-o json]

Lists the tasks the server holds, the most recently active first: state, progress,
messages, viewers and when each was last active. PREFIX keeps the task_ids that start
with it. A subscribe token lists only a prefix its sub covers ("import-*" lists
"import-").

Examples:
  tasktail ls
  tasktail ls import- --state failed
  tasktail ls --limit 500 -o json | jq -r '.task_id'`

func listTasks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, server := cli.ClientCommand("ls", lsSynopsis, stderr)
	state := fs.String("state", "", "only tasks in this state: running, finished or failed")
	limit := fs.Int("limit", 100, "most tasks shown")
	output := fs.String("o", "text", "output: text, or json for one task per line")
	positional, _, err := cli.ParseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 1 {
		return cli.UsageError{Err: fmt.Errorf("want at most one PREFIX, got %d arguments", len(positional))}
	}
	if *limit < 1 {
		return cli.UsageError{Err: fmt.Errorf("--limit %d: want at least 1", *limit)}
	}
	if *output != "text" && *output != "json" {
		return cli.UsageError{Err: fmt.Errorf("-o %q: want text or json", *output)}
	}
	c, err := cli.NewClient(server)
	if err != nil {
		return err
	}
	o := client.ListOptions{State: *state, Limit: min(*limit, 500)}
	if len(positional) == 1 {
		o.Prefix = positional[0]
	}
	var tasks []client.TaskSummary
	for len(tasks) < *limit {
		page, err := c.List(ctx, o)
		if err != nil {
			return err
		}
		tasks = append(tasks, page.Tasks...)
		if o.Cursor = page.NextCursor; o.Cursor == "" {
			break
		}
	}
	tasks = tasks[:min(len(tasks), *limit)]
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		for _, t := range tasks {
			if err := enc.Encode(t); err != nil {
				return err
			}
		}
		return nil
	}
	if len(tasks) == 0 {
		fmt.Fprintln(stderr, "no tasks")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tSTATE\tPROGRESS\tMESSAGES\tVIEWERS\tLAST ACTIVE")
	now := time.Now()
	for _, t := range tasks {
		fmt.Fprintf(tw, "%s\t%s\t%.0f%%\t%d\t%d\t%s ago\n", t.TaskID, t.State, t.Progress, t.LastSeq, t.Subscribers,
			now.Sub(t.LastActive).Round(time.Second))
	}
	return tw.Flush()
}
