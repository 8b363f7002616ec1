package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/tasktail/tasktail/internal/cli"
)

const statusSynopsis = `Usage: tasktail status TASK [-o json]

Shows whether anyone watches the task, what is queued, its last seq, progress and whether
it finished. Exits 1 when the task does not exist.

Example:
  tasktail status import-42`

func status(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, server := cli.ClientCommand("status", statusSynopsis, stderr)
	output := fs.String("o", "text", "output: text or json")
	taskID, c, err := cli.ParseTaskCommand(fs, server, args)
	if err != nil {
		return err
	}
	st, err := c.Status(ctx, taskID)
	if err != nil {
		return err
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "task\t%s\nepoch\t%s\nviewers\t%d\nqueued\t%d\nlast seq\t%d\nprogress\t%g%%\nfinished\t%v\n",
		st.TaskID, st.Epoch, st.Subscribers, st.Queued, st.LastSeq, st.Progress, st.Finished)
	return tw.Flush()
}
