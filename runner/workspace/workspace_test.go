package workspace

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// servedRepo serves a repository over HTTP from a fake GitHub: a first
// commit with main.tf "v1", then a pull request commit with main.tf "v2".
// It returns the checkout spec for the first commit and both shas.
func servedRepo(t *testing.T) (CheckoutSpec, []string) {
	t.Helper()
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "sekrit"})
	gh.CreateRepo(t, "acme/infra", map[string]string{"main.tf": "v1"})
	p := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": "v1", "new.tf": "n"}})
	first := p.HeadSHA
	p = gh.PushToPull(t, "acme/infra", p.Number, map[string]string{"main.tf": "v2"})
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:sekrit"))
	spec := CheckoutSpec{Forge: "github", Repo: "acme/infra", CloneURL: gh.CloneURL("acme/infra"), Auth: auth, Pull: 1, Workspace: "default", SHA: first}
	return spec, []string{first, p.HeadSHA}
}

func TestCheckoutIsolatesAndRefetches(t *testing.T) {
	t.Parallel()
	spec, shas := servedRepo(t)
	ws := NewWorkspaces(t.TempDir(), nil)
	ctx := context.Background()

	w1, err := ws.Checkout(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(w1.Dir, "stray.txt"), []byte("left by a job"), 0o644)
	w1.Close()

	spec.SHA = shas[1]
	w2, err := ws.Checkout(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if w2.Dir != w1.Dir {
		t.Errorf("re-plan used %s, want the existing clone %s", w2.Dir, w1.Dir)
	}
	if b, _ := os.ReadFile(filepath.Join(w2.Dir, "main.tf")); string(b) != "v2" {
		t.Errorf("main.tf = %q after refetch, want v2", b)
	}
	if _, err := os.Stat(filepath.Join(w2.Dir, "stray.txt")); !os.IsNotExist(err) {
		t.Error("stray file survived a new checkout")
	}
	config, err := os.ReadFile(filepath.Join(gitDir(w2.root), "config"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(config), spec.Auth[6:]) || strings.Contains(string(config), "extraHeader") {
		t.Errorf("credentials written to the git config:\n%s", config)
	}

	other := spec
	other.Pull = 2
	w3, err := ws.Checkout(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	defer w3.Close()
	if w3.Dir == w2.Dir || w3.Home() == w2.Home() {
		t.Error("two pull requests share a directory")
	}
}

func TestCheckoutWaitsForBusyWorkspace(t *testing.T) {
	t.Parallel()
	spec, _ := servedRepo(t)
	ws := NewWorkspaces(t.TempDir(), nil)
	w, err := ws.Checkout(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := ws.Checkout(ctx, spec); err == nil {
		t.Fatal("second job got a busy workspace")
	}
	w.Close()
	w2, err := ws.Checkout(context.Background(), spec)
	if err != nil {
		t.Fatalf("workspace not free after Close: %v", err)
	}
	w2.Close()
}

// A git killed mid-command (the server stopped, or killed) leaves its lock
// files; the next job in the workspace must not trip on them.
func TestCheckoutAfterAKilledGit(t *testing.T) {
	t.Parallel()
	spec, shas := servedRepo(t)
	ws := NewWorkspaces(t.TempDir(), nil)
	w, err := ws.Checkout(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	mirror := mirrorDir(ws, spec)
	for _, lock := range []string{
		filepath.Join(gitDir(w.root), "index.lock"), filepath.Join(gitDir(w.root), "HEAD.lock"),
		filepath.Join(gitDir(w.root), "shallow.lock"), filepath.Join(gitDir(w.root), "refs/heads/main.lock"),
		// and in the mirror, a fetch's
		filepath.Join(mirror, "shallow.lock"), filepath.Join(mirror, "packed-refs.lock"),
		filepath.Join(mirror, pullRef(spec.Pull, shas[1])+".lock"), filepath.Join(mirror, "objects/pack/tmp_pack_8ZCgKq"),
	} {
		path := lock
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec.SHA = shas[1]
	w, err = ws.Checkout(t.Context(), spec)
	if err != nil {
		t.Fatalf("Checkout after a killed git: %v", err)
	}
	defer w.Close()
	if b, _ := os.ReadFile(filepath.Join(w.Dir, "main.tf")); string(b) != "v2" {
		t.Errorf("main.tf = %q, want v2", b)
	}
	if _, err := os.Stat(filepath.Join(mirror, "objects/pack/tmp_pack_8ZCgKq")); !os.IsNotExist(err) {
		t.Errorf("a killed fetch's pack outlived the next fetch: %v", err)
	}
}

func TestCheckoutRefusesUnsafeNames(t *testing.T) {
	t.Parallel()
	ws := NewWorkspaces(t.TempDir(), nil)
	sha := strings.Repeat("a", 40)
	const u = "https://github.com/acme/infra.git"
	for _, spec := range []CheckoutSpec{
		{Forge: "github", Repo: "../etc", Workspace: "default", SHA: sha, CloneURL: u},
		{Forge: "github", Repo: "acme/..", Workspace: "default", SHA: sha, CloneURL: u},
		{Forge: "github", Repo: "acme/infra", Workspace: "../x", SHA: sha, CloneURL: u},
		{Forge: "github", Repo: "acme/infra", Workspace: "default", SHA: "--upload-pack=evil", CloneURL: u},
		{Forge: "github", Repo: "acme/infra", Workspace: "default", SHA: sha, CloneURL: "--upload-pack=touch /tmp/pwned;"},
		{Forge: "github", Repo: "acme/infra", Workspace: "default", SHA: sha, CloneURL: "file:///etc"},
		{Forge: "github", Repo: "acme/infra", Workspace: "default", SHA: sha, CloneURL: "ext::sh -c touch% /tmp/pwned"},
		{Forge: "github", Repo: "acme/infra", Workspace: "default", SHA: sha, CloneURL: "https://user:pw@github.com/acme/infra.git"},
		{Forge: "github", Repo: "acme/infra", Workspace: "default", SHA: sha, CloneURL: "/srv/other-pr/checkout"},
		{Forge: "../x", Repo: "acme/infra", Workspace: "default", SHA: sha, CloneURL: u},
		{Forge: "github", Repo: "acme", Workspace: "default", SHA: sha, CloneURL: u},
		{Forge: "github", Repo: "acme/sub/../x", Workspace: "default", SHA: sha, CloneURL: u},
		{Forge: "github", Repo: "acme//x", Workspace: "default", SHA: sha, CloneURL: u},
	} {
		if _, err := ws.Checkout(context.Background(), spec); err == nil {
			t.Errorf("Checkout(%+v) accepted", spec)
		}
	}
}

// A pull request may commit any file as a link to a file of the server,
// or as a pipe: atoll reads and writes only regular files in the
// checkout, and never through a link.
func TestCheckoutFilesStayInTheCheckout(t *testing.T) {
	t.Parallel()
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("do not read"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := &Workspace{Name: "default", Dir: t.TempDir(), root: t.TempDir(), done: func() {}}
	for name, make := range map[string]func(string) error{
		"app/link.hcl":  func(p string) error { return os.Symlink(secret, p) },
		"app/fifo.hcl":  func(p string) error { return syscall.Mkfifo(p, 0o644) },
		"app/plain.hcl": func(p string) error { return os.WriteFile(p, []byte("# lock"), 0o644) },
		"app/big.hcl":   func(p string) error { return os.WriteFile(p, make([]byte, 101), 0o644) },
	} {
		path := filepath.Join(w.Dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := make(path); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{"app/link.hcl": "", "app/fifo.hcl": "", "app/none.hcl": "", "app/plain.hcl": "# lock"} {
		if got, err := w.ReadFile(name, 100); err != nil || string(got) != want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := w.ReadFile("app/big.hcl", 100); err == nil {
		t.Error("ReadFile read a file past its cap")
	}
	if _, err := w.ReadFile("../secret", 100); err == nil {
		t.Error("ReadFile read outside the checkout")
	}
	if err := w.WriteFile("app/link.hcl", []byte("# lock")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(secret); string(got) != "do not read" {
		t.Errorf("the file the link pointed to was written: %q", got)
	}
	if got, err := os.ReadFile(filepath.Join(w.Dir, "app", "link.hcl")); err != nil || string(got) != "# lock" {
		t.Errorf("the file in the checkout = %q, %v", got, err)
	}
}

func TestWaitIdleWaitsForTheJobsOfAPull(t *testing.T) {
	t.Parallel()
	spec, _ := servedRepo(t)
	ws := NewWorkspaces(t.TempDir(), nil)
	w, err := ws.Checkout(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := ws.WaitIdle(ctx, spec.Forge, spec.Repo, spec.Pull); err == nil {
		t.Fatal("WaitIdle returned while a job held a workspace of the pull request")
	}
	if err := ws.WaitIdle(t.Context(), spec.Forge, spec.Repo, spec.Pull+1); err != nil {
		t.Errorf("WaitIdle on another pull request: %v", err)
	}
	w.Close()
	if err := ws.WaitIdle(t.Context(), spec.Forge, spec.Repo, spec.Pull); err != nil {
		t.Errorf("WaitIdle once the job let go: %v", err)
	}
}

// A pull request's files go under a directory of their own, whatever the
// forge and however deep its repository's path: no pull request's
// directory is within another's.
func TestPullPathsAreApart(t *testing.T) {
	t.Parallel()
	paths := map[string]string{}
	for _, p := range []struct {
		forge, repo string
		pull        int
	}{
		{"github", "acme/infra", 1},
		{"gitlab", "acme/infra", 1},
		{"github", "acme/infra", 2},
		{"gitlab", "acme/infra/1", 2},
		{"gitlab", "acme/infra/2", 1},
		{"gitlab", "group/sub/deeper/project", 10},
	} {
		got, err := PullPath(p.forge, p.repo, p.pull)
		if err != nil {
			t.Fatalf("PullPath(%q, %q, %d): %v", p.forge, p.repo, p.pull, err)
		}
		for other, by := range paths {
			if got == other || strings.HasPrefix(got, other+string(filepath.Separator)) || strings.HasPrefix(other, got+string(filepath.Separator)) {
				t.Errorf("%s (%v) and %s (%s) overlap", got, p, other, by)
			}
		}
		paths[got] = fmt.Sprint(p)
	}
}

// A step may write anything in the checkout: git's config, hooks, a .git
// file pointing at a git directory of its own. The git atoll runs next,
// unconfined and with the forge's token, must heed none of it.
func TestCheckoutIgnoresAGitDirInTheCheckout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// plant writes into the checkout repo what a step could, for
		// the git of the next checkout; evil is the attacker's config,
		// ran the path its commands would create.
		plant func(t *testing.T, repo, evil, ran string)
	}{
		{"url.insteadOf in .git/config", func(t *testing.T, repo, evil, ran string) {
			appendFile(t, filepath.Join(repo, ".git", "config"), evil)
		}},
		{"post-checkout hook", func(t *testing.T, repo, evil, ran string) {
			writeScript(t, filepath.Join(repo, ".git", "hooks", "post-checkout"), ran)
		}},
		{"core.fsmonitor", func(t *testing.T, repo, evil, ran string) {
			writeScript(t, filepath.Join(repo, "fsmonitor.sh"), ran)
			appendFile(t, filepath.Join(repo, ".git", "config"), "[core]\n\tfsmonitor = "+filepath.Join(repo, "fsmonitor.sh")+"\n")
		}},
		{".git file pointing at a git dir of the step's", func(t *testing.T, repo, evil, ran string) {
			own := filepath.Join(repo, "own")
			if out, err := exec.Command("git", "init", "--quiet", "--bare", own).CombinedOutput(); err != nil {
				t.Fatalf("git init: %v: %s", err, out)
			}
			appendFile(t, filepath.Join(own, "config"), evil+"[core]\n\tbare = false\n")
			writeScript(t, filepath.Join(own, "hooks", "post-checkout"), ran)
			if err := os.RemoveAll(filepath.Join(repo, ".git")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(repo, ".git"), []byte("gitdir: "+own+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{".git a link to the git dir", func(t *testing.T, repo, evil, ran string) {
			if err := os.Symlink(filepath.Join("..", "git"), filepath.Join(repo, ".git")); err != nil {
				t.Fatal(err)
			}
		}},
		{"a tracked file a link to the git config", func(t *testing.T, repo, evil, ran string) {
			path := filepath.Join(repo, "main.tf")
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(filepath.Dir(repo), "git", "config"), path); err != nil {
				t.Fatal(err)
			}
		}},
		{"a workspace from before the git dir moved, poisoned", func(t *testing.T, repo, evil, ran string) {
			// Then the checkout's .git was the clone's git directory.
			old := filepath.Join(filepath.Dir(repo), "git")
			if _, err := os.Stat(old); err == nil {
				if err := os.Rename(old, filepath.Join(repo, ".git")); err != nil {
					t.Fatal(err)
				}
			}
			appendFile(t, filepath.Join(repo, ".git", "config"), evil)
			writeScript(t, filepath.Join(repo, ".git", "hooks", "post-checkout"), ran)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var contacted atomic.Bool
			listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				contacted.Store(true)
				http.NotFound(w, r)
			}))
			defer listener.Close()
			spec, shas := servedRepo(t)
			ws := NewWorkspaces(t.TempDir(), nil)
			w, err := ws.Checkout(t.Context(), spec)
			if err != nil {
				t.Fatal(err)
			}
			w.Close()

			ran := filepath.Join(t.TempDir(), "ran")
			evil := fmt.Sprintf("[url %q]\n\tinsteadOf = %s\n", listener.URL+"/", spec.CloneURL)
			tt.plant(t, w.Dir, evil, ran)

			spec.SHA = shas[1]
			w, err = ws.Checkout(t.Context(), spec)
			if contacted.Load() {
				t.Error("git sent the fetch to the URL the checkout's config named")
			}
			if _, err := os.Stat(ran); err == nil {
				t.Error("git ran a command the checkout named")
			}
			if err != nil {
				t.Fatalf("Checkout: %v", err)
			}
			defer w.Close()
			if fi, err := os.Lstat(filepath.Join(w.Dir, "main.tf")); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("main.tf is not a file: %v", err)
			} else if b, _ := os.ReadFile(filepath.Join(w.Dir, "main.tf")); string(b) != "v2" {
				t.Errorf("main.tf = %q, want v2", b)
			}
			if _, err := os.Lstat(filepath.Join(w.Dir, ".git")); !os.IsNotExist(err) {
				t.Errorf("the planted .git outlived the checkout: %v", err)
			}
		})
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(s)
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
}

// writeScript writes an executable script at path that creates ran.
func writeScript(t *testing.T, path, ran string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\ntouch '"+ran+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}
