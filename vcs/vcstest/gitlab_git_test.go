package vcstest_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// glAuth is a git -c setting that authenticates to g as a GitLab token
// does: any user name, the token as password.
func glAuth(g *vcstest.GitLab) string {
	return "http.extraHeader=Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("oauth2:"+g.Token()))
}

func TestGitLabGitOverHTTP(t *testing.T) {
	t.Parallel()
	g, p := newGitLabFixture(t, vcstest.GitLabOptions{Token: "glpat-s3cret"})
	old := p.HeadSHA
	p = g.PushToPull(t, glRepo, 1, map[string]string{"main.tf": "# rewritten\n"})
	fork := g.OpenPull(t, glRepo, vcstest.PullSpec{Fork: "mallory/infra", Branch: "main", Files: map[string]string{"evil.tf": ""}})

	dir := filepath.Join(t.TempDir(), "clone")
	wrong := "http.extraHeader=Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("oauth2:wrong"))
	for _, auth := range []string{"http.extraHeader=", wrong} {
		if out, err := git(t, "", "-c", auth, "clone", g.CloneURL(glRepo), dir); err == nil {
			t.Fatalf("clone with %q worked:\n%s", auth, out)
		}
	}
	if n := g.GitRequests(); n != 0 {
		t.Errorf("GitRequests = %d after refused clones, want 0", n)
	}
	if out, err := git(t, "", "-c", glAuth(g), "clone", "-q", "--single-branch", g.CloneURL(glRepo), dir); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "gone.tf")); err != nil || !strings.Contains(string(b), "output") {
		t.Errorf("main's gone.tf = %q, %v", b, err)
	}
	// An older commit no ref points at any more, the current head, and a
	// fork's head, all fetched by sha.
	for _, sha := range []string{old, p.HeadSHA, fork.HeadSHA} {
		if out, err := git(t, dir, "-c", glAuth(g), "fetch", "-q", "origin", sha); err != nil {
			t.Fatalf("fetch %s: %v\n%s", sha, err, out)
		}
		if out, err := git(t, dir, "cat-file", "-e", sha+"^{commit}"); err != nil {
			t.Errorf("commit %s missing after fetch: %v\n%s", sha, err, out)
		}
	}
	out, err := git(t, dir, "-c", glAuth(g), "ls-remote", "origin")
	if err != nil || !strings.Contains(out, p.HeadSHA+"\trefs/merge-requests/1/head") || !strings.Contains(out, p.HeadSHA+"\trefs/heads/pr-1") ||
		!strings.Contains(out, fork.HeadSHA+"\trefs/merge-requests/2/head") || strings.Count(out, fork.HeadSHA) != 1 {
		t.Errorf("ls-remote = %q, %v", out, err)
	}
	// The fork is not served, nor is any other path.
	for _, u := range []string{g.URL() + "/mallory/infra.git", g.URL() + "/acme/nope.git"} {
		if out, err := git(t, "", "-c", glAuth(g), "ls-remote", u); err == nil {
			t.Errorf("ls-remote %s worked:\n%s", u, out)
		}
	}
	if out, err := git(t, dir, "-c", glAuth(g), "push", "origin", "HEAD:refs/heads/pushed"); err == nil {
		t.Errorf("push worked:\n%s", out)
	}
	if g.GitRequests() == 0 {
		t.Error("GitRequests = 0 after a clone")
	}
}
