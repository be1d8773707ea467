package github

import (
	"errors"
	"testing"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// TestResolveRef finds branches and commits of the fake's repository,
// and says ErrNotFound of what it lacks.
func TestResolveRef(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_test"})
	g.CreateRepo(t, "acme/infra", map[string]string{"main.tf": "locals {}\n"})
	first := g.PushToMain(t, "acme/infra", map[string]string{"a.tf": "locals {}\n"})
	main := g.PushToMain(t, "acme/infra", map[string]string{"b.tf": "locals {}\n"})
	pr := g.OpenPull(t, "acme/infra", vcstest.PullSpec{Branch: "feature/x", Files: map[string]string{"c.tf": "locals {}\n"}})
	f, err := New(Config{Token: "ghp_test", APIURL: g.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	repo := vcs.Repo{FullName: "acme/infra", CloneURL: g.CloneURL("acme/infra")}
	for _, tt := range []struct {
		ref  string
		want vcs.Ref
	}{
		{"", vcs.Ref{Repo: repo, Name: "main", SHA: main, Branch: "main"}},
		{"main", vcs.Ref{Repo: repo, Name: "main", SHA: main, Branch: "main"}},
		{"feature/x", vcs.Ref{Repo: repo, Name: "feature/x", SHA: pr.HeadSHA, Branch: "feature/x"}},
		{first, vcs.Ref{Repo: repo, Name: first, SHA: first, Branch: "main"}},
		{first[:10], vcs.Ref{Repo: repo, Name: first[:10], SHA: first, Branch: "main"}},
	} {
		got, err := f.ResolveRef(t.Context(), "acme/infra", tt.ref)
		if err != nil || got != tt.want {
			t.Errorf("ResolveRef(%q) = %+v, %v; want %+v", tt.ref, got, err, tt.want)
		}
	}
	for _, c := range []struct{ repo, ref string }{{"acme/infra", "nope"}, {"acme/other", "main"}} {
		if _, err := f.ResolveRef(t.Context(), c.repo, c.ref); !errors.Is(err, vcs.ErrNotFound) {
			t.Errorf("ResolveRef(%q, %q) = %v, want ErrNotFound", c.repo, c.ref, err)
		}
	}
}
