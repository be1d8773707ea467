package vcstest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// nextSecond waits until the clock enters a new second, so that GitHub's
// timestamps, to the second, tell what happens next from what came
// before.
func nextSecond() { time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second))) }

// numbers lists the pull requests PullRequests.List answers with opts.
func numbers(t *testing.T, c *gh.Client, opts *gh.PullRequestListOptions) []int {
	t.Helper()
	owner, name, _ := strings.Cut(repoName, "/")
	pulls, _, err := c.PullRequests.List(context.Background(), owner, name, opts)
	if err != nil {
		t.Fatalf("PullRequests.List(%+v): %v", opts, err)
	}
	var out []int
	for _, pr := range pulls {
		out = append(out, pr.GetNumber())
	}
	return out
}

func TestListPulls(t *testing.T) {
	t.Parallel()
	g, _ := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	owner, name, _ := strings.Cut(repoName, "/")
	for range 2 {
		g.OpenPull(t, repoName, vcstest.PullSpec{Files: map[string]string{"x.tf": ""}})
	}
	nextSecond()
	closed := g.Act(t, "closed", g.Pull(repoName, 1))
	if closed.Open || g.Pull(repoName, 1).Open {
		t.Fatalf("Act(closed) = %+v", closed)
	}

	for _, tc := range []struct {
		opts gh.PullRequestListOptions
		want []int
	}{
		{gh.PullRequestListOptions{}, []int{3, 2}}, // open, newest first
		{gh.PullRequestListOptions{State: "closed"}, []int{1}},
		{gh.PullRequestListOptions{State: "all", Direction: "asc"}, []int{1, 2, 3}},
		{gh.PullRequestListOptions{State: "all", Sort: "updated"}, []int{2, 3, 1}}, // asc unless asked
		{gh.PullRequestListOptions{State: "all", Sort: "updated", Direction: "desc"}, []int{1, 3, 2}},
	} {
		if got := numbers(t, c, &tc.opts); !slices.Equal(got, tc.want) {
			t.Errorf("List(%+v) = %v, want %v", tc.opts, got, tc.want)
		}
	}

	// Each item has its own state, as pulls/N has, less what only a
	// single pull request shows.
	all, resp, err := c.PullRequests.List(context.Background(), owner, name, &gh.PullRequestListOptions{State: "all", ListOptions: gh.ListOptions{PerPage: 1}})
	if err != nil || len(all) != 1 || resp.LastPage != 3 || resp.NextPage != 2 {
		t.Fatalf("List(per_page=1) = %d pulls, last page %d, next %d, %v", len(all), resp.LastPage, resp.NextPage, err)
	}
	one, _, err := c.PullRequests.Get(context.Background(), owner, name, 1)
	if err != nil {
		t.Fatal(err)
	}
	listed := pullsByNumber(t, c, 3)[1]
	if listed.GetState() != "closed" || !listed.GetClosedAt().Equal(one.GetClosedAt()) || listed.GetClosedAt().IsZero() ||
		!listed.GetUpdatedAt().Equal(one.GetUpdatedAt()) || !listed.GetUpdatedAt().After(listed.GetCreatedAt().Time) ||
		listed.GetHead().GetSHA() != one.GetHead().GetSHA() || listed.Mergeable != nil || one.Mergeable == nil {
		t.Errorf("listed #1 = %s\nGet #1 = %s", gh.Stringify(listed), gh.Stringify(one))
	}
	if _, resp, err := c.PullRequests.List(context.Background(), owner, name, &gh.PullRequestListOptions{State: "merged"}); resp == nil || resp.StatusCode != 422 {
		t.Errorf("List(state=merged) = %v, want 422", err)
	}
}

// pullsByNumber reads pages 1 to n of all pull requests, one a page, and
// returns them by number.
func pullsByNumber(t *testing.T, c *gh.Client, n int) map[int]*gh.PullRequest {
	t.Helper()
	owner, name, _ := strings.Cut(repoName, "/")
	out := map[int]*gh.PullRequest{}
	for page := 1; page <= n; page++ {
		opts := &gh.PullRequestListOptions{State: "all", ListOptions: gh.ListOptions{PerPage: 1, Page: page}}
		pulls, _, err := c.PullRequests.List(context.Background(), owner, name, opts)
		if err != nil || len(pulls) != 1 {
			t.Fatalf("page %d: %d pulls, %v", page, len(pulls), err)
		}
		out[pulls[0].GetNumber()] = pulls[0]
	}
	return out
}

func TestListRepoComments(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	ctx := context.Background()
	owner, name, _ := strings.Cut(repoName, "/")
	target, got := receiver(t, "")

	atoll, _, err := c.Issues.CreateComment(ctx, owner, name, 1, &gh.IssueComment{Body: gh.String("Plan: 1 to add")})
	if err != nil {
		t.Fatal(err)
	}
	bob := g.PostComment(t, p, "bob", "atoll apply")
	g.SendIssueComment(t, target, repoName, 7, "carol", "not a pull request")
	<-got
	nextSecond()
	since := time.Now()
	g.EditComment(t, repoName, 1, atoll.GetID(), "Plan: 2 to add")

	all, _, err := c.Issues.ListComments(ctx, owner, name, 0, nil)
	if err != nil || len(all) != 3 {
		t.Fatalf("ListComments = %d comments, %v; want 3", len(all), err)
	}
	pullURL := regexp.MustCompile(`/` + regexp.QuoteMeta(repoName) + `/pull/1#issuecomment-\d+$`)
	issueURL := regexp.MustCompile(`/` + regexp.QuoteMeta(repoName) + `/issues/7#issuecomment-\d+$`)
	if a := all[0]; a.GetID() != atoll.GetID() || a.GetUser().GetLogin() != "atoll-bot" || a.GetBody() != "Plan: 2 to add" ||
		!pullURL.MatchString(a.GetHTMLURL()) || !strings.HasSuffix(a.GetIssueURL(), "/issues/1") || a.GetNodeID() == "" ||
		!a.GetCreatedAt().Equal(atoll.GetCreatedAt()) || !a.GetUpdatedAt().After(a.GetCreatedAt().Time) {
		t.Errorf("atoll's comment = %s", gh.Stringify(a))
	}
	if b := all[1]; b.GetID() != bob || b.GetUser().GetLogin() != "bob" || !pullURL.MatchString(b.GetHTMLURL()) {
		t.Errorf("bob's comment = %s", gh.Stringify(b))
	}
	if i := all[2]; i.GetUser().GetLogin() != "carol" || !issueURL.MatchString(i.GetHTMLURL()) || !strings.HasSuffix(i.GetIssueURL(), "/issues/7") {
		t.Errorf("the plain issue's comment = %s", gh.Stringify(i))
	}

	// since keeps the comments updated at or after it: the edited one.
	edited, _, err := c.Issues.ListComments(ctx, owner, name, 0, &gh.IssueListCommentsOptions{Since: &since})
	if err != nil || len(edited) != 1 || edited[0].GetID() != atoll.GetID() {
		t.Errorf("ListComments(since) = %d comments, %v; want atoll's edited one", len(edited), err)
	}
	byUpdate, _, err := c.Issues.ListComments(ctx, owner, name, 0, &gh.IssueListCommentsOptions{Sort: gh.String("updated"), Direction: gh.String("desc")})
	if err != nil || len(byUpdate) != 3 || byUpdate[0].GetID() != atoll.GetID() || byUpdate[1].GetID() <= byUpdate[2].GetID() {
		t.Errorf("ListComments(sort=updated, desc) = %v, %v", commentIDs(byUpdate), err)
	}
	page, resp, err := c.Issues.ListComments(ctx, owner, name, 0, &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 2, Page: 2}})
	if err != nil || len(page) != 1 || resp.PrevPage != 1 || resp.NextPage != 0 || page[0].GetUser().GetLogin() != "carol" {
		t.Errorf("ListComments(page 2 of 2) = %v, prev %d, next %d, %v", commentIDs(page), resp.PrevPage, resp.NextPage, err)
	}
	if c := g.Comments(repoName, 1); len(c) != 1 || c[0].ID != atoll.GetID() {
		t.Errorf("Comments = %+v; want atoll's alone", c)
	}
}

func commentIDs(cs []*gh.IssueComment) []int64 {
	var out []int64
	for _, c := range cs {
		out = append(out, c.GetID())
	}
	return out
}

// Act, PostComment and EditComment change what the API says of a pull
// request's updated_at, as GitHub's own events do.
func TestActTouches(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	ctx := context.Background()
	owner, name, _ := strings.Cut(repoName, "/")
	p2 := g.OpenPull(t, repoName, vcstest.PullSpec{Files: map[string]string{"x.tf": ""}})
	p3 := g.OpenPull(t, repoName, vcstest.PullSpec{Files: map[string]string{"y.tf": ""}})
	old := g.PostComment(t, p3, "bob", "first")
	nextSecond()

	if d := g.Act(t, "converted_to_draft", p); !d.Draft || !g.Pull(repoName, 1).Draft {
		t.Errorf("Act(converted_to_draft) = %+v", d)
	}
	g.PostComment(t, p2, "bob", "second")
	g.EditComment(t, repoName, 3, old, "first, edited")

	for n, moved := range map[int]bool{1: true, 2: true, 3: false} {
		pr, _, err := c.PullRequests.Get(ctx, owner, name, n)
		if err != nil {
			t.Fatal(err)
		}
		if got := pr.GetUpdatedAt().After(pr.GetCreatedAt().Time); got != moved {
			t.Errorf("#%d: updated_at %v, created_at %v; moved %v, want %v", n, pr.GetUpdatedAt(), pr.GetCreatedAt(), got, moved)
		}
	}
	cm, _, err := c.Issues.GetComment(ctx, owner, name, old)
	if err != nil || cm.GetBody() != "first, edited" || !cm.GetUpdatedAt().After(cm.GetCreatedAt().Time) {
		t.Errorf("edited comment = %s, %v", gh.Stringify(cm), err)
	}
	if ready := g.Act(t, "ready_for_review", p); ready.Draft {
		t.Errorf("Act(ready_for_review) = %+v", ready)
	}
	if re := g.Act(t, "reopened", g.Act(t, "closed", p)); !re.Open {
		t.Errorf("Act(reopened) = %+v", re)
	}
}

func TestUserRepos(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitHub(t, vcstest.GitHubOptions{})
	for _, r := range []string{"zeta/infra", "acme/infra", "acme/hidden", "beta/infra"} {
		g.CreateRepo(t, r, nil)
	}
	g.SetPermission("acme/hidden", g.BotLogin(), "none")
	g.SetPermission("beta/infra", g.BotLogin(), "read")
	c := newClient(t, g, g.Token())

	var names []string
	var perms []string
	opts := &gh.RepositoryListByAuthenticatedUserOptions{ListOptions: gh.ListOptions{PerPage: 2}}
	for {
		repos, resp, err := c.Repositories.ListByAuthenticatedUser(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range repos {
			names = append(names, r.GetFullName())
			perms = append(perms, fmt.Sprint(r.GetPermissions()["push"]))
			if r.GetName() == "" || r.GetOwner().GetLogin()+"/"+r.GetName() != r.GetFullName() ||
				r.GetCloneURL() != g.CloneURL(r.GetFullName()) || r.GetHTMLURL() != g.URL()+"/"+r.GetFullName() || r.Private == nil {
				t.Errorf("repository = %s", gh.Stringify(r))
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if want := []string{"acme/infra", "beta/infra", "zeta/infra"}; !slices.Equal(names, want) {
		t.Errorf("ListByAuthenticatedUser = %q, want %q", names, want)
	}
	if want := []string{"true", "false", "true"}; !slices.Equal(perms, want) {
		t.Errorf("permissions.push = %q, want %q", perms, want)
	}
}

func TestReactions(t *testing.T) {
	t.Parallel()
	g, _ := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	ctx := context.Background()
	owner, name, _ := strings.Cut(repoName, "/")
	cm, _, err := c.Issues.CreateComment(ctx, owner, name, 1, &gh.IssueComment{Body: gh.String("atoll plan")})
	if err != nil {
		t.Fatal(err)
	}
	react := func(content string) (*gh.Reaction, int) {
		t.Helper()
		re, resp, _ := c.Reactions.CreateIssueCommentReaction(ctx, owner, name, cm.GetID(), content)
		if resp == nil {
			t.Fatalf("react %s: no answer", content)
		}
		return re, resp.StatusCode
	}
	eyes, status := react("eyes")
	if status != http.StatusCreated || eyes.GetContent() != "eyes" || eyes.GetUser().GetLogin() != "atoll-bot" || eyes.GetID() == 0 {
		t.Errorf("first eyes: %d %s", status, gh.Stringify(eyes))
	}
	if again, status := react("eyes"); status != http.StatusOK || again.GetID() != eyes.GetID() {
		t.Errorf("eyes again: %d %s; want 200 and the same reaction", status, gh.Stringify(again))
	}
	if _, status := react("+1"); status != http.StatusCreated {
		t.Errorf("+1: %d, want 201", status)
	}
	if _, status := react("thumbsup"); status != http.StatusUnprocessableEntity {
		t.Errorf("thumbsup: %d, want 422", status)
	}
	if _, resp, _ := c.Reactions.CreateIssueCommentReaction(ctx, owner, name, 999, "eyes"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("reaction to an unknown comment: %d, want 404", resp.StatusCode)
	}
	if got := g.Reactions(repoName, cm.GetID()); !slices.Equal(got, []string{"eyes", "+1"}) {
		t.Errorf("Reactions = %q, want [eyes +1]", got)
	}
}

// A GET answered 200 carries a strong ETag; asked again with it, the fake
// answers 304, which GitHub's rate limit does not count, until the answer
// changes.
func TestGitHubETag(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	get := func(etag string) (*gh.Response, error) {
		t.Helper()
		req, err := c.NewRequest("GET", "repos/"+repoName+"/pulls?state=all", nil)
		if err != nil {
			t.Fatal(err)
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		var pulls []*gh.PullRequest
		return c.Do(context.Background(), req, &pulls)
	}
	first, err := get("")
	etag := first.Header.Get("ETag")
	if err != nil || !regexp.MustCompile(`^"[0-9a-f]{64}"$`).MatchString(etag) {
		t.Fatalf("first GET: ETag %q, %v", etag, err)
	}
	for _, tag := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		resp, err := get(tag)
		var errResp *gh.ErrorResponse
		if resp.StatusCode != http.StatusNotModified || !errors.As(err, &errResp) || resp.Header.Get("ETag") != etag ||
			resp.Rate.Remaining != first.Rate.Remaining || resp.Header.Get("Content-Type") != "" {
			t.Errorf("If-None-Match %s: %d, ETag %q, remaining %d (first %d), %v", tag, resp.StatusCode, resp.Header.Get("ETag"), resp.Rate.Remaining, first.Rate.Remaining, err)
		}
	}
	if resp, err := get(`"stale"`); err != nil || resp.StatusCode != http.StatusOK || resp.Rate.Remaining != first.Rate.Remaining-1 {
		t.Errorf("another ETag: %d, remaining %d, %v; want 200 counted", resp.StatusCode, resp.Rate.Remaining, err)
	}
	nextSecond() // a touch within the second might leave updated_at as it was
	g.PostComment(t, p, "bob", "a comment touches the pull request")
	if resp, err := get(etag); err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
		t.Errorf("after a change: %d, ETag %q, %v; want 200 and a new ETag", resp.StatusCode, resp.Header.Get("ETag"), err)
	}
	// A POST carries no ETag.
	_, resp, err := c.Issues.CreateComment(context.Background(), "acme", "infra.live", 1, &gh.IssueComment{Body: gh.String("x")})
	if err != nil || resp.Header.Get("ETag") != "" {
		t.Errorf("POST answer ETag %q, %v", resp.Header.Get("ETag"), err)
	}
	if s := g.APIStats(); s.NotModified != 4 || s.Requests != 8 || s.Limited != 0 {
		t.Errorf("APIStats = %+v, want 8 requests, 4 not modified", s)
	}
}

func TestGitHubRateLimit(t *testing.T) {
	t.Parallel()
	g, _ := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	ctx := context.Background()

	_, resp, err := c.Users.Get(ctx, "")
	if err != nil || resp.Rate.Limit != 5000 || resp.Rate.Remaining != 4999 || resp.Header.Get("X-RateLimit-Used") != "1" ||
		resp.Header.Get("X-RateLimit-Resource") != "core" || time.Until(resp.Rate.Reset.Time) < 59*time.Minute {
		t.Fatalf("first answer: rate %+v, headers %v, %v", resp.Rate, resp.Header, err)
	}
	reset := time.Now().Add(time.Second).Truncate(time.Second).Add(time.Second) // 1 to 2s away
	g.SetRateLimit(1, reset)
	if _, resp, err := c.Users.Get(ctx, ""); err != nil || resp.Rate.Remaining != 0 || !resp.Rate.Reset.Time.Equal(reset) {
		t.Fatalf("last request of the window: rate %+v, %v", resp.Rate, err)
	}
	// A client that has not heard asks, and is refused as GitHub refuses.
	_, resp, err = newClient(t, g, g.Token()).Users.Get(ctx, "")
	var rl *gh.RateLimitError
	if !errors.As(err, &rl) || resp.StatusCode != http.StatusForbidden || rl.Rate.Remaining != 0 || !rl.Rate.Reset.Time.Equal(reset) ||
		!strings.HasPrefix(rl.Message, "API rate limit exceeded for user ID ") {
		t.Errorf("spent: %v (%T); want a *github.RateLimitError", err, err)
	}
	// One that has heard does not ask.
	if _, _, err := c.Users.Get(ctx, ""); !errors.As(err, &rl) {
		t.Errorf("spent, the client that heard: %v; want a *github.RateLimitError", err)
	}
	// git is not rate limited.
	if out, err := git(t, "", "-c", authConfig(g), "ls-remote", g.CloneURL(repoName), "main"); err != nil {
		t.Errorf("ls-remote while rate limited: %v\n%s", err, out)
	}
	if s := g.APIStats(); s.Requests != 3 || s.Limited != 1 {
		t.Errorf("APIStats = %+v; want 3 requests, 1 limited", s)
	}

	time.Sleep(time.Until(reset))
	if _, resp, err := c.Users.Get(ctx, ""); err != nil || resp.Rate.Remaining != 4999 || time.Until(resp.Rate.Reset.Time) < 59*time.Minute {
		t.Errorf("after the reset: rate %+v, %v; want a new hour's window", resp.Rate, err)
	}
}
