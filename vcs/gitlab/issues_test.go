package gitlab

import (
	"errors"
	"slices"
	"testing"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// TestIssues keeps a drift report through its life: it finds none,
// opens one, finds it among issues that carry its label but are not its
// own, edits it, closes it with a note, and reopens it by an edit.
func TestIssues(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitLab(t, vcstest.GitLabOptions{Token: "glpat-issues"})
	g.CreateRepo(t, "acme/sub/infra", map[string]string{"main.tf": "locals {}\n"})
	f, err := New(Config{Token: "glpat-issues", URL: g.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	repo := vcs.Repo{FullName: "acme/sub/infra"}
	const label = "atoll-drift"

	if is, ok, err := f.FindIssue(ctx, repo, label); err != nil || ok {
		t.Fatalf("FindIssue on a project without issues = %+v, %v, %v; want none", is, ok, err)
	}
	g.OpenPull(t, "acme/sub/infra", vcstest.PullSpec{Author: g.BotLogin(), Files: map[string]string{"a.tf": "locals {}\n"}})
	g.OpenIssue(t, "acme/sub/infra", vcstest.IssueSpec{Author: "octocat", Title: "Drift?", Labels: []string{label}})
	if is, ok, err := f.FindIssue(ctx, repo, label); err != nil || ok {
		t.Fatalf("FindIssue with only another's issue = %+v, %v, %v; want none", is, ok, err)
	}

	opened, err := f.OpenIssue(ctx, repo, "Drift in 1 project", "- `prod`", label)
	if err != nil {
		t.Fatalf("OpenIssue: %v", err)
	}
	// Issues have iids of their own, whatever the merge requests.
	want := vcs.Issue{Number: 2, URL: g.URL() + "/acme/sub/infra/-/issues/2", Open: true}
	if opened != want {
		t.Errorf("OpenIssue = %+v; want %+v", opened, want)
	}
	if got := issueOf(g, 2); got.Author != g.BotLogin() || !slices.Equal(got.Labels, []string{label}) ||
		got.Title != "Drift in 1 project" || got.Body != "- `prod`" {
		t.Errorf("the fake's issue = %+v; want it by the bot, labelled", got)
	}
	if found, ok, err := f.FindIssue(ctx, repo, label); err != nil || !ok || found != opened {
		t.Errorf("FindIssue = %+v, %v, %v; want %+v", found, ok, err, opened)
	}
	if _, ok, err := f.FindIssue(ctx, repo, "other-label"); err != nil || ok {
		t.Errorf("FindIssue(other-label) = %v, %v; want none", ok, err)
	}

	if err := f.UpdateIssue(ctx, repo, 2, "Drift in 2 projects", "- `prod`\n- `stage`"); err != nil {
		t.Fatalf("UpdateIssue: %v", err)
	}
	if got := issueOf(g, 2); got.Title != "Drift in 2 projects" || got.Body != "- `prod`\n- `stage`" || !got.Open {
		t.Errorf("after UpdateIssue: %+v", got)
	}

	if err := f.CloseIssue(ctx, repo, 2, "No drift any more."); err != nil {
		t.Fatalf("CloseIssue: %v", err)
	}
	if got := issueOf(g, 2); got.Open || !slices.Equal(got.Comments, []string{"No drift any more."}) {
		t.Errorf("after CloseIssue: %+v; want it closed with one note", got)
	}
	if is, ok, err := f.FindIssue(ctx, repo, label); err != nil || ok {
		t.Errorf("FindIssue after CloseIssue = %+v, %v, %v; want none", is, ok, err)
	}

	if err := f.UpdateIssue(ctx, repo, 2, "Drift in 1 project", "- `stage`"); err != nil {
		t.Fatalf("UpdateIssue of a closed issue: %v", err)
	}
	if got := issueOf(g, 2); !got.Open || got.Title != "Drift in 1 project" {
		t.Errorf("after UpdateIssue of a closed issue: %+v; want it reopened", got)
	}
	if found, ok, err := f.FindIssue(ctx, repo, label); err != nil || !ok || found != opened {
		t.Errorf("FindIssue after reopening = %+v, %v, %v; want %+v", found, ok, err, opened)
	}

	newer, err := f.OpenIssue(ctx, repo, "Drift again", "", label)
	if err != nil {
		t.Fatal(err)
	}
	if found, ok, err := f.FindIssue(ctx, repo, label); err != nil || !ok || found != newer {
		t.Errorf("FindIssue with two reports = %+v, %v, %v; want the newer, %+v", found, ok, err, newer)
	}
	// A closing with no comment leaves no note.
	if err := f.CloseIssue(ctx, repo, newer.Number, ""); err != nil {
		t.Fatal(err)
	}
	if got := issueOf(g, newer.Number); got.Open || len(got.Comments) != 0 {
		t.Errorf("after CloseIssue without a comment: %+v", got)
	}
}

// TestIssuesNotFound says vcs.ErrNotFound of a project or an issue
// GitLab does not have.
func TestIssuesNotFound(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitLab(t, vcstest.GitLabOptions{Token: "glpat-issues"})
	g.CreateRepo(t, "acme/sub/infra", map[string]string{"main.tf": "locals {}\n"})
	f, err := New(Config{Token: "glpat-issues", URL: g.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	infra, other := vcs.Repo{FullName: "acme/sub/infra"}, vcs.Repo{FullName: "acme/other"}
	for name, call := range map[string]func() error{
		"FindIssue":   func() error { _, _, err := f.FindIssue(ctx, other, "atoll-drift"); return err },
		"OpenIssue":   func() error { _, err := f.OpenIssue(ctx, other, "t", "b", "atoll-drift"); return err },
		"UpdateIssue": func() error { return f.UpdateIssue(ctx, infra, 9, "t", "b") },
		"CloseIssue":  func() error { return f.CloseIssue(ctx, infra, 9, "gone") },
	} {
		if err := call(); !errors.Is(err, vcs.ErrNotFound) {
			t.Errorf("%s = %v; want ErrNotFound", name, err)
		}
	}
}

// issueOf is the fake's issue iid of acme/sub/infra.
func issueOf(g *vcstest.GitLab, iid int) vcstest.Issue {
	for _, is := range g.Issues("acme/sub/infra") {
		if is.Number == iid {
			return is
		}
	}
	return vcstest.Issue{}
}
