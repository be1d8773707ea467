package server

import (
	"context"
	"fmt"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
)

// setAggregates sets the statuses that sum up every project of the pull
// request, for branch protection to require: atoll/plan succeeds when each
// project has a plan, atoll/apply when each plan is applied.
func (s *Server) setAggregates(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest) {
	recs, err := s.workspaces.Records(ctx, pull.Repo.FullName, pull.Number)
	if err != nil {
		jc.log.Error("reading plan records", "err", err)
		return
	}
	if len(recs) == 0 {
		return
	}
	var planned, applied, applyFailed int
	for _, rec := range recs {
		switch rec.State {
		case runner.Planned:
			planned++
		case runner.ApplyFailed:
			planned++
			applyFailed++
		case runner.Applied:
			planned++
			applied++
		}
	}
	n := len(recs)
	plan := vcs.Status{Context: "atoll/plan", State: vcs.Failure, Description: fmt.Sprintf("%d/%d projects planned", planned, n)}
	if planned == n {
		plan.State = vcs.Success
	}
	apply := vcs.Status{Context: "atoll/apply", State: vcs.Pending, Description: fmt.Sprintf("%d/%d projects applied", applied, n)}
	switch {
	case applied == n:
		apply.State = vcs.Success
	case applyFailed > 0 || planned < n:
		apply.State = vcs.Failure
	}
	for _, st := range []vcs.Status{plan, apply} {
		if err := forge.SetStatus(ctx, pull.Repo, pull.HeadSHA, st); err != nil {
			jc.log.Error("setting commit status", "context", st.Context, "err", err)
		}
	}
}
