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
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/workflows"
)

// Config is everything the server needs to run. DataDir and Tool are
// required; the other fields have usable zero values.
type Config struct {
	// Addr is the address to listen on, ":4141" when empty.
	Addr string
	// DataDir holds the lock store, workspaces and plan files.
	DataDir string
	// RepoAllowlist says which repositories atoll acts for; the zero
	// value allows none.
	RepoAllowlist Allowlist
	// GitHub configures the GitHub forge; it is enabled when its Token or
	// WebhookSecret is set.
	GitHub github.Config
	// Tool is the tofu or terraform binary that plans projects that ask
	// for no version.
	Tool runner.Tool
	// TFBinDir holds other releases, as TFBinDir/tofu/1.10.7/tofu; ""
	// for DataDir/bin.
	TFBinDir string
	// TFDownload fetches releases that a project asks for and TFBinDir
	// lacks, verified against their SHA256SUMS.
	TFDownload bool
	// TFDownloadURL is, per distribution, the base URL releases come
	// from; the publishers' sites when unset.
	TFDownloadURL map[string]string
	// Env is the environment git and the tool inherit, once atoll's own
	// variables and secrets are removed from it.
	Env []string
	// Parallelism is how many jobs run at once; 1 when zero.
	Parallelism int
	// JobTimeout bounds one job, tool runs included; one hour when zero.
	JobTimeout time.Duration
	// LockTTL, when set, lets a project lock lapse that long after its
	// pull request's last plan or apply of the project, so that a pull
	// request abandoned without a close event does not hold it forever.
	// Zero keeps locks until the pull request is closed or merged; else
	// at least a second.
	LockTTL time.Duration
	// ClaimTTL is how long a job's task stays claimed by a replica that
	// stops renewing the claim: how soon another replica takes over the
	// work of one that died. 30 seconds when zero; else at least a
	// second.
	ClaimTTL time.Duration
	// ShutdownTimeout is how long running jobs may go on once Run's
	// context ends; one minute when zero. Jobs still running then are
	// stopped, and their tasks stay queued.
	ShutdownTimeout time.Duration

	// ApplyRequirements must hold before an apply runs, unless the server
	// config (RepoConfig) sets others for a repository.
	ApplyRequirements Requirements
	// RepoConfig is the server-side repo config: what each repository gets
	// and may set in its own config. The zero value allows no overrides
	// and no custom workflows.
	RepoConfig workflows.ServerConfig
	// AllowedCommenters are the users and teams ("org/team") who may run
	// commands; when empty, everyone with write access to the repository.
	AllowedCommenters []string
	// AllowForkPRs lets atoll plan pull requests whose head lives in a
	// fork: their code then runs with the server's credentials.
	AllowForkPRs bool
	// AllowedExtraArgs are prefixes of the tool arguments a comment may add
	// after "--" (as "-target="); none when empty.
	AllowedExtraArgs []string
	// Automerge merges a pull request once all its plans are applied,
	// unless the repository config's automerge says otherwise.
	Automerge bool
	// HidePrevPlanComments collapses a pull request's earlier plan comments
	// when a new plan is commented, where the forge can.
	HidePrevPlanComments bool
	// RedactEnv names environment variables (in Env) whose values are
	// hidden in every comment.
	RedactEnv []string
	// Redis, when its Addr is set, holds locks and leases for every
	// replica that uses it; else they live in a bbolt file in DataDir, for
	// this process alone.
	Redis RedisConfig
	// Logger receives the server's logs; slog.Default() when nil.
	Logger *slog.Logger
}

// Requirements are the conditions a pull request must meet to be applied.
type Requirements struct {
	// Approved: an approving review by someone other than the author, and
	// no reviewer's latest review requesting changes.
	Approved bool
	// Mergeable: the forge says it could merge the pull request.
	Mergeable bool
	// Undiverged: the head contains the base branch's tip.
	Undiverged bool
}

// ParseRequirements reads a comma-separated list of "approved",
// "mergeable" and "undiverged"; "" or "none" requires nothing.
func ParseRequirements(s string) (Requirements, error) {
	var r Requirements
	for _, name := range strings.Split(s, ",") {
		switch strings.TrimSpace(name) {
		case "", "none":
		case "approved":
			r.Approved = true
		case "mergeable":
			r.Mergeable = true
		case "undiverged":
			r.Undiverged = true
		default:
			return Requirements{}, fmt.Errorf("unknown apply requirement %q (want approved, mergeable, undiverged)", strings.TrimSpace(name))
		}
	}
	return r, nil
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
