package vcstest_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

const repoName = "acme/infra.live" // a dot, as real names may have

// newFixture is a fake with one repository and one pull request that
// modifies, adds, removes and renames a file.
func newFixture(t *testing.T, opts vcstest.GitHubOptions) (*vcstest.GitHub, vcstest.Pull) {
	t.Helper()
	g := vcstest.NewGitHub(t, opts)
	g.CreateRepo(t, repoName, map[string]string{
		"main.tf":            "resource \"terraform_data\" \"a\" {}\n",
		"modules/old/old.tf": "locals {\n  x = 1\n  y = 2\n}\n",
		"gone.tf":            "output \"z\" { value = 1 }\n",
	})
	p := g.OpenPull(t, repoName, vcstest.PullSpec{
		Author: "alice",
		Files: map[string]string{
			"main.tf":            "resource \"terraform_data\" \"a\" {}\nresource \"terraform_data\" \"b\" {}\n",
			"envs/prod/new.tf":   "",
			"modules/new/old.tf": "locals {\n  x = 1\n  y = 2\n}\n",
		},
		Delete: []string{"gone.tf", "modules/old/old.tf"},
	})
	return g, p
}

func newClient(t *testing.T, g *vcstest.GitHub, token string) *gh.Client {
	t.Helper()
	base, err := url.Parse(g.APIURL())
	if err != nil {
		t.Fatal(err)
	}
	c := gh.NewClient(nil).WithAuthToken(token)
	c.BaseURL = base
	return c
}

func TestAPI(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	ctx := context.Background()
	owner, name, _ := strings.Cut(repoName, "/")

	if p.Number != 1 || p.Branch != "pr-1" || p.Author != "alice" || !p.Open || len(p.HeadSHA) != 40 {
		t.Fatalf("OpenPull = %+v", p)
	}

	u, _, err := c.Users.Get(ctx, "")
	if err != nil || u.GetLogin() != "atoll-bot" {
		t.Fatalf("Users.Get = %v, %v; want atoll-bot", u.GetLogin(), err)
	}

	pr, _, err := c.PullRequests.Get(ctx, owner, name, 1)
	if err != nil {
		t.Fatal(err)
	}
	if pr.GetNumber() != 1 || pr.GetState() != "open" || pr.GetDraft() || pr.GetMerged() ||
		pr.GetUser().GetLogin() != "alice" || pr.GetHead().GetSHA() != p.HeadSHA ||
		pr.GetHead().GetRef() != "pr-1" || pr.GetBase().GetRef() != "main" || len(pr.GetBase().GetSHA()) != 40 ||
		pr.GetBase().GetRepo().GetFullName() != repoName || pr.GetBase().GetRepo().GetCloneURL() != g.CloneURL(repoName) {
		t.Errorf("PullRequests.Get = %s", gh.Stringify(pr))
	}
	if _, resp, err := c.PullRequests.Get(ctx, owner, name, 9); resp == nil || resp.StatusCode != 404 {
		t.Errorf("PullRequests.Get(9) = %v, %v; want 404", resp, err)
	}

	// One file a page: the Link header chains the pages.
	var got []string
	var nexts []int
	opts := &gh.ListOptions{PerPage: 1}
	for {
		files, resp, err := c.PullRequests.ListFiles(ctx, owner, name, 1, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 1 {
			t.Fatalf("page %d has %d files", opts.Page, len(files))
		}
		if opts.Page == 0 && resp.LastPage != 4 {
			t.Errorf("LastPage = %d, want 4", resp.LastPage)
		}
		f := files[0]
		got = append(got, f.GetStatus()+" "+f.GetPreviousFilename()+" "+f.GetFilename())
		if f.GetFilename() == "main.tf" && (f.GetAdditions() != 1 || f.GetDeletions() != 0 || f.GetChanges() != 1) {
			t.Errorf("main.tf counts = %s", gh.Stringify(f))
		}
		nexts = append(nexts, resp.NextPage)
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	want := []string{"added  envs/prod/new.tf", "removed  gone.tf", "modified  main.tf", "renamed modules/old/old.tf modules/new/old.tf"}
	if !slices.Equal(got, want) || !slices.Equal(nexts, []int{2, 3, 4, 0}) {
		t.Errorf("ListFiles pages = %q, next pages %v; want %q, [2 3 4 0]", got, nexts, want)
	}

	// Comments: create, edit, and a body over GitHub's limit.
	cm, resp, err := c.Issues.CreateComment(ctx, owner, name, 1, &gh.IssueComment{Body: gh.String("Plan: 1 to add")})
	if err != nil || resp.StatusCode != 201 || cm.GetUser().GetLogin() != "atoll-bot" || cm.GetID() == 0 {
		t.Fatalf("CreateComment = %s, %v", gh.Stringify(cm), err)
	}
	if _, _, err := c.Issues.EditComment(ctx, owner, name, cm.GetID(), &gh.IssueComment{Body: gh.String("No changes.")}); err != nil {
		t.Fatal(err)
	}
	if got := writtenNow(t, g.Comments(repoName, 1)); len(got) != 1 || got[0] != (vcstest.Comment{ID: cm.GetID(), Author: "atoll-bot", Body: "No changes.", Edits: 1}) {
		t.Errorf("Comments = %+v", got)
	}
	_, _, err = c.Issues.CreateComment(ctx, owner, name, 1, &gh.IssueComment{Body: gh.String(strings.Repeat("é", 70000))})
	var errResp *gh.ErrorResponse
	if !errors.As(err, &errResp) || errResp.Response.StatusCode != 422 || len(errResp.Errors) != 1 ||
		errResp.Errors[0].Field != "body" || errResp.Errors[0].Message != "body is too long (maximum is 65536 characters)" {
		t.Errorf("CreateComment(70000 chars) error = %v", err)
	}
	if _, resp, _ := c.Issues.EditComment(ctx, owner, name, 999, &gh.IssueComment{Body: gh.String("x")}); resp.StatusCode != 404 {
		t.Errorf("EditComment(unknown) = %d, want 404", resp.StatusCode)
	}

	// Statuses: history per context, latest per context.
	const ctxName = "atoll/plan: ./default"
	for _, state := range []string{"pending", "success"} {
		s := &gh.RepoStatus{State: gh.String(state), Context: gh.String(ctxName), Description: gh.String("plan " + state)}
		if _, resp, err := c.Repositories.CreateStatus(ctx, owner, name, p.HeadSHA, s); err != nil || resp.StatusCode != 201 {
			t.Fatalf("CreateStatus(%s) = %v", state, err)
		}
	}
	if h := g.StatusHistory(repoName, p.HeadSHA, ctxName); !slices.Equal(h, []string{"pending", "success"}) {
		t.Errorf("StatusHistory = %q", h)
	}
	if s := g.Statuses(repoName, p.HeadSHA); len(s) != 1 || s[0].State != "success" || s[0].Description != "plan success" {
		t.Errorf("Statuses = %+v", s)
	}
	for _, bad := range []struct{ sha, state string }{{p.HeadSHA, "done"}, {strings.Repeat("0", 40), "success"}} {
		s := &gh.RepoStatus{State: gh.String(bad.state), Context: gh.String(ctxName)}
		if _, resp, _ := c.Repositories.CreateStatus(ctx, owner, name, bad.sha, s); resp.StatusCode != 422 {
			t.Errorf("CreateStatus(%s, %s) = %d, want 422", bad.sha, bad.state, resp.StatusCode)
		}
	}

	// A new commit is a new head.
	p2 := g.PushToPull(t, repoName, 1, map[string]string{"main.tf": "# rewritten\n"})
	if p2.HeadSHA == p.HeadSHA || g.Pull(repoName, 1).HeadSHA != p2.HeadSHA {
		t.Errorf("PushToPull head %s, Pull head %s, old head %s", p2.HeadSHA, g.Pull(repoName, 1).HeadSHA, p.HeadSHA)
	}

	// Wrong token; unknown endpoint.
	_, _, err = newClient(t, g, "wrong").Users.Get(ctx, "")
	if !errors.As(err, &errResp) || errResp.Response.StatusCode != 401 || errResp.Message != "Bad credentials" {
		t.Errorf("Users.Get with a wrong token: %v", err)
	}
	if _, resp, _ := c.Issues.ListComments(ctx, owner, name, 1, nil); resp.StatusCode != 404 {
		t.Errorf("ListComments = %d, want 404", resp.StatusCode)
	}
	if u := g.Unhandled(); !slices.Equal(u, []string{"GET /api/v3/repos/acme/infra.live/issues/1/comments"}) {
		t.Errorf("Unhandled = %q", u)
	}
}

func TestWaitFor(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitHub(t, vcstest.GitHubOptions{})
	start := time.Now()
	calls := 0
	g.WaitFor(t, time.Second, "a moment", func() bool { calls++; return time.Since(start) > 50*time.Millisecond })
	if waited := time.Since(start); waited < 50*time.Millisecond || calls < 2 {
		t.Errorf("WaitFor returned after %v and %d looks, before its condition held", waited, calls)
	}
	// A condition that never holds fails the test, saying what it waited
	// for.
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.WaitFor(ft, 100*time.Millisecond, "the impossible", func() bool { return false })
	}()
	<-done
	if !strings.Contains(ft.fatal, "timed out after 100ms waiting for the impossible") {
		t.Errorf("WaitFor on a condition that never holds: Fatalf(%q)", ft.fatal)
	}
}

// fatalTB records what Fatalf says, and stops its goroutine as the
// testing package's does.
type fatalTB struct {
	testing.TB
	fatal string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// writtenNow checks that each comment was written within the last minute
// and returns them with Written cleared, for comparing.
func writtenNow(t *testing.T, cs []vcstest.Comment) []vcstest.Comment {
	t.Helper()
	for i, c := range cs {
		if time.Since(c.Written) > time.Minute || time.Until(c.Written) > 0 {
			t.Errorf("comment %d written at %v, not just now", c.ID, c.Written)
		}
		cs[i].Written = time.Time{}
	}
	return cs
}
