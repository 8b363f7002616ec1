// Command tasktail-bench loads a tasktail server on loopback and measures it: delivered
// msg/s, end-to-end latency, lost and reordered messages, and the server's CPU and memory
// per message. It is the load generator of `make bench` and BENCHMARKS.md, kept out of the
// tasktail binary that users install.
//
//	tasktail-bench [flags]    (see tasktail-bench --help)
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tasktail/tasktail/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run loads the server and returns the process exit code: 0 success, 1 messages lost or
// reordered, 2 usage error or a failed run.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.ExitCode(ctx, "tasktail-bench", bench(ctx, args, stdout, stderr), stderr)
}
