package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/workflows"
)

// projects prints which projects a pull request from the checkout at
// --repo against --base would plan, and why. It needs no server.
func projects(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("atoll projects", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	base := fs.String("base", "main", "the branch or commit the pull request would merge into")
	repo := fs.String("repo", ".", "the repository checkout")
	if err := parse(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printFlags(stdout, fs, "atoll projects")
			fmt.Fprintln(stdout, "\nIt prints which projects a pull request against --base would plan, and why.")
			return 0
		}
		fmt.Fprintf(stderr, "atoll projects: %v\n", err)
		return 2
	}
	changed, err := workspace.ChangedFiles(ctx, *repo, *base)
	if err != nil {
		fmt.Fprintf(stderr, "atoll projects: %v\n", err)
		return 1
	}
	cfg, err := workflows.LoadConfig(*repo)
	if err != nil {
		fmt.Fprintf(stderr, "atoll projects: %v\n", err)
		return 1
	}
	if branch := baseBranch(ctx, *repo, *base); branch != "" {
		cfg = cfg.ForBranch(branch)
	}
	matches, err := workflows.Select(cfg, *repo, changed)
	if err != nil {
		fmt.Fprintf(stderr, "atoll projects: %s: %v\n", cfg.File, err)
		return 1
	}
	report, err := workflows.Report(cfg, *repo, matches)
	if err != nil {
		fmt.Fprintf(stderr, "atoll projects: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, report)
	return 0
}

// baseBranch is the branch base names in the checkout at repo, as a pull
// request's base branch is matched against a project's branch, or "" when
// base names no branch (a commit, a tag): then no project is left out.
func baseBranch(ctx context.Context, repo, base string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "--symbolic-full-name", base).Output()
	if err != nil {
		return ""
	}
	return branchName(strings.TrimSpace(string(out)))
}

// branchName is the branch a full ref names, without the remote of a
// remote-tracking branch (refs/remotes/origin/main is main), or "".
func branchName(ref string) string {
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return b
	}
	if r, ok := strings.CutPrefix(ref, "refs/remotes/"); ok {
		_, b, _ := strings.Cut(r, "/")
		return b
	}
	return ""
}
