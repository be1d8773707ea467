package runner

import (
	"context"
	"errors"
	"fmt"
)

// close cleans up after a closed or merged pull request: it releases its
// locks, takes it out of the lines it waits in, deletes its workspaces
// and plans, and says what it let go of.
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
	var gone letGo
	if gone.discarded, err = j.r.plans.Discard(ctx, j.plansPull()); err != nil {
		return fmt.Errorf("discarding plans: %w", err)
	}
	var leaveErr error
	gone.left, leaveErr = j.leaveLines(ctx)
	gone.released, err = j.releaseLocks(ctx)
	if err := errors.Join(leaveErr, err); err != nil {
		return err
	}
	if _, err := j.r.plans.SwapComments(ctx, j.plansPull(), nil); err != nil {
		j.Log.Error("forgetting plan comments", "err", err)
	}
	j.Log.Info("cleaned up a closed pull request", "locks", len(gone.released), "plans", len(gone.discarded), "lines", len(gone.left))
	if gone.none() {
		return nil
	}
	_, err = j.Forge.Comment(ctx, pull.Repo, pull.Number, "**atoll cleaned up after this pull request** and deleted its workspaces.\n\n"+gone.text())
	return err
}
