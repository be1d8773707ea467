package vcstest_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	gh "github.com/google/go-github/v60/github"
	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// TestGitHubIssues opens, lists and edits issues through the API: their
// numbers follow on from the pull requests', the list shows pull
// requests too, and the routes beside them (issues/N/comments,
// issues/comments/ID) still answer.
func TestGitHubIssues(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	ctx := context.Background()
	owner, name, _ := strings.Cut(repoName, "/")

	is, resp, err := c.Issues.Create(ctx, owner, name, &gh.IssueRequest{
		Title: gh.String("Drift"), Body: gh.String("- prod"), Labels: &[]string{"atoll-drift", "infra"},
	})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("Create = %v, %v", resp, err)
	}
	if is.GetNumber() != p.Number+1 || is.GetUser().GetLogin() != g.BotLogin() || is.GetState() != "open" ||
		len(is.Labels) != 2 || is.GetHTMLURL() != g.URL()+"/"+repoName+"/issues/"+strconv.Itoa(p.Number+1) || is.IsPullRequest() {
		t.Errorf("created issue = %s", gh.Stringify(is))
	}
	if next := g.OpenPull(t, repoName, vcstest.PullSpec{}); next.Number != is.GetNumber()+1 {
		t.Errorf("the pull request after issue %d is #%d", is.GetNumber(), next.Number)
	}
	byAlice := g.OpenIssue(t, repoName, vcstest.IssueSpec{Author: "alice", Labels: []string{"infra"}})
	if byAlice.Number != is.GetNumber()+2 || byAlice.Title != "Issue #"+strconv.Itoa(byAlice.Number) {
		t.Errorf("OpenIssue = %+v", byAlice)
	}
	g.LabelPull(repoName, p.Number, "infra")

	// The comments' routes are not the issues'.
	cm, _, err := c.Issues.CreateComment(ctx, owner, name, is.GetNumber(), &gh.IssueComment{Body: gh.String("still drifting")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Issues.EditComment(ctx, owner, name, cm.GetID(), &gh.IssueComment{Body: gh.String("still drifting, twice")}); err != nil {
		t.Errorf("EditComment: %v", err)
	}
	if got, _, err := c.Issues.GetComment(ctx, owner, name, cm.GetID()); err != nil || !strings.HasSuffix(got.GetIssueURL(), "/issues/"+strconv.Itoa(is.GetNumber())) {
		t.Errorf("GetComment = %v, %v", got, err)
	}
	closed, _, err := c.Issues.Edit(ctx, owner, name, is.GetNumber(), &gh.IssueRequest{Title: gh.String("No drift"), State: gh.String("closed")})
	if err != nil || closed.GetState() != "closed" || closed.GetStateReason() != "completed" || closed.ClosedAt == nil ||
		closed.GetTitle() != "No drift" || closed.GetBody() != "- prod" || closed.GetComments() != 1 {
		t.Errorf("Edit to close = %s, %v", gh.Stringify(closed), err)
	}

	for _, tt := range []struct {
		query *gh.IssueListByRepoOptions
		want  []int // numbers, pull requests negative
	}{
		{&gh.IssueListByRepoOptions{}, []int{byAlice.Number, -p.Number - 2, -p.Number}},
		{&gh.IssueListByRepoOptions{State: "all", Direction: "asc"}, []int{-p.Number, is.GetNumber(), -p.Number - 2, byAlice.Number}},
		{&gh.IssueListByRepoOptions{State: "closed"}, []int{is.GetNumber()}},
		{&gh.IssueListByRepoOptions{State: "all", Labels: []string{"infra"}}, []int{byAlice.Number, is.GetNumber(), -p.Number}},
		{&gh.IssueListByRepoOptions{State: "all", Labels: []string{"INFRA", "atoll-drift"}}, []int{is.GetNumber()}},
		{&gh.IssueListByRepoOptions{State: "all", Creator: "alice"}, []int{byAlice.Number, -p.Number}},
		{&gh.IssueListByRepoOptions{State: "all", Creator: g.BotLogin()}, []int{is.GetNumber()}},
	} {
		list, _, err := c.Issues.ListByRepo(ctx, owner, name, tt.query)
		var got []int
		for _, is := range list {
			n := is.GetNumber()
			if is.IsPullRequest() {
				n = -n
			}
			got = append(got, n)
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ListByRepo(%+v) = %v, %v; want %v", tt.query, got, err, tt.want)
		}
	}

	for _, tt := range []struct {
		name string
		call func() (*gh.Response, error)
		want int
	}{
		{"no title", func() (*gh.Response, error) {
			_, resp, err := c.Issues.Create(ctx, owner, name, &gh.IssueRequest{Body: gh.String("b")})
			return resp, err
		}, http.StatusUnprocessableEntity},
		{"bad state", func() (*gh.Response, error) {
			_, resp, err := c.Issues.Edit(ctx, owner, name, byAlice.Number, &gh.IssueRequest{State: gh.String("gone")})
			return resp, err
		}, http.StatusUnprocessableEntity},
		{"a pull request", func() (*gh.Response, error) {
			_, resp, err := c.Issues.Edit(ctx, owner, name, p.Number, &gh.IssueRequest{Title: gh.String("t")})
			return resp, err
		}, http.StatusNotFound},
		{"no such issue", func() (*gh.Response, error) {
			_, resp, err := c.Issues.Edit(ctx, owner, name, 99, &gh.IssueRequest{Title: gh.String("t")})
			return resp, err
		}, http.StatusNotFound},
		{"bad sort", func() (*gh.Response, error) {
			_, resp, err := c.Issues.ListByRepo(ctx, owner, name, &gh.IssueListByRepoOptions{Sort: "votes"})
			return resp, err
		}, http.StatusUnprocessableEntity},
	} {
		if resp, err := tt.call(); err == nil || resp == nil || resp.StatusCode != tt.want {
			t.Errorf("%s: %v; want %d", tt.name, err, tt.want)
		}
	}

	got := g.Issues(repoName)
	want := []vcstest.Issue{
		{Number: is.GetNumber(), Title: "No drift", Body: "- prod", Author: g.BotLogin(), Labels: []string{"atoll-drift", "infra"},
			Comments: []string{"still drifting, twice"}},
		{Number: byAlice.Number, Title: byAlice.Title, Author: "alice", Labels: []string{"infra"}, Open: true},
	}
	if !slices.EqualFunc(got, want, issueEqual) {
		t.Errorf("Issues = %+v\nwant %+v", got, want)
	}
	if u := g.Unhandled(); len(u) != 0 {
		t.Errorf("unhandled: %v", u)
	}
}

// TestGitLabIssues opens, lists and edits issues through the API, with
// iids of their own, and notes on them.
func TestGitLabIssues(t *testing.T) {
	t.Parallel()
	g, _ := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())

	is, resp, err := c.Issues.CreateIssue(glRepo, &gl.CreateIssueOptions{
		Title: gl.Ptr("Drift"), Description: gl.Ptr("- prod"), Labels: &gl.LabelOptions{"atoll-drift", "infra"},
	})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("CreateIssue = %v, %v", resp, err)
	}
	if is.IID != 1 || is.ID == 0 || is.Author == nil || is.Author.Username != g.BotLogin() || is.State != "opened" ||
		!slices.Equal(is.Labels, []string{"atoll-drift", "infra"}) || is.WebURL != g.URL()+"/"+glRepo+"/-/issues/1" ||
		is.References == nil || is.References.Full != glRepo+"#1" || is.CreatedAt == nil {
		t.Errorf("created issue = %+v", is)
	}
	byAlice := g.OpenIssue(t, glRepo, vcstest.IssueSpec{Author: "alice", Labels: []string{"infra"}})
	if byAlice.Number != 2 {
		t.Errorf("OpenIssue = %+v; want iid 2", byAlice)
	}
	n, _, err := c.Notes.CreateIssueNote(glRepo, 1, &gl.CreateIssueNoteOptions{Body: gl.Ptr("still drifting")})
	if err != nil || n.NoteableType != "Issue" || n.NoteableIID != 1 || n.NoteableID != is.ID || n.Author.Username != g.BotLogin() {
		t.Errorf("CreateIssueNote = %+v, %v", n, err)
	}
	closed, _, err := c.Issues.UpdateIssue(glRepo, 1, &gl.UpdateIssueOptions{Title: gl.Ptr("No drift"), StateEvent: gl.Ptr("close")})
	if err != nil || closed.State != "closed" || closed.ClosedAt == nil || closed.ClosedBy == nil || closed.Title != "No drift" ||
		closed.Description != "- prod" || closed.UserNotesCount != 1 {
		t.Errorf("UpdateIssue to close = %+v, %v", closed, err)
	}
	if again, _, err := c.Issues.UpdateIssue(glRepo, 1, &gl.UpdateIssueOptions{StateEvent: gl.Ptr("close")}); err != nil || again.State != "closed" {
		t.Errorf("closing a closed issue = %+v, %v; want nothing done", again, err)
	}

	aliceID := int(g.UserID("alice"))
	for _, tt := range []struct {
		query *gl.ListProjectIssuesOptions
		want  []int
	}{
		{&gl.ListProjectIssuesOptions{}, []int{2, 1}},
		{&gl.ListProjectIssuesOptions{State: gl.Ptr("opened")}, []int{2}},
		{&gl.ListProjectIssuesOptions{State: gl.Ptr("closed")}, []int{1}},
		{&gl.ListProjectIssuesOptions{Sort: gl.Ptr("asc")}, []int{1, 2}},
		{&gl.ListProjectIssuesOptions{Labels: &gl.LabelOptions{"infra"}}, []int{2, 1}},
		{&gl.ListProjectIssuesOptions{Labels: &gl.LabelOptions{"infra", "atoll-drift"}}, []int{1}},
		{&gl.ListProjectIssuesOptions{AuthorUsername: gl.Ptr(g.BotLogin())}, []int{1}},
		{&gl.ListProjectIssuesOptions{AuthorID: &aliceID}, []int{2}},
	} {
		list, _, err := c.Issues.ListProjectIssues(glRepo, tt.query)
		var got []int
		for _, is := range list {
			got = append(got, is.IID)
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ListProjectIssues(%+v) = %v, %v; want %v", tt.query, got, err, tt.want)
		}
	}

	for _, tt := range []struct {
		name string
		call func() (*gl.Response, error)
		want int
	}{
		{"no title", func() (*gl.Response, error) {
			_, resp, err := c.Issues.CreateIssue(glRepo, &gl.CreateIssueOptions{Description: gl.Ptr("b")})
			return resp, err
		}, http.StatusBadRequest},
		{"bad state event", func() (*gl.Response, error) {
			_, resp, err := c.Issues.UpdateIssue(glRepo, 2, &gl.UpdateIssueOptions{StateEvent: gl.Ptr("gone")})
			return resp, err
		}, http.StatusBadRequest},
		{"no such issue", func() (*gl.Response, error) {
			_, resp, err := c.Issues.UpdateIssue(glRepo, 9, &gl.UpdateIssueOptions{Title: gl.Ptr("t")})
			return resp, err
		}, http.StatusNotFound},
		{"note on no such issue", func() (*gl.Response, error) {
			_, resp, err := c.Notes.CreateIssueNote(glRepo, 9, &gl.CreateIssueNoteOptions{Body: gl.Ptr("b")})
			return resp, err
		}, http.StatusNotFound},
		{"bad state", func() (*gl.Response, error) {
			_, resp, err := c.Issues.ListProjectIssues(glRepo, &gl.ListProjectIssuesOptions{State: gl.Ptr("open")})
			return resp, err
		}, http.StatusBadRequest},
	} {
		resp, err := tt.call()
		if got := glStatus(t, resp, err); got != tt.want {
			t.Errorf("%s: %d, %v; want %d", tt.name, got, err, tt.want)
		}
	}

	got := g.Issues(glRepo)
	want := []vcstest.Issue{
		{Number: 1, Title: "No drift", Body: "- prod", Author: g.BotLogin(), Labels: []string{"atoll-drift", "infra"},
			Comments: []string{"still drifting"}},
		{Number: 2, Title: "Issue #2", Author: "alice", Labels: []string{"infra"}, Open: true},
	}
	if !slices.EqualFunc(got, want, issueEqual) {
		t.Errorf("Issues = %+v\nwant %+v", got, want)
	}
	if g.Comments(glRepo, 1) != nil {
		t.Errorf("the issue's note shows on merge request !1")
	}
	if u := g.Unhandled(); len(u) != 0 {
		t.Errorf("unhandled: %v", u)
	}
}

// issueEqual reports whether two issues say the same.
func issueEqual(a, b vcstest.Issue) bool {
	return a.Number == b.Number && a.Title == b.Title && a.Body == b.Body && a.Author == b.Author && a.Open == b.Open &&
		slices.Equal(a.Labels, b.Labels) && slices.Equal(a.Comments, b.Comments)
}
