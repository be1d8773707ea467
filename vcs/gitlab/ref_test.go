package gitlab

import (
	"errors"
	"testing"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// TestResolveRef finds branches and commits of the fake's project, and
// says ErrNotFound of what it lacks.
func TestResolveRef(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitLab(t, vcstest.GitLabOptions{Token: "glpat-ref"})
	g.CreateRepo(t, "acme/sub/infra", map[string]string{"main.tf": "locals {}\n"})
	first := g.PushToMain(t, "acme/sub/infra", map[string]string{"a.tf": "locals {}\n"})
	main := g.PushToMain(t, "acme/sub/infra", map[string]string{"b.tf": "locals {}\n"})
	mr := g.OpenPull(t, "acme/sub/infra", vcstest.PullSpec{Branch: "feature/x", Files: map[string]string{"c.tf": "locals {}\n"}})
	f, err := New(Config{Token: "glpat-ref", URL: g.URL()})
	if err != nil {
		t.Fatal(err)
	}
	repo := vcs.Repo{FullName: "acme/sub/infra", CloneURL: g.CloneURL("acme/sub/infra")}
	for _, tt := range []struct {
		ref  string
		want vcs.Ref
	}{
		{"", vcs.Ref{Repo: repo, Name: "main", SHA: main, Branch: "main"}},
		{"main", vcs.Ref{Repo: repo, Name: "main", SHA: main, Branch: "main"}},
		{"feature/x", vcs.Ref{Repo: repo, Name: "feature/x", SHA: mr.HeadSHA, Branch: "feature/x"}},
		{first, vcs.Ref{Repo: repo, Name: first, SHA: first, Branch: "main"}},
	} {
		got, err := f.ResolveRef(t.Context(), "acme/sub/infra", tt.ref)
		if err != nil || got != tt.want {
			t.Errorf("ResolveRef(%q) = %+v, %v; want %+v", tt.ref, got, err, tt.want)
		}
	}
	for _, c := range []struct{ repo, ref string }{{"acme/sub/infra", "nope"}, {"acme/other", "main"}} {
		if _, err := f.ResolveRef(t.Context(), c.repo, c.ref); !errors.Is(err, vcs.ErrNotFound) {
			t.Errorf("ResolveRef(%q, %q) = %v, want ErrNotFound", c.repo, c.ref, err)
		}
	}
}
