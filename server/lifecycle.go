package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
)

// unlock releases the pull request's locks and discards its plans, and
// says which.
func (s *Server) unlock(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest) error {
	// Plans go first: that waits for jobs using the workspaces to end, so
	// no lock is released under a running apply.
	discarded, err := s.workspaces.DiscardPlans(ctx, pull.Repo.FullName, pull.Number)
	if err != nil {
		return fmt.Errorf("discarding plans: %w", err)
	}
	released, err := s.releaseLocks(ctx, pull)
	if err != nil {
		return err
	}
	jc.log.Info("unlocked", "locks", len(released), "plans", len(discarded))
	if len(released) == 0 && len(discarded) == 0 {
		return userErrorf("This pull request holds no locks and has no plans: there is nothing to release.")
	}
	_, err = s.finish(ctx, jc.resultReply(forge, pull), "**atoll unlocked this pull request.**\n\n"+releasedText(released, discarded)+
		"\nOther pull requests can plan these projects now; comment `atoll plan` to plan here again.")
	return err
}

// closed cleans up after a closed or merged pull request: it releases its
// locks, deletes its workspaces and plans, and says what it let go of.
func (s *Server) closed(ctx context.Context, jc *jobContext, forge vcs.Forge, event vcs.PullRequest) error {
	pull, err := forge.PullRequest(ctx, event.Repo, event.Number)
	if err != nil {
		return err
	}
	if pull.Open {
		jc.log.Warn("closed event for a pull request the forge says is open; keeping its locks")
		return nil
	}
	// Workspaces go first: that waits for jobs using them to end, so no
	// lock is released under a running apply.
	discarded, err := s.workspaces.Remove(ctx, pull.Repo.FullName, pull.Number)
	if err != nil {
		return fmt.Errorf("removing workspaces: %w", err)
	}
	released, err := s.releaseLocks(ctx, pull)
	if err != nil {
		return err
	}
	s.forgetPlanComments(ctx, jc, pull)
	jc.log.Info("cleaned up a closed pull request", "locks", len(released), "plans", len(discarded))
	if len(released) == 0 && len(discarded) == 0 {
		return nil
	}
	_, err = forge.Comment(ctx, pull.Repo, pull.Number, "**atoll cleaned up after this pull request** and deleted its workspaces.\n\n"+releasedText(released, discarded))
	return err
}

// releaseLocks lets go of every lock the pull request holds.
func (s *Server) releaseLocks(ctx context.Context, pull vcs.PullRequest) ([]locking.Key, error) {
	locks, err := s.locker.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing locks: %w", err)
	}
	var released []locking.Key
	for _, l := range locks {
		if l.Key.Repo != pull.Repo.FullName || l.Pull != pull.Number {
			continue
		}
		ok, err := s.locker.Unlock(ctx, l.Key, pull.Number)
		if err != nil {
			return released, fmt.Errorf("releasing lock on %s/%s: %w", l.Key.Dir, l.Key.Workspace, err)
		}
		if ok {
			released = append(released, l.Key)
		}
	}
	return released, nil
}

func releasedText(released []locking.Key, discarded []runner.PlanRecord) string {
	var b strings.Builder
	if len(released) > 0 {
		b.WriteString("Locks released:\n")
		for _, k := range released {
			fmt.Fprintf(&b, "- `%s` in workspace `%s`\n", k.Dir, k.Workspace)
		}
	}
	var plans []string
	for _, rec := range discarded {
		if rec.Unapplied() {
			plans = append(plans, fmt.Sprintf("- `%s` in workspace `%s` (%s)\n", rec.Dir, rec.Workspace, rec.Summary))
		}
	}
	if len(plans) > 0 {
		if len(released) > 0 {
			b.WriteString("\n")
		}
		b.WriteString("Unapplied plans discarded:\n" + strings.Join(plans, ""))
	}
	return b.String()
}
