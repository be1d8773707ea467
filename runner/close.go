package runner

import (
	"context"
	"fmt"
)

// close cleans up after a closed or merged pull request: it releases its
// locks, deletes its workspaces and plans, and says what it let go of.
func (j *Job) close(ctx context.Context) error {
	pull, err := j.Forge.PullRequest(ctx, j.Event.Repo, j.Event.Pull.Number)
	if err != nil {
		return err
	}
	if pull.Open {
		j.Log.Warn("closed event for a pull request the forge says is open; keeping its locks")
		return nil
	}
	j.setPull(pull)
	// Workspaces go first: that waits for jobs using them to end, so no
	// lock is released under a running apply.
	if err := j.r.workspaces.Remove(ctx, j.Forge.Name(), pull.Repo.FullName, pull.Number); err != nil {
		return fmt.Errorf("removing workspaces: %w", err)
	}
	discarded, err := j.r.plans.Discard(ctx, j.plansPull())
	if err != nil {
		return fmt.Errorf("discarding plans: %w", err)
	}
	released, err := j.releaseLocks(ctx)
	if err != nil {
		return err
	}
	if _, err := j.r.plans.SwapComments(ctx, j.plansPull(), nil); err != nil {
		j.Log.Error("forgetting plan comments", "err", err)
	}
	j.Log.Info("cleaned up a closed pull request", "locks", len(released), "plans", len(discarded))
	if len(released) == 0 && len(discarded) == 0 {
		return nil
	}
	_, err = j.Forge.Comment(ctx, pull.Repo, pull.Number, "**atoll cleaned up after this pull request** and deleted its workspaces.\n\n"+releasedText(released, discarded))
	return err
}
