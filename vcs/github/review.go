package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs"
)

var reviewStates = map[string]vcs.ReviewState{
	"APPROVED":          vcs.Approved,
	"CHANGES_REQUESTED": vcs.ChangesRequested,
	"COMMENTED":         vcs.Commented,
	"DISMISSED":         vcs.Dismissed,
}

// Reviews implements vcs.Forge. Pending reviews, which only their author
// sees, are left out.
func (f *Forge) Reviews(ctx context.Context, repo vcs.Repo, number int) ([]vcs.Review, error) {
	owner, name := splitRepo(repo.FullName)
	var reviews []vcs.Review
	opts := &gh.ListOptions{PerPage: 100}
	for {
		page, resp, err := f.client.PullRequests.ListReviews(ctx, owner, name, number, opts)
		if err != nil {
			return nil, fmt.Errorf("github: fetching reviews of %s#%d: %w", repo.FullName, number, err)
		}
		for _, r := range page {
			if state, ok := reviewStates[r.GetState()]; ok {
				reviews = append(reviews, vcs.Review{User: r.GetUser().GetLogin(), State: state})
			}
		}
		if resp.NextPage == 0 {
			return reviews, nil
		}
		opts.Page = resp.NextPage
	}
}

// CanWrite implements vcs.Forge with the collaborator permission API.
func (f *Forge) CanWrite(ctx context.Context, repo vcs.Repo, user string) (bool, error) {
	owner, name := splitRepo(repo.FullName)
	p, _, err := f.client.Repositories.GetPermissionLevel(ctx, owner, name, user)
	if err != nil {
		var er *gh.ErrorResponse
		if errors.As(err, &er) && er.Response.StatusCode == http.StatusNotFound {
			return false, nil
		}
		return false, fmt.Errorf("github: fetching %s's permission on %s: %w", user, repo.FullName, err)
	}
	switch p.GetPermission() {
	case "admin", "write":
		return true, nil
	}
	return false, nil
}

// BehindBase implements vcs.Forge with the compare API.
func (f *Forge) BehindBase(ctx context.Context, pull vcs.PullRequest) (bool, error) {
	owner, name := splitRepo(pull.Repo.FullName)
	c, _, err := f.client.Repositories.CompareCommits(ctx, owner, name, pull.BaseRef, pull.HeadSHA, nil)
	if err != nil {
		return false, fmt.Errorf("github: comparing %s#%d with %s: %w", pull.Repo.FullName, pull.Number, pull.BaseRef, err)
	}
	return c.GetBehindBy() > 0, nil
}

// InTeam implements vcs.TeamChecker; team is "org/team-slug".
func (f *Forge) InTeam(ctx context.Context, team, user string) (bool, error) {
	org, slug, ok := strings.Cut(team, "/")
	if !ok {
		return false, fmt.Errorf("github: team %q is not org/team", team)
	}
	m, _, err := f.client.Teams.GetTeamMembershipBySlug(ctx, org, slug, user)
	if err != nil {
		var er *gh.ErrorResponse
		if errors.As(err, &er) && er.Response.StatusCode == http.StatusNotFound {
			return false, nil
		}
		return false, fmt.Errorf("github: fetching %s's membership of %s: %w", user, team, err)
	}
	return m.GetState() == "active", nil
}

// Merge implements vcs.Merger.
func (f *Forge) Merge(ctx context.Context, pull vcs.PullRequest) error {
	owner, name := splitRepo(pull.Repo.FullName)
	_, _, err := f.client.PullRequests.Merge(ctx, owner, name, pull.Number, "", &gh.PullRequestOptions{SHA: pull.HeadSHA})
	if err != nil {
		return fmt.Errorf("github: merging %s#%d: %w", pull.Repo.FullName, pull.Number, err)
	}
	return nil
}

// DeleteBranch implements vcs.BranchDeleter. GitHub answers 422 for a
// branch already deleted (as its "automatically delete head branches"
// setting does on merge), which counts as done.
func (f *Forge) DeleteBranch(ctx context.Context, pull vcs.PullRequest) error {
	if pull.HeadRef == "" {
		return fmt.Errorf("github: deleting the branch of %s#%d: no branch name", pull.Repo.FullName, pull.Number)
	}
	owner, name := splitRepo(pull.Repo.FullName)
	_, err := f.client.Git.DeleteRef(ctx, owner, name, "heads/"+pull.HeadRef)
	var er *gh.ErrorResponse
	if errors.As(err, &er) && (er.Response.StatusCode == http.StatusUnprocessableEntity || er.Response.StatusCode == http.StatusNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("github: deleting branch %s of %s#%d: %w", pull.HeadRef, pull.Repo.FullName, pull.Number, err)
	}
	return nil
}
