package github

import (
	"context"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v60/github"
)

// atollPrefix begins the contexts of atoll's own commit statuses and the
// names of its check runs.
const atollPrefix = "atoll/"

// blockedOnlyByAtoll reports whether branch protection blocks pull request
// number, at head sha, for atoll's sake only: a required atoll/apply
// status stays pending until the apply that asks whether it may merge,
// so GitHub's "blocked" alone would refuse every apply. The pull request
// counts as mergeable only when every other status of sha succeeded,
// every check run not atoll's completed as success, neutral or skipped,
// and the review decision is APPROVED or none is required (not
// REVIEW_REQUIRED nor CHANGES_REQUESTED). An API call that fails is an error; a review
// decision GitHub will not give (GraphQL off on the server, or out of
// the token's reach) is logged and counts as a blocker.
func (f *Forge) blockedOnlyByAtoll(ctx context.Context, owner, name string, number int, sha string) (bool, error) {
	if ok, err := f.othersStatusesSucceeded(ctx, owner, name, sha); !ok || err != nil {
		return false, err
	}
	if ok, err := f.othersCheckRunsPassed(ctx, owner, name, sha); !ok || err != nil {
		return false, err
	}
	decision, err := f.reviewDecision(ctx, owner, name, number)
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		f.log.Warn("github: taking the blocked pull request as unmergeable",
			"repo", owner+"/"+name, "pr", number, "err", err)
		return false, nil
	}
	// null (no review required) or APPROVED; a value GitHub adds later
	// counts as a blocker until known.
	return decision == "" || decision == "APPROVED", nil
}

// othersStatusesSucceeded reports whether every commit status of sha that
// is not atoll's is a success, reading every page of the combined status
// (the latest status of each context).
func (f *Forge) othersStatusesSucceeded(ctx context.Context, owner, name, sha string) (bool, error) {
	opts := &gh.ListOptions{PerPage: 100}
	for {
		cs, resp, err := f.client.Repositories.GetCombinedStatus(ctx, owner, name, sha, opts)
		if err != nil {
			return false, fmt.Errorf("github: fetching the statuses of %s/%s@%s: %w", owner, name, sha, err)
		}
		for _, st := range cs.Statuses {
			if st.GetState() != "success" && !strings.HasPrefix(st.GetContext(), atollPrefix) {
				return false, nil
			}
		}
		if resp.NextPage == 0 {
			return true, nil
		}
		opts.Page = resp.NextPage
	}
}

// othersCheckRunsPassed reports whether every check run of sha that is not
// atoll's completed with a conclusion that lets a merge through, reading
// every page. GitHub lists the latest run of each name.
func (f *Forge) othersCheckRunsPassed(ctx context.Context, owner, name, sha string) (bool, error) {
	opts := &gh.ListCheckRunsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		res, resp, err := f.client.Checks.ListCheckRunsForRef(ctx, owner, name, sha, opts)
		if err != nil {
			return false, fmt.Errorf("github: fetching the check runs of %s/%s@%s: %w", owner, name, sha, err)
		}
		for _, run := range res.CheckRuns {
			if strings.HasPrefix(run.GetName(), atollPrefix) {
				continue
			}
			if run.GetStatus() != "completed" {
				return false, nil
			}
			switch run.GetConclusion() {
			case "success", "neutral", "skipped":
			default:
				return false, nil
			}
		}
		if resp.NextPage == 0 {
			return true, nil
		}
		opts.Page = resp.NextPage
	}
}

const reviewDecisionQuery = `query($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) { pullRequest(number: $number) { reviewDecision } }
}`

// reviewDecision is the pull request's reviewDecision as branch protection
// works it out: APPROVED, CHANGES_REQUESTED, REVIEW_REQUIRED, or "" (null)
// when no review is required. Only GraphQL tells it.
func (f *Forge) reviewDecision(ctx context.Context, owner, name string, number int) (string, error) {
	var data struct {
		Repository *struct {
			PullRequest *struct {
				ReviewDecision *string `json:"reviewDecision"`
			} `json:"pullRequest"`
		} `json:"repository"`
	}
	vars := map[string]any{"owner": owner, "name": name, "number": number}
	if err := f.graphQL(forOwner(ctx, owner), reviewDecisionQuery, vars, &data); err != nil {
		return "", fmt.Errorf("github: fetching the review decision of %s/%s#%d: %w", owner, name, number, err)
	}
	repo := data.Repository
	if repo == nil || repo.PullRequest == nil {
		return "", fmt.Errorf("github: fetching the review decision of %s/%s#%d: no pull request in the answer", owner, name, number)
	}
	if d := repo.PullRequest.ReviewDecision; d != nil {
		return *d, nil
	}
	return "", nil
}
