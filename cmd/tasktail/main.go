// Command tasktail streams the live logs and progress of background tasks to browsers and
// terminals over WebSocket.
//
//	tasktail serve [flags]    run the service (see tasktail serve --help)
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tasktail/tasktail/internal/cli"
)

// version is stamped by the Makefile with -ldflags.
var version = "dev"

const usage = `tasktail streams the live logs and progress of background tasks.

Usage:
  tasktail serve [flags]                         run the service
  tasktail send TASK [flags] MESSAGE...          publish a message (--stdin: one per input line)
  tasktail tail TASK [--since N] [-o json]       follow a task's log until it ends
  tasktail run TASK [flags] -- COMMAND ARGS...   run a command and publish its output
  tasktail status TASK [-o json]                 show a task's status
  tasktail ls [PREFIX] [--state S]               list tasks, the most recently active first
  tasktail delete TASK                           close a task's viewers and drop it
  tasktail restart TASK                          start a task again: new epoch, seq from 1
  tasktail logs TASK [-o json]                   print a task's whole retained log
  tasktail token TASK [--ttl 1h]                 mint a subscribe token
  tasktail version                               print the version

Every command takes --help. Client commands reach the server named by --server or
TASKTAIL_SERVER (default http://127.0.0.1:8080), with the credential in --key or
TASKTAIL_KEY (a publish key, or a subscribe token for tail, status, logs and ls).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// asksHelp reports whether a command's arguments ask for its help (-h, -help or --help
// before a "--": what follows is a wrapped command's).
func asksHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// run executes one subcommand and returns the process exit code: 0 success, 1 failure,
// 2 usage error, or the code an cli.ExitError carries.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if asksHelp(args[1:]) {
		stderr = stdout // help is what was asked for: it goes where | less reads it
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "send":
		err = send(ctx, args[1:], os.Stdin, stderr)
	case "tail":
		err = tail(ctx, args[1:], stdout, stderr)
	case "run":
		err = runCommand(ctx, args[1:], stdout, stderr)
	case "status":
		err = status(ctx, args[1:], stdout, stderr)
	case "ls":
		err = listTasks(ctx, args[1:], stdout, stderr)
	case "delete":
		err = deleteTask(ctx, args[1:], stderr)
	case "logs":
		err = printLog(ctx, args[1:], stdout, stderr)
	case "restart":
		err = restartTask(ctx, args[1:], stdout, stderr)
	case "token":
		err = mintToken(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "tasktail: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return cli.ExitCode(ctx, "tasktail "+args[0], err, stderr)
}
