package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
)

// errNoLocks is Unlock's answer for a pull request that holds no lock.
var errNoLocks = errors.New("the pull request holds no lock")

// Unlock queues the unlock of pull request number of repo on forge, as
// `atoll unlock` would, on operator's word (a user of the web UI, or the
// API), given via "web UI" or "API": in the
// pull request's turn, its locks are released, its plans discarded, and
// it is told who unlocked it. It returns the job's id; errNoLocks when
// the pull request holds no lock.
func (s *Server) Unlock(ctx context.Context, forge, repo string, number int, operator, via string) (string, error) {
	f := s.forge(forge)
	if f == nil {
		return "", fmt.Errorf("no forge %q: %w", forge, errNoLocks)
	}
	locks, err := s.locker.List(ctx)
	if err != nil {
		return "", fmt.Errorf("listing locks: %w", err)
	}
	held := false
	for _, l := range locks {
		held = held || l.Key.Forge == forge && l.Key.Repo == repo && l.Pull == number
	}
	if !held {
		return "", errNoLocks
	}
	id := newJobID()
	pull := vcs.PullRequest{Repo: vcs.Repo{FullName: repo}, Number: number}
	s.queueing.RLock()
	defer s.queueing.RUnlock()
	if s.storeClosed {
		return "", errStoreClosed
	}
	order := runner.UnlockOrder(id, forge, pull, operator, via)
	if _, err := runner.Enqueue(ctx, s.tasks, order); err != nil {
		return "", fmt.Errorf("queueing the unlock: %w", err)
	}
	s.jobs.Queued(ctx, order)
	s.log.Info("queued", "job", id, "forge", forge, "repo", repo, "pr", number, "work", "unlock", "operator", operator)
	return id, nil
}

// forge returns the server's forge called name, or nil.
func (s *Server) forge(name string) vcs.Forge {
	for _, f := range s.forges {
		if f.Name() == name {
			return f
		}
	}
	return nil
}
