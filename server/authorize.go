package server

import (
	"context"
	"strings"

	"github.com/atoll-iac/atoll/vcs"
)

// mayComment reports whether user may run commands on repo: a listed user
// or member of a listed team, or, with no list, anyone with write access.
func (s *Server) mayComment(ctx context.Context, jc *jobContext, forge vcs.Forge, repo vcs.Repo, user string) (bool, error) {
	if len(s.commenters) == 0 {
		return forge.CanWrite(ctx, repo, user)
	}
	for _, c := range s.commenters {
		if !strings.Contains(c, "/") {
			if strings.EqualFold(c, user) {
				return true, nil
			}
			continue
		}
		tc, ok := forge.(vcs.TeamChecker)
		if !ok {
			continue
		}
		in, err := tc.InTeam(ctx, c, user)
		if err != nil {
			jc.log.Warn("cannot check team membership; trying the next entry", "team", c, "err", err)
			continue
		}
		if in {
			return true, nil
		}
	}
	return false, nil
}

// unmet names the apply requirements the pull request does not meet.
func (s *Server) unmet(ctx context.Context, forge vcs.Forge, pull vcs.PullRequest) ([]string, error) {
	var unmet []string
	if s.requirements.Approved {
		reviews, err := forge.Reviews(ctx, pull.Repo, pull.Number)
		if err != nil {
			return nil, err
		}
		if !approved(reviews, pull.Author) {
			unmet = append(unmet, "**approved**: it needs an approving review by someone other than its author, and no outstanding request for changes")
		}
	}
	if s.requirements.Mergeable && !pull.Mergeable {
		unmet = append(unmet, "**mergeable**: GitHub cannot merge it as it stands (conflicts, failing required checks or branch protection)")
	}
	if s.requirements.Undiverged {
		behind, err := forge.BehindBase(ctx, pull)
		if err != nil {
			return nil, err
		}
		if behind {
			unmet = append(unmet, "**undiverged**: `"+pull.BaseRef+"` has commits this branch lacks; merge or rebase it, then plan again")
		}
	}
	return unmet, nil
}

// approved reports whether, taking each reviewer's latest verdict, someone
// other than the author approved and nobody requests changes.
func approved(reviews []vcs.Review, author string) bool {
	latest := map[string]vcs.ReviewState{}
	for _, r := range reviews {
		user := strings.ToLower(r.User)
		if user == strings.ToLower(author) {
			continue
		}
		switch r.State {
		case vcs.Approved, vcs.ChangesRequested:
			latest[user] = r.State
		case vcs.Dismissed:
			delete(latest, user)
		}
	}
	ok := false
	for _, st := range latest {
		if st == vcs.ChangesRequested {
			return false
		}
		ok = ok || st == vcs.Approved
	}
	return ok
}
