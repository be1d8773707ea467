package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/atoll-iac/atoll/server"
)

// drift runs `atoll drift`: one pass of drift checks over the
// repositories in --repo-allowlist's scope, with the server's flags, for
// a cron job or a CI schedule. It exits 2 when something drifted (or for
// a bad flag), else 1 when a repository or a project could not be
// checked, else 0.
func drift(ctx context.Context, args, environ []string, getenv func(string) (string, bool), stdout, stderr io.Writer) int {
	cfg, err := readServerFlags(args, getenv, stdout, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "atoll drift: %v\n", err)
		return 2
	}
	cfg.Env = environ
	pass, err := server.RunDrift(ctx, cfg, stdout)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "atoll drift: %v\n", err)
		return 1
	case pass.Drifted():
		return 2
	case len(pass.Failed) > 0 || pass.Unknown():
		return 1
	}
	return 0
}
