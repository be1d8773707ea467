package runner

import (
	"context"
	"fmt"
	"slices"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/vcs"
)

// errForkRefused is the answer to pull requests from forks when they are
// not allowed.
var errForkRefused = userErrorf("This server does not run pull requests from forks: a plan runs the pull request's code with the server's credentials. An administrator can allow it with `--allow-fork-prs`.")

// autoplan plans the projects a pull request changes, as of its current
// head: an event for a commit that is no longer the head is dropped, since
// the event for the newer commit plans it. Earlier plans are discarded
// first; the locks stay.
func (j *Job) autoplan(ctx context.Context) error {
	endPull := j.phases.start(PhasePull)
	pull, err := j.Forge.PullRequest(ctx, j.Event.Repo, j.Event.Pull.Number)
	endPull()
	if err != nil {
		return err
	}
	switch {
	case !pull.Open:
		j.Log.Info("pull request closed since the event; not planning")
		return nil
	case pull.Draft:
		j.Log.Info("pull request is a draft again; not planning")
		return nil
	case pull.HeadSHA != j.Event.Pull.HeadSHA:
		j.Log.Info("pull request moved on since the event; not planning", "event_sha", j.Event.Pull.HeadSHA, "head_sha", pull.HeadSHA)
		return nil
	case pull.Fork && !j.r.policy.AllowForkPRs:
		j.Log.Info("not planning a pull request from a fork")
		if j.Event.Type == vcs.PullUpdated {
			return nil // said once, when it was opened
		}
		return errForkRefused
	}
	j.setPull(pull)
	j.User = pull.Author
	// Every project is planned afresh: earlier plans, of this commit or
	// older ones, go, so that none of a project the pull request no longer
	// changes is left to count or to apply. A run of this job that was cut
	// short after it planned something had done so already.
	plannedBefore := false
	if j.rerun {
		recs, err := j.r.plans.Records(ctx, j.plansPull())
		if err != nil {
			return err
		}
		plannedBefore = slices.ContainsFunc(recs, func(r plans.Record) bool { return r.JobID == j.ID })
	}
	if !plannedBefore {
		discarded, err := j.discardPlans(ctx)
		if err != nil {
			return fmt.Errorf("discarding earlier plans: %w", err)
		}
		j.Log.Info("discarded earlier plans", "count", len(discarded))
	}
	return j.plan(ctx, planRequest{auto: true})
}

// plansPull names the job's pull request to the plan store.
func (j *Job) plansPull() plans.Pull {
	return plans.Pull{Forge: j.Forge.Name(), Repo: j.Pull.Repo.FullName, Number: j.Pull.Number}
}

// lockKey names the lock of the project in dir and workspace ws of the
// job's repository.
func (j *Job) lockKey(dir, ws string) locking.Key {
	return locking.Key{Forge: j.Forge.Name(), Repo: j.Pull.Repo.FullName, Dir: dir, Workspace: ws}
}

// discardPlans discards the pull request's plans, once no job of this
// process uses its workspaces: one cut short may be winding down there.
func (j *Job) discardPlans(ctx context.Context) ([]plans.Record, error) {
	if err := j.r.workspaces.WaitIdle(ctx, j.Forge.Name(), j.Pull.Repo.FullName, j.Pull.Number); err != nil {
		return nil, err
	}
	return j.r.plans.Discard(ctx, j.plansPull())
}
