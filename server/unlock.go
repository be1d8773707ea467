package server

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
)

// errNoLocks is Unlock's answer for a pull request that holds no lock.
var errNoLocks = errors.New("the pull request holds no lock")

// Unlock queues the unlock of pull request number of repo on forge, as
// `atoll unlock` would, on operator's word (a user of the web UI, or the
// API), given via "web UI" or "API": in the
// pull request's turn, its locks are released, its plans discarded, and
// it is told who unlocked it. Pull request 0 stands for the runs on refs
// of the repository asked for through the API: their locks are released
// and plans discarded, after the runs queued before. It returns the job's
// id; errNoLocks when the pull request holds no lock.
func (s *Server) Unlock(ctx context.Context, forge, repo string, number int, operator, via string) (string, error) {
	if s.forge(forge) == nil {
		return "", fmt.Errorf("no forge %q: %w", forge, errNoLocks)
	}
	locks, err := s.locker.List(ctx)
	if err != nil {
		return "", fmt.Errorf("listing locks: %w", err)
	}
	if !holds(locks, forge, repo, number) {
		return "", errNoLocks
	}
	id := newJobID()
	order := runner.RefUnlockOrder(id, forge, vcs.Repo{FullName: repo}, operator, via)
	if number != 0 {
		order = runner.UnlockOrder(id, forge, vcs.PullRequest{Repo: vcs.Repo{FullName: repo}, Number: number}, operator, via)
	}
	if _, err := s.enqueue(ctx, order); err != nil {
		return "", fmt.Errorf("queueing the unlock: %w", err)
	}
	s.log.Info("queued", "job", id, "forge", forge, "repo", repo, "pr", number, "work", "unlock", "operator", operator)
	return id, nil
}

// pullName names pull request number of repo for people; 0 names the
// API's runs on refs of repo.
func pullName(repo string, number int) string {
	if number == 0 {
		return "the API's runs of " + repo
	}
	return fmt.Sprintf("%s#%d", repo, number)
}

// holds reports whether pull request number of repo on forge holds one
// of locks.
func holds(locks []locking.Lock, forge, repo string, number int) bool {
	return slices.ContainsFunc(locks, func(l locking.Lock) bool {
		return l.Key.Forge == forge && l.Key.Repo == repo && l.Pull == number
	})
}

// heldLocks returns the locks held, newest first, of repository repo
// only when it is not "": what the web UI and the API list.
func (s *Server) heldLocks(ctx context.Context, repo string) ([]locking.Lock, error) {
	locks, err := s.locker.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing locks: %w", err)
	}
	locks = slices.DeleteFunc(locks, func(l locking.Lock) bool { return repo != "" && l.Key.Repo != repo })
	slices.SortStableFunc(locks, func(a, b locking.Lock) int { return b.Time.Compare(a.Time) })
	return locks, nil
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
