package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/tasktail/tasktail/client"
)

// EnvName is the environment variable that sets a flag: TASKTAIL_ and the flag's name in
// upper case with dashes as underscores (--queue-limit → TASKTAIL_QUEUE_LIMIT).
func EnvName(flagName string) string {
	return "TASKTAIL_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ParseWithEnv parses a command that takes flags only: the environment sets them, the
// command line overrides it, and any other argument is a usage error.
func ParseWithEnv(fs *flag.FlagSet, args []string) error {
	positional, tail, err := ParseCommand(fs, args)
	if err != nil {
		return err
	}
	if rest := append(positional, tail...); len(rest) > 0 {
		return UsageError{fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))}
	}
	return nil
}

// ApplyEnv sets every flag of fs that has an environment variable set. A one-letter
// flag (-o) has none: TASKTAIL_O would be a riddle.
func ApplyEnv(fs *flag.FlagSet) error {
	var errs []string
	fs.VisitAll(func(f *flag.Flag) {
		if len(f.Name) == 1 {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q: %v", EnvName(f.Name), v, err))
			}
		}
	})
	if len(errs) > 0 {
		return UsageError{fmt.Errorf("%s", strings.Join(errs, "; "))}
	}
	return nil
}

// ParseCommand parses a client command's arguments: flags may stand anywhere among the
// positional arguments, and everything after "--" is returned untouched as tail. The
// environment sets flags as for serve.
func ParseCommand(fs *flag.FlagSet, args []string) (positional, tail []string, err error) {
	if err := ApplyEnv(fs); err != nil {
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
			return nil, nil, UsageError{err}
		}
		if fs.NArg() == 0 {
			return positional, tail, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// StringList is a comma-separated flag value.
type StringList []string

func (l *StringList) String() string { return strings.Join(*l, ",") }

func (l *StringList) Set(v string) error {
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

// Remote is where a client command connects, and with what credential.
type Remote struct {
	Server string
	Key    string
}

// ClientCommand builds a client command's flag set with --server and --key.
func ClientCommand(name, synopsis string, stderr io.Writer) (*flag.FlagSet, *Remote) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	r := &Remote{}
	fs.StringVar(&r.Server, "server", DefaultServer, "tasktail server URL")
	fs.StringVar(&r.Key, "key", "", "publish key or subscribe token, sent as Authorization: Bearer (prefer the environment variable)")
	WithEnvUsage(fs, synopsis)
	return fs, r
}

// NewClient connects a client command to --server with --key.
func NewClient(r *Remote) (*client.Client, error) {
	c, err := client.New(r.Server, &client.Options{Token: r.Key})
	if err != nil {
		return nil, UsageError{err}
	}
	return c, nil
}

// ParseTaskCommand parses a command that takes exactly one TASK argument and returns it
// with a client of --server.
func ParseTaskCommand(fs *flag.FlagSet, server *Remote, args []string) (string, *client.Client, error) {
	positional, _, err := ParseCommand(fs, args)
	if err != nil {
		return "", nil, err
	}
	taskID, err := TaskArg(positional)
	if err != nil {
		return "", nil, err
	}
	c, err := NewClient(server)
	return taskID, c, err
}

// TaskArg takes the one TASK argument of a command that has no other positionals.
func TaskArg(positional []string) (string, error) {
	if len(positional) != 1 {
		return "", UsageError{fmt.Errorf("want exactly one TASK argument, got %d", len(positional))}
	}
	return positional[0], nil
}

// WithEnvUsage prints each flag with its environment variable.
func WithEnvUsage(fs *flag.FlagSet, synopsis string) {
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "%s\n\nFlags (each also set by the environment variable shown):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			if len(f.Name) == 1 {
				fmt.Fprintf(out, "  -%s\n    \t%s", f.Name, f.Usage)
			} else {
				fmt.Fprintf(out, "  --%s (%s)\n    \t%s", f.Name, EnvName(f.Name), f.Usage)
			}
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
				fmt.Fprintf(out, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(out)
		})
	}
}
