package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/atoll-iac/atoll/vcs"
)

// release lets go of every lock a closed or merged pull request holds, and
// says on it which.
func (s *Server) release(ctx context.Context, jc jobContext, forge vcs.Forge, event vcs.PullRequest) error {
	pull, err := forge.PullRequest(ctx, event.Repo, event.Number)
	if err != nil {
		return err
	}
	if pull.Open {
		jc.log.Warn("closed event for a pull request the forge says is open; keeping its locks")
		return nil
	}
	locks, err := s.locker.List(ctx)
	if err != nil {
		return fmt.Errorf("listing locks: %w", err)
	}
	var released []string
	for _, l := range locks {
		if l.Key.Repo != pull.Repo.FullName || l.Pull != pull.Number {
			continue
		}
		ok, err := s.locker.Unlock(ctx, l.Key, pull.Number)
		if err != nil {
			return fmt.Errorf("releasing lock on %s/%s: %w", l.Key.Dir, l.Key.Workspace, err)
		}
		if ok {
			released = append(released, fmt.Sprintf("- `%s` in workspace `%s`", l.Key.Dir, l.Key.Workspace))
		}
	}
	if len(released) == 0 {
		return nil
	}
	jc.log.Info("released locks of a closed pull request", "count", len(released))
	body := fmt.Sprintf("**atoll released this pull request's locks** on:\n\n%s\n\nOther pull requests can plan these projects now.", strings.Join(released, "\n"))
	_, err = forge.Comment(ctx, pull.Repo, pull.Number, body)
	return err
}
