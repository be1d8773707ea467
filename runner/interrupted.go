package runner

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// interruptedApply answers an apply command whose first run stopped
// midway (its replica died, or the server stopped before it finished). It
// never applies again: what may have been half applied is marked as
// unknown, its lock kept, and the pull request told how to find out. It
// reports false, and does nothing, when no project was being applied (an
// apply records that before it begins): then the apply runs again, for
// the plans still waiting.
func (j *Job) interruptedApply(ctx context.Context) (answered bool, err error) {
	pull, err := j.Forge.PullRequest(ctx, j.Event.Repo, j.Event.Pull.Number)
	if err != nil {
		return true, err
	}
	j.setPull(pull)
	unknown, err := j.markUnknownApplies(ctx, func(plans.Record) bool { return true })
	if err != nil {
		return true, err
	}
	if len(unknown) == 0 {
		return false, nil
	}
	j.Log.Warn("apply was interrupted; not applying again", "unknown", len(unknown))
	rctx, cancel := reportContext(ctx)
	defer cancel()
	var b strings.Builder
	fmt.Fprintf(&b, "**atoll was interrupted while applying** (job `%s`): the server running it stopped before it finished, and atoll does not apply again on its own.\n\n", j.ID)
	b.WriteString("These projects were being applied; whether that went through is **unknown**, and their locks stay with this pull request:\n\n")
	for _, rec := range unknown {
		title := report.Result{Project: workflows.Project{Dir: rec.Dir, Workspace: rec.Workspace}, Name: rec.Name}.Title()
		fmt.Fprintf(&b, "- %s in workspace `%s`", title, rec.Workspace)
		b.WriteString(j.keepUnknownLock(rctx, rec) + "\n")
		j.setStatus(rctx, "apply", cmp.Or(rec.Target, rec.Dir+"/"+rec.Workspace), vcs.Failure, "interrupted: outcome unknown")
	}
	b.WriteString("\nTo find out, plan again (`atoll plan`): a plan with no changes means the apply went through. Then apply what is left.\n")
	j.setAggregates(rctx)
	// In the running comment of the cut-short run, if it posted one.
	_, err = j.reply.Finish(rctx, b.String())
	return true, err
}

// markUnknownApplies marks the job's pull request's plans that an
// earlier run was applying when it stopped, those of them that of
// selects, as of unknown outcome, and returns them. What they may have
// applied makes other pull requests' plans of them stale.
func (j *Job) markUnknownApplies(ctx context.Context, of func(plans.Record) bool) ([]plans.Record, error) {
	// The run cut short may be winding down here still.
	if err := j.r.workspaces.WaitIdle(ctx, j.Forge.Name(), j.Pull.Repo.FullName, j.Pull.Number); err != nil {
		return nil, err
	}
	unknown, err := j.r.plans.UpdateRecords(ctx, j.plansPull(), func(rec *plans.Record) bool {
		if rec.State != plans.Applying || !of(*rec) {
			return false
		}
		rec.State, rec.Summary = plans.ApplyUnknown, "interrupted: outcome unknown"
		return true
	})
	if err != nil {
		return nil, err
	}
	rctx, cancel := reportContext(ctx)
	defer cancel()
	j.markStale(rctx, unknown, time.Now())
	return unknown, nil
}

// keepUnknownLock keeps the lock of a project whose apply is unknown
// until someone unlocks it: with a lock TTL, a lock lapses unless kept,
// and no other pull request should plan over a state that may be half
// applied. When it cannot, it returns a note saying so for the comment.
func (j *Job) keepUnknownLock(ctx context.Context, rec plans.Record) string {
	if j.r.policy.LockTTL == 0 {
		return "" // taken without expiry: it stays
	}
	l := j.r.projectLock(j.lockKey(rec.Dir, rec.Workspace), j.Pull.Number, rec.User)
	l.Expires = time.Time{}
	holder, ok, err := j.r.locker.TryLock(ctx, l)
	switch {
	case err != nil:
		j.Log.Error("keeping the lock of an interrupted apply", "dir", rec.Dir, "workspace", rec.Workspace, "err", err)
		return " (atoll could not keep its lock: it lapses with the lock TTL)"
	case !ok:
		return fmt.Sprintf(" (its lock lapsed meanwhile: %s holds it now)", j.Forge.PullRef(holder.Pull))
	}
	return ""
}

// crashLimit is how many runs of a job may end with their server gone
// before atoll stops running it. Once may be bad luck (a node drained, an
// unrelated crash); twice in a row it is most likely the job itself, say
// a configuration that makes the tool or atoll use all the memory there
// is, and a durable job that ran again after every restart would keep its
// server down, and leave the pull request without an answer, for ever.
const crashLimit = 2

// giveUp answers, instead of running it again, a job whose earlier runs
// took their server down crashLimit times: in the comment a run posted,
// if one did, and with the plan or apply status failed. cmd is the
// comment's command; zero for an autoplan. A clean-up after a close has
// no one to tell, and is only logged.
func (j *Job) giveUp(ctx context.Context, cmd workflows.Command) error {
	j.Log.Error("not running a job again: its earlier runs never finished, their server gone", "abandoned", j.abandoned)
	if j.Event.Type == vcs.PullClosed {
		return nil
	}
	pull, err := j.Forge.PullRequest(ctx, j.Event.Repo, j.Event.Pull.Number)
	if err != nil {
		return err
	}
	j.setPull(pull)
	status, what, retry := cmd.Name, "running this command", "comment the command again"
	if j.Event.Type != vcs.CommentCreated {
		if !pull.Open || pull.HeadSHA != j.Event.Pull.HeadSHA {
			return nil // the autoplan would not run now either
		}
		status, what, retry = "plan", "planning this pull request", "comment `atoll plan`"
	}
	j.failCommand(ctx, status, "atoll went down running it twice; not run again")
	return userErrorf("**atoll stopped twice while %s** (job `%s`), so it will not run it again: both times, the server running it went down before it finished. The change itself may be the cause, for instance a configuration that makes the tool use all the memory there is.\n\nFix the change and push, or %s to try once more.", what, j.ID, retry)
}
