package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/atoll-iac/atoll/server"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/gitlab"
)

// ci runs one pass of atoll in a CI job: in GitHub Actions, what the
// job's event asks for; in a GitLab merge request pipeline, sub ("plan",
// the default, or "apply"). It returns the exit code: 0 when all asked
// for succeeded, 1 when something failed or was refused, 2 for a usage
// error.
func ci(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	getenv := lookup(environ)
	env := func(k string) string { v, _ := getenv(k); return v }
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	cfg, work, cleanup, err := ciConfig(sub, args, getenv, env, stdout, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "atoll ci: %v\n", err)
		return 2
	}
	defer cleanup()
	cfg.Env = environ
	failed, err := server.RunCI(ctx, cfg, work, stdout)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "atoll ci: %v\n", err)
		return 1
	case failed:
		return 1
	}
	return 0
}

// ciConfig reads the flags, filling in from the CI's own variables what
// they leave unset, and the work the job asks for. cleanup removes the
// data directory made for the run. The Config's Logger writes to logs.
func ciConfig(sub string, args []string, getenv func(string) (string, bool), env func(string) string, stdout, logs io.Writer) (server.Config, server.CIWork, func(), error) {
	fs := flag.NewFlagSet("atoll ci", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f serverFlags
	f.define(fs)
	plansDir := fs.String("plans-dir", "", "keep plans here, for a later job to apply: a CI artifact (default: through --redis-addr, else this run only)")
	if err := parse(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printFlags(stdout, fs, "atoll ci [plan|apply]")
			err = errHelp
		}
		return server.Config{}, server.CIWork{}, nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if !set["tool-user"] {
		// A CI job is the sandbox of its own, and its checkout the job's:
		// not handed to another user.
		f.toolUser = "self"
	}
	if !set["log-level"] {
		// The job's output is what it did, on stdout: the log says only
		// what went wrong.
		f.logLevel = "warn"
	}
	work, err := f.ciWork(sub, env, set)
	if err != nil {
		return server.Config{}, server.CIWork{}, nil, err
	}
	cleanup := func() {}
	if !set["data-dir"] && env("ATOLL_DATA_DIR") == "" {
		dir, err := os.MkdirTemp("", "atoll-ci-")
		if err != nil {
			return server.Config{}, server.CIWork{}, nil, err
		}
		f.dataDir, cleanup = dir, func() { os.RemoveAll(dir) }
	}
	cfg, err := f.config(logs)
	if err != nil {
		cleanup()
		return server.Config{}, server.CIWork{}, nil, err
	}
	if *plansDir != "" {
		if cfg.PlansDir, err = expandHome(*plansDir); err != nil {
			cleanup()
			return server.Config{}, server.CIWork{}, nil, fmt.Errorf("--plans-dir: %v", err)
		}
	}
	return cfg, work, cleanup, nil
}

// ciWork is the work the job asks for, with the flags completed from the
// CI's variables where set does not name them: the forge's API, its
// token and the repository.
func (f *serverFlags) ciWork(sub string, env func(string) string, set map[string]bool) (server.CIWork, error) {
	if d, ok, err := github.ActionsDelivery(env, ""); ok {
		if err != nil || sub != "" {
			return server.CIWork{}, cmp.Or(err, fmt.Errorf("%q: in GitHub Actions, atoll ci does what the job's event asks (a pull request plans, a comment runs its command); give no command", sub))
		}
		f.ghToken = cmp.Or(f.ghToken, env("GITHUB_TOKEN"))
		if !set["gh-api-url"] && env("GITHUB_API_URL") != "" {
			f.ghAPI = strings.TrimSuffix(env("GITHUB_API_URL"), "/") + "/"
		}
		f.allowlist = cmp.Or(f.allowlist, env("GITHUB_REPOSITORY"))
		if f.ghToken == "" {
			return server.CIWork{}, errors.New("no GitHub token: give the job GITHUB_TOKEN (env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}), or --gh-token")
		}
		return server.CIWork{Delivery: d}, nil
	}
	if env("GITLAB_CI") == "true" {
		return f.gitLabWork(sub, env, set)
	}
	return server.CIWork{}, errors.New("not in a GitHub Actions or GitLab CI job (GITHUB_ACTIONS and GITLAB_CI are unset)")
}

// gitLabWork is the work of a GitLab merge request pipeline's job: plan
// its commit, or apply its plans.
func (f *serverFlags) gitLabWork(sub string, env func(string) string, set map[string]bool) (server.CIWork, error) {
	if !set["gitlab-url"] && env("CI_SERVER_URL") != "" {
		f.glURL = env("CI_SERVER_URL")
	}
	f.allowlist = cmp.Or(f.allowlist, env("CI_PROJECT_PATH"))
	if f.glToken == "" {
		return server.CIWork{}, errors.New("no GitLab token: a job token cannot write notes; give a project or group access token (api scope) as ATOLL_GITLAB_TOKEN, a masked CI/CD variable, or --gitlab-token")
	}
	switch sub {
	case "", "plan":
		d, _, err := gitlab.PipelineDelivery(env, "")
		return server.CIWork{Delivery: d}, err
	case "apply":
		mr, err := gitlab.PipelineMergeRequest(env)
		return server.CIWork{Command: "atoll apply", Forge: "gitlab", Pull: mr, User: env("GITLAB_USER_LOGIN")}, err
	}
	return server.CIWork{}, fmt.Errorf("unknown command %q: want plan or apply", sub)
}
