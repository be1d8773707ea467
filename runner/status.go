package runner

import (
	"context"

	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs"
)

// setStatus sets the commit status of command on a project (target, as
// repoConfig.statusTarget names it), logging a failure: a status that
// cannot be set must not stop the command.
func (j *Job) setStatus(ctx context.Context, command, target string, state vcs.State, desc string) {
	if !j.onPull() {
		return
	}
	st := report.Status(command, target, state, desc)
	if err := j.Forge.SetStatus(ctx, j.Pull.Repo, j.Pull.HeadSHA, st); err != nil {
		j.Log.Error("setting commit status", "context", st.Context, "err", err)
	}
}

// failCommand fails the status that sums up command ("plan", "apply";
// other commands have none) on the pull request's head, for a job that
// ends before any project of it could say how it went.
func (j *Job) failCommand(ctx context.Context, command, desc string) {
	if command != "plan" && command != "apply" || j.Pull.HeadSHA == "" || !j.onPull() {
		return
	}
	ctx, cancel := reportContext(ctx)
	defer cancel()
	st := vcs.Status{Context: "atoll/" + command, State: vcs.Failure, Description: desc}
	if err := j.Forge.SetStatus(ctx, j.Pull.Repo, j.Pull.HeadSHA, st); err != nil {
		j.Log.Error("setting commit status", "context", st.Context, "err", err)
	}
}

// setAggregates sets the statuses that sum up every project of the pull
// request (report.Aggregates).
func (j *Job) setAggregates(ctx context.Context) {
	if !j.onPull() {
		return
	}
	recs, err := j.r.plans.Records(ctx, j.plansPull())
	if err != nil {
		j.Log.Error("reading plan records", "err", err)
		return
	}
	for _, st := range report.Aggregates(recs) {
		if err := j.Forge.SetStatus(ctx, j.Pull.Repo, j.Pull.HeadSHA, st); err != nil {
			j.Log.Error("setting commit status", "context", st.Context, "err", err)
		}
	}
}

// hidePreviousPlans remembers ids as the pull request's latest plan
// comments and, when the server is told to and the forge can, collapses
// the plan comments before them.
func (j *Job) hidePreviousPlans(ctx context.Context, ids []int64) {
	if len(ids) == 0 {
		return
	}
	prev, err := j.r.plans.SwapComments(ctx, j.plansPull(), ids)
	if err != nil {
		j.Log.Error("recording plan comments", "err", err)
		return
	}
	hider, ok := j.Forge.(vcs.CommentHider)
	if !j.r.policy.HidePrevPlanComments || !ok {
		return
	}
	for _, id := range prev {
		if err := hider.HideComment(ctx, j.Pull.Repo, j.Pull.Number, id); err != nil {
			j.Log.Warn("hiding an earlier plan comment", "comment", id, "err", err)
		}
	}
}
