// Package server owns atoll's HTTP surface and what happens to an event:
// receiving and verifying webhooks, parsing comment commands, deciding
// which operation a pull request gets, running it through the job queue,
// and reporting the result back to the forge.
package server

import (
	"fmt"
	"log/slog"
	"path"
	"strings"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs/github"
)

// Config is everything the server needs to run. Only RepoAllowlist and
// Tool have no usable zero value.
type Config struct {
	// Addr is the address to listen on, ":4141" when empty.
	Addr string
	// DataDir holds the lock store, workspaces and plan files.
	DataDir string
	// RepoAllowlist says which repositories atoll acts for.
	RepoAllowlist Allowlist
	// GitHub configures the GitHub forge; it is enabled when its Token or
	// WebhookSecret is set.
	GitHub github.Config
	// Tool is the tofu or terraform binary that plans.
	Tool runner.Tool
	// Parallelism is how many jobs run at once; 1 when zero.
	Parallelism int
	// Logger receives the server's logs; slog.Default() when nil.
	Logger *slog.Logger
}

// Allowlist matches repository full names ("owner/name") against globs.
type Allowlist struct {
	globs []string
}

// ParseAllowlist parses a comma-separated list of globs as path.Match reads
// them ("owner/*", "owner/infra-*"); "*" alone allows every repository.
func ParseAllowlist(s string) (Allowlist, error) {
	var a Allowlist
	for _, g := range strings.Split(s, ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		if _, err := path.Match(g, ""); err != nil {
			return Allowlist{}, fmt.Errorf("repo allowlist: bad glob %q: %w", g, err)
		}
		a.globs = append(a.globs, g)
	}
	if len(a.globs) == 0 {
		return Allowlist{}, fmt.Errorf("repo allowlist is empty")
	}
	return a, nil
}

// Allows reports whether the repository fullName matches a glob.
func (a Allowlist) Allows(fullName string) bool {
	for _, g := range a.globs {
		if g == "*" {
			return true
		}
		if ok, _ := path.Match(strings.ToLower(g), strings.ToLower(fullName)); ok {
			return true
		}
	}
	return false
}
