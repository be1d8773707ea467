package github

import (
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// TestIssues keeps a drift report through its life, speaking with a
// token and as an App: it finds none, opens one, finds it among issues
// and pull requests that carry its label but are not its own, edits it,
// closes it with a comment, and reopens it by an edit.
func TestIssues(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		// forge speaks to g, whose acme/infra exists, as the login me.
		forge func(t *testing.T, g *vcstest.GitHub) (f *Forge, me string)
	}{
		{"token", func(t *testing.T, g *vcstest.GitHub) (*Forge, string) {
			f, err := New(Config{Token: g.Token(), APIURL: g.APIURL()})
			if err != nil {
				t.Fatal(err)
			}
			return f, g.BotLogin()
		}},
		{"app", func(t *testing.T, g *vcstest.GitHub) (*Forge, string) {
			app := g.EnableApp(t, vcstest.AppOptions{Slug: "atoll-test"})
			g.Install(t, "acme")
			return newAppForge(t, g, app, app.KeyPEM), app.BotLogin()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_issues"})
			g.CreateRepo(t, "acme/infra", map[string]string{"main.tf": "locals {}\n"})
			f, me := tt.forge(t, g)
			ctx := t.Context()
			repo := vcs.Repo{FullName: "acme/infra"}
			const label = "atoll-drift"

			if is, ok, err := f.FindIssue(ctx, repo, label); err != nil || ok {
				t.Fatalf("FindIssue on a repository without issues = %+v, %v, %v; want none", is, ok, err)
			}
			// What carries the label but is not atoll's report: a pull
			// request by atoll, issues by others.
			pr := g.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: me, Files: map[string]string{"a.tf": "locals {}\n"}})
			g.LabelPull("acme/infra", pr.Number, label)
			for _, other := range []string{"octocat", "atoll-bot"} {
				if other != me {
					g.OpenIssue(t, "acme/infra", vcstest.IssueSpec{Author: other, Title: "Drift?", Labels: []string{label}})
				}
			}
			if is, ok, err := f.FindIssue(ctx, repo, label); err != nil || ok {
				t.Fatalf("FindIssue with only others' issues and a pull request = %+v, %v, %v; want none", is, ok, err)
			}

			opened, err := f.OpenIssue(ctx, repo, "Drift in 1 project", "- `prod`", label)
			if err != nil {
				t.Fatalf("OpenIssue: %v", err)
			}
			issues := g.Issues("acme/infra")
			last := issues[len(issues)-1]
			if !opened.Open || opened.Number != last.Number || opened.URL != g.URL()+"/acme/infra/issues/"+strconv.Itoa(last.Number) {
				t.Errorf("OpenIssue = %+v; want the fake's issue %d, open", opened, last.Number)
			}
			if last.Author != me || !slices.Equal(last.Labels, []string{label}) || last.Title != "Drift in 1 project" || last.Body != "- `prod`" {
				t.Errorf("the fake's issue = %+v; want it by %s, labelled", last, me)
			}
			if found, ok, err := f.FindIssue(ctx, repo, label); err != nil || !ok || found != opened {
				t.Errorf("FindIssue = %+v, %v, %v; want %+v", found, ok, err, opened)
			}
			if _, ok, err := f.FindIssue(ctx, repo, "other-label"); err != nil || ok {
				t.Errorf("FindIssue(other-label) = %v, %v; want none", ok, err)
			}

			if err := f.UpdateIssue(ctx, repo, opened.Number, "Drift in 2 projects", "- `prod`\n- `stage`"); err != nil {
				t.Fatalf("UpdateIssue: %v", err)
			}
			if got := issueOf(g, opened.Number); got.Title != "Drift in 2 projects" || got.Body != "- `prod`\n- `stage`" || !got.Open {
				t.Errorf("after UpdateIssue: %+v", got)
			}

			if err := f.CloseIssue(ctx, repo, opened.Number, "No drift any more."); err != nil {
				t.Fatalf("CloseIssue: %v", err)
			}
			if got := issueOf(g, opened.Number); got.Open || !slices.Equal(got.Comments, []string{"No drift any more."}) {
				t.Errorf("after CloseIssue: %+v; want it closed with one comment", got)
			}
			if is, ok, err := f.FindIssue(ctx, repo, label); err != nil || ok {
				t.Errorf("FindIssue after CloseIssue = %+v, %v, %v; want none", is, ok, err)
			}

			if err := f.UpdateIssue(ctx, repo, opened.Number, "Drift in 1 project", "- `stage`"); err != nil {
				t.Fatalf("UpdateIssue of a closed issue: %v", err)
			}
			if got := issueOf(g, opened.Number); !got.Open || got.Title != "Drift in 1 project" {
				t.Errorf("after UpdateIssue of a closed issue: %+v; want it reopened", got)
			}
			if found, ok, err := f.FindIssue(ctx, repo, label); err != nil || !ok || found.Number != opened.Number {
				t.Errorf("FindIssue after reopening = %+v, %v, %v; want issue %d", found, ok, err, opened.Number)
			}

			newer, err := f.OpenIssue(ctx, repo, "Drift again", "", label)
			if err != nil {
				t.Fatal(err)
			}
			if found, ok, err := f.FindIssue(ctx, repo, label); err != nil || !ok || found != newer {
				t.Errorf("FindIssue with two reports = %+v, %v, %v; want the newer, %+v", found, ok, err, newer)
			}
			// A closing with no comment leaves none.
			if err := f.CloseIssue(ctx, repo, newer.Number, ""); err != nil {
				t.Fatal(err)
			}
			if got := issueOf(g, newer.Number); got.Open || len(got.Comments) != 0 {
				t.Errorf("after CloseIssue without a comment: %+v", got)
			}
		})
	}
}

// TestIssuesNotFound says vcs.ErrNotFound of a repository or an issue
// GitHub does not have.
func TestIssuesNotFound(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_issues"})
	g.CreateRepo(t, "acme/infra", map[string]string{"main.tf": "locals {}\n"})
	f, err := New(Config{Token: g.Token(), APIURL: g.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	infra, other := vcs.Repo{FullName: "acme/infra"}, vcs.Repo{FullName: "acme/other"}
	for name, call := range map[string]func() error{
		"FindIssue":   func() error { _, _, err := f.FindIssue(ctx, other, "atoll-drift"); return err },
		"OpenIssue":   func() error { _, err := f.OpenIssue(ctx, other, "t", "b", "atoll-drift"); return err },
		"UpdateIssue": func() error { return f.UpdateIssue(ctx, infra, 9, "t", "b") },
		"CloseIssue":  func() error { return f.CloseIssue(ctx, infra, 9, "") },
	} {
		if err := call(); !errors.Is(err, vcs.ErrNotFound) {
			t.Errorf("%s = %v; want ErrNotFound", name, err)
		}
	}
}

// issueOf is the fake's issue number of acme/infra.
func issueOf(g *vcstest.GitHub, number int) vcstest.Issue {
	for _, is := range g.Issues("acme/infra") {
		if is.Number == number {
			return is
		}
	}
	return vcstest.Issue{}
}
