package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/tasktail/tasktail/client"
)

// envName is the environment variable that sets a flag: TASKTAIL_ and the flag's name in
// upper case with dashes as underscores (--queue-limit → TASKTAIL_QUEUE_LIMIT).
func envName(flagName string) string {
	return "TASKTAIL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseWithEnv parses a command that takes flags only: the environment sets them, the
// command line overrides it, and any other argument is a usage error.
func parseWithEnv(fs *flag.FlagSet, args []string) error {
	positional, tail, err := parseCommand(fs, args)
	if err != nil {
		return err
	}
	if rest := append(positional, tail...); len(rest) > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))}
	}
	return nil
}

// applyEnv sets every flag of fs that has an environment variable set.
func applyEnv(fs *flag.FlagSet) error {
	var errs []string
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q: %v", envName(f.Name), v, err))
			}
		}
	})
	if len(errs) > 0 {
		return usageError{fmt.Errorf("%s", strings.Join(errs, "; "))}
	}
	return nil
}

// parseCommand parses a client command's arguments: flags may stand anywhere among the
// positional arguments, and everything after "--" is returned untouched as tail. The
// environment sets flags as for serve.
func parseCommand(fs *flag.FlagSet, args []string) (positional, tail []string, err error) {
	if err := applyEnv(fs); err != nil {
		return nil, nil, err
	}
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, nil, err
			}
			return nil, nil, usageError{err}
		}
		if fs.NArg() == 0 {
			return positional, tail, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// stringList is a comma-separated flag value.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = nil
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

// DefaultServer is where client commands look for the service.
const DefaultServer = "http://127.0.0.1:8080"

// remote is where a client command connects, and with what credential.
type remote struct {
	server string
	key    string
}

// clientCommand builds a client command's flag set with --server and --key.
func clientCommand(name, synopsis string, stderr io.Writer) (*flag.FlagSet, *remote) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	r := &remote{}
	fs.StringVar(&r.server, "server", DefaultServer, "tasktail server URL")
	fs.StringVar(&r.key, "key", "", "publish key or subscribe token, sent as Authorization: Bearer (prefer the environment variable)")
	withEnvUsage(fs, synopsis)
	return fs, r
}

// newClient connects a client command to --server with --key.
func newClient(r *remote) (*client.Client, error) {
	c, err := client.New(r.server, &client.Options{Token: r.key})
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// parseTaskCommand parses a command that takes exactly one TASK argument and returns it
// with a client of --server.
func parseTaskCommand(fs *flag.FlagSet, server *remote, args []string) (string, *client.Client, error) {
	positional, _, err := parseCommand(fs, args)
	if err != nil {
		return "", nil, err
	}
	taskID, err := taskArg(positional)
	if err != nil {
		return "", nil, err
	}
	c, err := newClient(server)
	return taskID, c, err
}

// taskArg takes the one TASK argument of a command that has no other positionals.
func taskArg(positional []string) (string, error) {
	if len(positional) != 1 {
		return "", usageError{fmt.Errorf("want exactly one TASK argument, got %d", len(positional))}
	}
	return positional[0], nil
}

// withEnvUsage prints each flag with its environment variable.
func withEnvUsage(fs *flag.FlagSet, synopsis string) {
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "%s\n\nFlags (each also set by the environment variable shown):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(out, "  --%s (%s)\n    \t%s", f.Name, envName(f.Name), f.Usage)
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
				fmt.Fprintf(out, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(out)
		})
	}
}
