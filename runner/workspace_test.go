package runner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// commitRepo makes a git repository with one commit per file map and
// returns its path and the commits' shas.
func commitRepo(t *testing.T, commits ...map[string]string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q", "-b", "main")
	var shas []string
	for _, files := range commits {
		for name, body := range files {
			p := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run("add", "-A")
		run("commit", "-q", "-m", "c")
		shas = append(shas, run("rev-parse", "HEAD"))
	}
	return dir, shas
}

func TestCheckoutIsolatesAndRefetches(t *testing.T) {
	t.Parallel()
	src, shas := commitRepo(t, map[string]string{"main.tf": "v1"}, map[string]string{"main.tf": "v2", "new.tf": "n"})
	ws := NewWorkspaces(t.TempDir())
	ctx := context.Background()
	spec := CheckoutSpec{Repo: "acme/infra", CloneURL: src, Auth: "Basic c2VjcmV0", Pull: 1, Workspace: "default", SHA: shas[0]}

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
	gitDir, _ := os.ReadFile(filepath.Join(w2.Dir, ".git", "config"))
	if strings.Contains(string(gitDir), "c2VjcmV0") || strings.Contains(string(gitDir), "extraHeader") {
		t.Errorf("credentials written to .git/config:\n%s", gitDir)
	}

	other := spec
	other.Pull = 2
	w3, err := ws.Checkout(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	defer w3.Close()
	if w3.Dir == w2.Dir || w3.PlanFile("infra") == w2.PlanFile("infra") {
		t.Error("two pull requests share a directory")
	}
}

func TestCheckoutWaitsForBusyWorkspace(t *testing.T) {
	t.Parallel()
	src, shas := commitRepo(t, map[string]string{"main.tf": "v1"})
	ws := NewWorkspaces(t.TempDir())
	spec := CheckoutSpec{Repo: "acme/infra", CloneURL: src, Pull: 1, Workspace: "default", SHA: shas[0]}
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

func TestCheckoutRefusesUnsafeNames(t *testing.T) {
	t.Parallel()
	ws := NewWorkspaces(t.TempDir())
	sha := strings.Repeat("a", 40)
	for _, spec := range []CheckoutSpec{
		{Repo: "../etc", Workspace: "default", SHA: sha},
		{Repo: "acme/..", Workspace: "default", SHA: sha},
		{Repo: "acme/infra", Workspace: "../x", SHA: sha},
		{Repo: "acme/infra", Workspace: "default", SHA: "--upload-pack=evil"},
	} {
		if _, err := ws.Checkout(context.Background(), spec); err == nil {
			t.Errorf("Checkout(%+v) accepted", spec)
		}
	}
}
