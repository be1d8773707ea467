package runner

import (
	"context"
	"log/slog"
	"sync"

	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs"
)

// setStatus sets the commit status of command on a project (target, as
// repoConfig.statusTarget names it), logging a failure: a status that
// cannot be set must not stop the command.
// maxForgeWrites bounds a job's writes to the forge at once: the forges
// ask API clients for few concurrent requests.
const maxForgeWrites = 4

// concurrently runs writes, maxForgeWrites at a time, and returns once
// all have.
func concurrently(writes []func()) {
	slots := make(chan struct{}, maxForgeWrites)
	var wg sync.WaitGroup
	for _, w := range writes {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			w()
		})
	}
	wg.Wait()
}

func (j *Job) setStatus(ctx context.Context, command, target string, state vcs.State, desc string) {
	if !j.onPull() {
		return
	}
	st := report.Status(command, target, state, desc)
	if err := j.Forge.SetStatus(ctx, j.Pull.Repo, j.Pull.HeadSHA, st); err != nil {
		j.Log.Error("setting commit status", "context", st.Context, "err", err)
	}
}

// setCheck sets the check run run makes, given the forge's longest text,
// on the pull request's head, redacted, where the forge shows check runs;
// a failure is logged, as for statuses.
func (j *Job) setCheck(ctx context.Context, run func(max int) vcs.CheckRun) {
	c, ok := j.Forge.(vcs.CheckReporter)
	if !ok || !j.onPull() {
		return
	}
	cr := run(c.MaxCheckText())
	cr.Title, cr.Summary, cr.Text = j.r.redact.Redact(cr.Title), j.r.redact.Redact(cr.Summary), j.r.redact.Redact(cr.Text)
	if err := c.SetCheckRun(ctx, j.Pull.Repo, j.Pull.HeadSHA, cr); err != nil {
		j.Log.Error("setting a check run", "name", cr.Name, "err", err)
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
	concurrently(j.aggregateWrites(ctx))
}

// aggregateWrites are the writes that set the statuses summing up every
// project of the pull request, as its plan records stand now.
func (j *Job) aggregateWrites(ctx context.Context) []func() {
	if !j.onPull() {
		return nil
	}
	return j.aggregateWritesOf(ctx, j.plansPull(), j.Pull.HeadSHA, j.Log)
}

// aggregateWritesOf are aggregateWrites for pull request pull of the
// job's repository, whose head is sha, logging to log.
func (j *Job) aggregateWritesOf(ctx context.Context, pull plans.Pull, sha string, log *slog.Logger) []func() {
	recs, err := j.r.plans.Records(ctx, pull)
	if err != nil {
		log.Error("reading plan records", "err", err)
		return nil
	}
	var writes []func()
	for _, st := range report.Aggregates(recs) {
		writes = append(writes, func() {
			if err := j.Forge.SetStatus(ctx, j.Pull.Repo, sha, st); err != nil {
				log.Error("setting commit status", "context", st.Context, "err", err)
			}
		})
	}
	return writes
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
