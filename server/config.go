// Package server owns atoll's HTTP surface and the intake of events:
// receiving and verifying webhooks, deciding whether an event asks for
// work, and queueing it; and the wiring of what runs the work (runner,
// runner/queue) and where it is kept (locking, runner/plans). It turns a
// Config into a running server.
package server

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/tool"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/gitlab"
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
	// GitLab configures the GitLab forge; it is enabled when its Token or
	// WebhookSecret is set. Both forges may be enabled at once.
	GitLab gitlab.Config
	// Tool is the tofu or terraform binary that plans projects that ask
	// for no version.
	Tool tool.Tool
	// TFBinDir holds other releases, as TFBinDir/tofu/1.10.7/tofu; ""
	// for DataDir/bin.
	TFBinDir string
	// TFDownload fetches releases that a project asks for and TFBinDir
	// lacks, verified against their SHA256SUMS.
	TFDownload bool
	// TFDownloadURL is, per distribution, the base URL releases come
	// from; the publishers' sites when unset.
	TFDownloadURL map[workflows.Distribution]string
	// Env is the environment git and the tool inherit, once atoll's own
	// variables and secrets are removed from it.
	Env []string
	// Parallelism is how many jobs run at once; 1 when zero.
	Parallelism int
	// ClaimTTL is how long a job's task stays claimed by a replica that
	// stops renewing the claim: how soon another replica takes over the
	// work of one that died. 30 seconds when zero; else at least a
	// second.
	ClaimTTL time.Duration
	// PollInterval, when set, has the server ask each forge this often
	// what changed in the repositories RepoAllowlist names, as well as
	// taking webhooks: for a server the forge cannot reach.
	PollInterval time.Duration
	// InboxInterval, when set and GitHub is an App, has the server read
	// the App's log of webhook deliveries this often, and take those
	// that did not reach it (inbox.go).
	InboxInterval time.Duration
	// DriftInterval, when set, has the server check every repository in
	// the allowlist's scope for drift this often (drift.go).
	DriftInterval time.Duration
	// ShutdownTimeout is how long running jobs may go on once Run's
	// context ends; one minute when zero. Jobs still running then are
	// stopped, and their tasks stay queued.
	ShutdownTimeout time.Duration
	// Policy is what jobs may do and what they ask of pull requests; its
	// LockTTL, when set, is at least a second.
	runner.Policy
	// RedactEnv names environment variables (in Env) whose values are
	// hidden in every comment.
	RedactEnv []string
	// Redis, when its Addr is set, holds locks, the job queue and plans
	// for every replica that uses it; else they live under DataDir, for
	// this process alone.
	Redis RedisConfig
	// PlansDir, when set and Redis is not, keeps plans there with their
	// dependency lock files rather than under DataDir, for a later run
	// elsewhere to apply: a CI job's artifact.
	PlansDir string
	// Sandbox says whether steps run confined to their workspace; the
	// zero value is SandboxAuto.
	Sandbox SandboxMode
	// ToolUser, when set, is who steps run as, for a server that runs as
	// root; the tool and the data directory must be reachable to it.
	ToolUser *tool.User
	// ToolUserByDefault says ToolUser was not asked for: when it cannot
	// reach the tool or the data directory, steps run as atoll's own user,
	// with a warning saying why, rather than the server refusing to
	// start.
	ToolUserByDefault bool
	// SandboxReadPaths are directories confined steps may read and run
	// files from, besides the system's and the tool's: where a tool
	// wrapper keeps the binaries it runs, say.
	SandboxReadPaths []string
	// Web configures the web UI, which is off unless it says who may use
	// it.
	Web WebConfig
	// APISecret, when set, serves the JSON API under /api/ to requests
	// that carry it as a bearer token; no API when empty.
	APISecret string
	// JobRetention is how long a job's record and output are kept after
	// its last change; 14 days when zero.
	JobRetention time.Duration
	// TLSCertFile and TLSKeyFile, when set, are the PEM certificate
	// (chain) and key Run and Serve serve HTTPS with; else they serve
	// plain HTTP.
	TLSCertFile, TLSKeyFile string
	// Logger receives the server's logs; slog.Default() when nil.
	Logger *slog.Logger

	// oneShot is set by RunCI: no webhook comes in.
	oneShot bool
}

// WebConfig configures the web UI (/, /locks): it serves it once it
// knows who may use it, Username and Password (HTTP basic auth; serve it
// over TLS, through a proxy that terminates it), or Open. The zero value
// serves no UI.
type WebConfig struct {
	Username, Password string
	// Open serves the UI to whoever reaches it, unlock button included:
	// for a server only trusted people can reach.
	Open bool
}

// on reports whether the UI is served.
func (c WebConfig) on() bool { return c.Username != "" || c.Open }

// check refuses a Config that New cannot run.
func (c Config) check() error {
	switch {
	case c.DataDir == "":
		return fmt.Errorf("server: no data directory")
	case c.Tool.Path == "":
		return fmt.Errorf("server: no tofu or terraform binary")
	case c.PollInterval < 0:
		return fmt.Errorf("server: poll interval %v is negative", c.PollInterval)
	case c.InboxInterval < 0:
		return fmt.Errorf("server: inbox interval %v is negative", c.InboxInterval)
	case c.DriftInterval < 0:
		return fmt.Errorf("server: drift interval %v is negative", c.DriftInterval)
	case c.PlansDir != "" && !filepath.IsAbs(c.PlansDir):
		return fmt.Errorf("server: plans directory %q is not an absolute path", c.PlansDir)
	}
	switch {
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return fmt.Errorf("server: a TLS certificate needs its key, and a key its certificate")
	case c.Web.Open && c.Web.Username != "":
		return fmt.Errorf("server: the web UI is open to all and has a user: choose one")
	case c.Web.Username != "" && c.Web.Password == "", c.Web.Username == "" && c.Web.Password != "":
		return fmt.Errorf("server: the web UI needs a user name and a password, or neither")
	}
	if err := CheckSandboxReadPaths(c.SandboxReadPaths); err != nil {
		return fmt.Errorf("server: sandbox read paths: %w", err)
	}
	if c.Sandbox != "" {
		if _, err := ParseSandboxMode(string(c.Sandbox)); err != nil {
			return fmt.Errorf("server: sandbox mode %w", err)
		}
	}
	if c.ClaimTTL != 0 {
		if err := CheckClaimTTL(c.ClaimTTL); err != nil {
			return fmt.Errorf("server: claim TTL %w", err)
		}
	}
	if err := CheckLockTTL(c.LockTTL); err != nil {
		return fmt.Errorf("server: lock TTL %w", err)
	}
	return nil
}

// CheckSandboxReadPaths refuses paths that are not absolute: a confined
// step has its own working directory.
func CheckSandboxReadPaths(paths []string) error {
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("%q is not an absolute path", p)
		}
	}
	return nil
}

// CheckClaimTTL refuses a claim TTL under a second: the claim is renewed
// every eighth of it, and a tool stopped for a lost claim gets a quarter
// of it to exit.
func CheckClaimTTL(ttl time.Duration) error {
	if ttl < time.Second {
		return fmt.Errorf("%v: want at least 1s", ttl)
	}
	return nil
}

// CheckLockTTL refuses a lock TTL that is neither 0 (locks never lapse)
// nor at least a second: a kept lock is renewed every third of it.
func CheckLockTTL(ttl time.Duration) error {
	if ttl != 0 && ttl < time.Second {
		return fmt.Errorf("%v: want 0 (never) or at least 1s", ttl)
	}
	return nil
}

// checkToolUser refuses a tool user this server cannot run steps as: it
// is not root, or the user cannot reach the tool or the data directory.
func (c Config) checkToolUser() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("server: running steps as user %d needs atoll to run as root", c.ToolUser.UID)
	}
	for _, p := range []string{c.Tool.Path, filepath.Dir(c.DataDir)} {
		if err := tool.Reachable(*c.ToolUser, p); err != nil {
			return fmt.Errorf("server: the tool user: %w", err)
		}
	}
	return nil
}
