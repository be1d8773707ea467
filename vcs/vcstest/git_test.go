package vcstest_test

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

func TestGitOverHTTP(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{Token: "s3cret-token"})
	old := p.HeadSHA
	p = g.PushToPull(t, repoName, 1, map[string]string{"main.tf": "# rewritten\n"})

	auth := "http.extraHeader=Authorization: Basic " +
		base64.StdEncoding.EncodeToString([]byte("x-access-token:"+g.Token()))
	dir := filepath.Join(t.TempDir(), "clone")
	if out, err := git(t, "", "clone", g.CloneURL(repoName), dir); err == nil {
		t.Fatalf("clone without credentials worked:\n%s", out)
	}
	if n := g.GitRequests(); n != 0 {
		t.Errorf("GitRequests = %d after an unauthenticated clone, want 0", n)
	}
	if out, err := git(t, "", "-c", auth, "clone", "-q", "--single-branch", g.CloneURL(repoName), dir); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "gone.tf")); err != nil || !strings.Contains(string(b), "output") {
		t.Errorf("main's gone.tf = %q, %v", b, err)
	}
	// An older commit no ref points at any more, and the current head.
	for _, sha := range []string{old, p.HeadSHA} {
		if _, err := git(t, dir, "cat-file", "-e", sha+"^{commit}"); err == nil {
			t.Fatalf("commit %s is in the clone of main", sha)
		}
		if out, err := git(t, dir, "-c", auth, "fetch", "-q", "origin", sha); err != nil {
			t.Fatalf("fetch %s: %v\n%s", sha, err, out)
		}
		if out, err := git(t, dir, "cat-file", "-e", sha+"^{commit}"); err != nil {
			t.Errorf("commit %s missing after fetch: %v\n%s", sha, err, out)
		}
	}
	out, err := git(t, dir, "-c", auth, "ls-remote", "origin", "refs/pull/1/head", "refs/heads/pr-1")
	if err != nil || strings.Count(out, p.HeadSHA) != 2 {
		t.Errorf("ls-remote = %q, %v; want both refs at %s", out, err, p.HeadSHA)
	}
	if g.GitRequests() == 0 {
		t.Error("GitRequests = 0 after a clone")
	}
}

// authConfig is a git -c setting that authenticates to g as a GitHub
// App would.
func authConfig(g *vcstest.GitHub) string {
	return "http.extraHeader=Authorization: Basic " +
		base64.StdEncoding.EncodeToString([]byte("x-access-token:"+g.Token()))
}

// git runs git with nothing from the user's environment but PATH.
func git(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// A pull request can commit a symbolic link, to anywhere: Symlink files
// reach a clone as links.
func TestSymlinksReachTheClone(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitHub(t, vcstest.GitHubOptions{})
	g.CreateRepo(t, repoName, nil)
	p := g.OpenPull(t, repoName, vcstest.PullSpec{Files: map[string]string{"main.tf": "# x\n", "atoll.yaml": vcstest.Symlink("/dev/zero"), "loop": vcstest.Symlink("loop")}})
	dir := filepath.Join(t.TempDir(), "clone")
	if out, err := git(t, "", "-c", authConfig(g), "clone", "-q", g.CloneURL(repoName), dir); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if out, err := git(t, dir, "-c", authConfig(g), "fetch", "-q", "origin", p.HeadSHA); err != nil {
		t.Fatalf("fetch: %v\n%s", err, out)
	}
	if out, err := git(t, dir, "checkout", "-q", p.HeadSHA); err != nil {
		t.Fatalf("checkout: %v\n%s", err, out)
	}
	for name, want := range map[string]string{"atoll.yaml": "/dev/zero", "loop": "loop"} {
		if got, err := os.Readlink(filepath.Join(dir, name)); err != nil || got != want {
			t.Errorf("%s links to %q, %v; want %q", name, got, err, want)
		}
	}
}
