package vcstest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"
)

// review is one pull request review as the fake holds it.
type review struct {
	id        int64
	user      string
	state     string
	commitID  string
	submitted time.Time
}

// reviewStates are the states a submitted review can have.
var reviewStates = []string{"APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"}

// Review records that user reviewed pull request number at its current
// head, with state APPROVED, CHANGES_REQUESTED, COMMENTED or DISMISSED,
// which touches the pull request's updated_at. No webhook is sent.
func (g *GitHub) Review(t T, repo string, number int, user, state string) {
	t.Helper()
	if !slices.Contains(reviewStates, state) {
		t.Fatalf("fake github: review state %q is none of %s", state, strings.Join(reviewStates, ", "))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.statePullLocked(repo, number)
	if p == nil {
		t.Fatalf("fake github: no pull request %s#%d", repo, number)
	}
	g.lastID++
	p.touch()
	p.reviews = append(p.reviews, review{
		id: g.lastID, user: user, state: state, commitID: p.HeadSHA,
		submitted: githubNow(),
	})
}

// listReviews answers pulls/N/reviews in submission order, a page at a
// time.
func (g *GitHub) listReviews(w http.ResponseWriter, r *http.Request) {
	_, p, ok := g.pullFor(w, r)
	if !ok {
		return
	}
	g.mu.Lock()
	reviews := append([]review(nil), g.statePullLocked(p.Repo, p.Number).reviews...)
	g.mu.Unlock()

	lo, hi := g.paginate(w, r, len(reviews))
	api := fmt.Sprintf("%srepos/%s/pulls/%d", g.APIURL(), p.Repo, p.Number)
	out := []*gh.PullRequestReview{}
	for _, rv := range reviews[lo:hi] {
		out = append(out, &gh.PullRequestReview{
			ID:                gh.Int64(rv.id),
			NodeID:            gh.String(fmt.Sprintf("PRR_kwDO%d", rv.id)),
			User:              g.user(rv.user),
			Body:              gh.String(""),
			State:             gh.String(rv.state),
			CommitID:          gh.String(rv.commitID),
			SubmittedAt:       &gh.Timestamp{Time: rv.submitted},
			HTMLURL:           gh.String(fmt.Sprintf("%s/%s/pull/%d#pullrequestreview-%d", g.url, p.Repo, p.Number, rv.id)),
			PullRequestURL:    gh.String(api),
			AuthorAssociation: gh.String(g.association(p.Repo, rv.user)),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// user is the API's short form of a user.
func (g *GitHub) user(login string) *gh.User {
	return &gh.User{
		Login:   gh.String(login),
		ID:      gh.Int64(userID(login)),
		Type:    gh.String(userType(login)),
		URL:     gh.String(g.APIURL() + "users/" + login),
		HTMLURL: gh.String(g.userLink(login)),
	}
}

// reviewDecisions are the values of GraphQL's PullRequestReviewDecision.
var reviewDecisions = []string{"APPROVED", "CHANGES_REQUESTED", "REVIEW_REQUIRED"}

// SetReviewDecision sets the reviewDecision GraphQL reports for pull
// request number, as branch protection that requires reviews works it
// out: "APPROVED", "CHANGES_REQUESTED" or "REVIEW_REQUIRED"; "" (null,
// the start) when no review is required. The reviews Review records do not
// change it. It panics if there is no such pull request or decision is
// unknown.
func (g *GitHub) SetReviewDecision(repo string, number int, decision string) {
	if decision != "" && !slices.Contains(reviewDecisions, decision) {
		panic(fmt.Sprintf("fake github: review decision %q is none of %s", decision, strings.Join(reviewDecisions, ", ")))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mustPullLocked(repo, number).reviewDecision = decision
}
