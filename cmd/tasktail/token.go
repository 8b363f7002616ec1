package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/tasktail/tasktail/internal/cli"

	"github.com/tasktail/tasktail/server"
	"github.com/tasktail/tasktail/token"
)

const tokenSynopsis = `Usage: tasktail token TASK [--ttl 1h]

Mints a subscribe token that lets a viewer watch TASK (or every task matching a prefix
pattern such as "import-*") until it expires. It is signed with the server's
--token-secret, here read from TASKTAIL_TOKEN_SECRET or --token-secret.

Example:
  TASKTAIL_TOKEN_SECRET=... tasktail token import-42 --ttl 30m`

func mintToken(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ttl := fs.Duration("ttl", time.Hour, "how long the token works (a server refuses longer than its --max-token-ttl, 24h by default)")
	secret := fs.String("token-secret", "", "the server's token secret (prefer the environment variable)")
	cli.WithEnvUsage(fs, tokenSynopsis)
	positional, _, err := cli.ParseCommand(fs, args)
	if err != nil {
		return err
	}
	sub, err := cli.TaskArg(positional)
	if err != nil {
		return err
	}
	if *ttl <= 0 {
		return cli.UsageError{Err: fmt.Errorf("--ttl %v: must be positive", *ttl)}
	}
	switch n := len(*secret); {
	case n == 0:
		return cli.Usagef("no secret: set TASKTAIL_TOKEN_SECRET (or --token-secret) to the server's --token-secret")
	case n < token.MinSecretBytes:
		return cli.Usagef("TASKTAIL_TOKEN_SECRET has %d bytes; a token secret has at least %d, as the server's must", n, token.MinSecretBytes)
	}
	tok, err := token.Mint([]byte(*secret), sub, *ttl, time.Now())
	if err != nil {
		return cli.UsageError{Err: err}
	}
	if def := server.DefaultConfig().MaxTokenTTL; *ttl > def {
		fmt.Fprintf(stderr, "tasktail token: a token of %v works only with a server whose --max-token-ttl is at least that (the default is %v)\n", *ttl, def)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
