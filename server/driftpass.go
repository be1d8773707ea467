package server

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
)

// `atoll drift`: one pass of drift checks from the command line.

// DriftPass is what one pass of `atoll drift` found: a report per
// repository checked, and the repositories it could not check, with why.
type DriftPass struct {
	Reports []runner.DriftReport
	Failed  map[string]error
}

// Drifted reports whether a repository checked has drifted.
func (p DriftPass) Drifted() bool {
	return slices.ContainsFunc(p.Reports, func(r runner.DriftReport) bool { return r.Drifted() > 0 })
}

// Unknown reports whether a project could not be checked (locked by a
// pull request, or its plan failed).
func (p DriftPass) Unknown() bool {
	return slices.ContainsFunc(p.Reports, func(r runner.DriftReport) bool { return r.Count(runner.Unknown) > 0 })
}

// RunDrift checks, at once and one after the other, each repository in
// the allowlist's scope on each forge for drift, as the server's drift
// checks do (drift.go): the same plans, statuses and issues. It writes a
// line per repository to out.
func RunDrift(ctx context.Context, cfg Config, out io.Writer) (DriftPass, error) {
	cfg.oneShot = true
	s, err := New(cfg)
	if err != nil {
		return DriftPass{}, err
	}
	defer s.Close(context.WithoutCancel(ctx))
	if cfg.Redis.Addr != "" {
		s.log.Warn("runs on a branch share their locks and plans: do not run atoll drift while a server sharing this Redis runs API plans or applies on the same repositories")
	}
	pass := DriftPass{Failed: map[string]error{}}
	for _, f := range s.forges {
		w, ok := f.(vcs.Watcher)
		resolver, resolves := f.(vcs.RefResolver)
		if !ok || !resolves {
			continue
		}
		repos, err := newPoller(s, f, w, time.Minute).repositories(ctx)
		if err != nil {
			return pass, fmt.Errorf("listing the repositories of %s: %w", f.Name(), err)
		}
		for _, repo := range repos {
			ref, err := resolver.ResolveRef(ctx, repo, "")
			if err != nil {
				pass.Failed[repo] = err
				fmt.Fprintf(out, "%s: not checked: %v\n", repo, err)
				continue
			}
			run, on := s.driftRun(ref)
			if !on {
				fmt.Fprintf(out, "%s: not checked: the server's repo config turns drift checks off\n", repo)
				continue
			}
			id := newJobID()
			o := s.jobs.RunRef(ctx, id, f, ref, run, runner.DriftOperator)
			r, ok, err := s.drift.LastDrift(ctx, f.Name(), ref.Repo.FullName)
			if err != nil || !ok || r.Job != id {
				pass.Failed[repo] = fmt.Errorf("the check (job %s) did not end with a report; failed: %v", id, o.Failed)
				fmt.Fprintf(out, "%s: not checked: %v\n", repo, pass.Failed[repo])
				continue
			}
			pass.Reports = append(pass.Reports, r)
			fmt.Fprintf(out, "%s (%s at %.7s): %d of %d projects drifted\n", r.Repo, r.Ref, r.SHA, r.Drifted(), len(r.Projects))
			for _, p := range r.Projects {
				fmt.Fprintf(out, "  %s %s: %s: %s\n", p.Dir, p.Workspace, p.State, p.Summary)
			}
		}
	}
	return pass, nil
}
