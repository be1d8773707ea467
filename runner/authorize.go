package runner

import (
	"context"
	"strings"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// mayComment reports whether the job's user may run commands on its
// repository: a listed user or member of a listed team, or, with no list,
// anyone with write access.
func (j *Job) mayComment(ctx context.Context) (bool, error) {
	if len(j.r.policy.AllowedCommenters) == 0 {
		return j.Forge.CanWrite(ctx, j.Event.Repo, j.User)
	}
	return j.listed(ctx, j.r.policy.AllowedCommenters), nil
}

// listed reports whether the job's user is one of users, each a login
// or a team ("org/team") the user is a member of, where the forge says.
func (j *Job) listed(ctx context.Context, users []string) bool {
	user := j.User
	for _, c := range users {
		if !strings.Contains(c, "/") {
			if strings.EqualFold(c, user) {
				return true
			}
			continue
		}
		tc, ok := j.Forge.(vcs.TeamChecker)
		if !ok {
			continue
		}
		in, err := tc.InTeam(ctx, c, user)
		if err != nil {
			j.Log.Warn("cannot check team membership; trying the next entry", "team", c, "err", err)
			continue
		}
		if in {
			return true
		}
	}
	return false
}

// gap is a requirement the pull request does not meet, and why.
type gap struct{ name, why string }

// gapList is gaps as a Markdown list.
func gapList(gaps []gap) string {
	items := make([]string, len(gaps))
	for i, g := range gaps {
		items[i] = "- **" + g.name + "**: " + g.why
	}
	return strings.Join(items, "\n")
}

// unmet names the requirements the job's pull request does not meet.
func (j *Job) unmet(ctx context.Context, need workflows.Requirements) ([]gap, error) {
	forge, pull := j.Forge, j.Pull
	var unmet []gap
	if need.Approved {
		reviews, err := forge.Reviews(ctx, pull.Repo, pull.Number)
		if err != nil {
			return nil, err
		}
		ok, err := j.approved(ctx, reviews)
		if err != nil {
			return nil, err
		}
		if !ok {
			unmet = append(unmet, gap{"approved", "it needs an approving review by someone with write access other than its author, and no such reviewer's latest review may request changes"})
		}
	}
	if need.Mergeable && !pull.Mergeable {
		unmet = append(unmet, gap{"mergeable", "the forge says it cannot be merged as it stands (conflicts, failing required checks or branch protection)"})
	}
	if need.Undiverged {
		behind, err := forge.BehindBase(ctx, pull)
		if err != nil {
			return nil, err
		}
		if behind {
			unmet = append(unmet, gap{"undiverged", "`" + pull.BaseRef + "` has commits this branch lacks; merge or rebase it, then plan again"})
		}
	}
	return unmet, nil
}

// approved reports whether, taking each reviewer's latest verdict and
// counting only reviewers with write access other than the author,
// someone approved and nobody requests changes.
func (j *Job) approved(ctx context.Context, reviews []vcs.Review) (bool, error) {
	latest := latestVerdicts(reviews, j.Pull.Author)
	ok := false
	for user, st := range latest {
		writer, err := j.Forge.CanWrite(ctx, j.Pull.Repo, user)
		if err != nil {
			return false, err
		}
		if !writer {
			continue
		}
		if st == vcs.ChangesRequested {
			return false, nil
		}
		ok = ok || st == vcs.Approved
	}
	return ok, nil
}

// latestVerdicts maps each reviewer but author to their latest approval or
// request for changes; comments leave a verdict be, dismissal drops it.
func latestVerdicts(reviews []vcs.Review, author string) map[string]vcs.ReviewState {
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
	return latest
}
