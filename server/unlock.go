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

// errNoLocks is Unlock's answer for a pull request that holds no lock
// and waits in no line.
var errNoLocks = errors.New("the pull request holds no lock and waits in no line")

// Unlock queues the unlock of pull request number of repo on forge, as
// `atoll unlock` would, on operator's word (a user of the web UI, or the
// API), given via "web UI" or "API": in the
// pull request's turn, its locks are released, its plans discarded, and
// it leaves every line it waits in, and it is told who unlocked it.
// Pull request 0 stands for the runs on refs of the repository asked for
// through the API: their locks are released and plans discarded, after
// the runs queued before. It returns the job's id; errNoLocks when the
// pull request holds no lock and waits in no line.
func (s *Server) Unlock(ctx context.Context, forge, repo string, number int, operator, via string) (string, error) {
	if s.forge(forge) == nil {
		return "", fmt.Errorf("no forge %q: %w", forge, errNoLocks)
	}
	locked, err := s.locked(ctx, forge, repo, number)
	if err != nil {
		return "", err
	}
	if !locked {
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

// locked reports whether pull request number of repo on forge holds a
// lock or waits in a line: whether there is anything to unlock.
func (s *Server) locked(ctx context.Context, forge, repo string, number int) (bool, error) {
	locks, err := s.locker.List(ctx)
	if err != nil {
		return false, fmt.Errorf("listing locks: %w", err)
	}
	ours := func(k locking.Key, pull int) bool { return k.Forge == forge && k.Repo == repo && pull == number }
	if slices.ContainsFunc(locks, func(l locking.Lock) bool { return ours(l.Key, l.Pull) }) {
		return true, nil
	}
	lines, err := s.locker.Lines(ctx)
	if err != nil {
		return false, fmt.Errorf("listing lines: %w", err)
	}
	return slices.ContainsFunc(lines, func(l locking.Line) bool {
		return slices.ContainsFunc(l.Waiting, func(w locking.Waiter) bool { return ours(l.Key, w.Pull) })
	}), nil
}

// lockLine is a key's lock with the line of pull requests waiting for
// it, as the web UI and the API list them. A key whose line has yet to
// get it, released or lapsed a moment ago, is Free: its Lock has only
// the Key.
type lockLine struct {
	locking.Lock
	Free    bool
	Waiting []waiter
}

// waiter is a pull request in a line, at its Place, counting from 1.
type waiter struct {
	locking.Waiter
	Place int
}

// lockLines returns the locks held, newest first, each with its line,
// then the free keys with a line, ordered by key; of repository repo
// only when it is not "".
func (s *Server) lockLines(ctx context.Context, repo string) ([]lockLine, error) {
	locks, err := s.locker.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing locks: %w", err)
	}
	lines, err := s.locker.Lines(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing lines: %w", err)
	}
	waiting := make(map[locking.Key][]waiter, len(lines))
	for _, l := range lines {
		for i, w := range l.Waiting {
			waiting[l.Key] = append(waiting[l.Key], waiter{Waiter: w, Place: i + 1})
		}
	}
	var out []lockLine
	held := make(map[locking.Key]bool, len(locks))
	for _, l := range locks {
		held[l.Key] = true
		if repo == "" || l.Key.Repo == repo {
			out = append(out, lockLine{Lock: l, Waiting: waiting[l.Key]})
		}
	}
	slices.SortStableFunc(out, func(a, b lockLine) int { return b.Time.Compare(a.Time) })
	for _, l := range lines {
		if !held[l.Key] && len(l.Waiting) > 0 && (repo == "" || l.Key.Repo == repo) {
			out = append(out, lockLine{Lock: locking.Lock{Key: l.Key}, Free: true, Waiting: waiting[l.Key]})
		}
	}
	return out, nil
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
