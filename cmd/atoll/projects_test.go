package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestProjectsCommand(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(repo, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q", "-b", "main")
	write("atoll.yaml", "version: 3\nautodiscover:\n  mode: enabled\nprojects:\n- name: net\n  dir: net\n- name: rel\n  dir: rel\n  branch: /^release/\n")
	write("rel/main.tf", "")
	write("net/main.tf", "")
	write("modules/tags/main.tf", "")
	write("envs/prod/main.tf", "module \"tags\" {\n  source = \"../../modules/tags\"\n}\n")
	git("add", "-A")
	git("commit", "-q", "-m", "base")
	git("checkout", "-q", "-b", "feature")
	write("net/main.tf", "# changed\n")
	write("rel/main.tf", "# changed, but not planned: only for pull requests into release branches\n")
	git("commit", "-qam", "change net")
	write("modules/tags/main.tf", "# uncommitted\n")

	var stdout, stderr bytes.Buffer
	code := run([]string{"projects", "--repo", repo, "--base", "main"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := `config: atoll.yaml
envs/prod/default
  because modules/tags/main.tf changes module modules/tags, which it uses
  plan: tofu init -input=false -no-color; tofu plan -input=false -no-color -out=PLANFILE
  apply: tofu apply -input=false -no-color PLANFILE
net/default name=net
  because net/main.tf matches **/*.tf*
  plan: tofu init -input=false -no-color; tofu plan -input=false -no-color -out=PLANFILE
  apply: tofu apply -input=false -no-color PLANFILE
`
	if stdout.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", stdout.String(), want)
	}

	stderr.Reset()
	if code := run([]string{"projects", "--repo", repo, "--base", "no-such-branch"}, nil, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "no-such-branch") {
		t.Errorf("bad base: exit %d, %q", code, stderr.String())
	}
}

func TestBranchName(t *testing.T) {
	for ref, want := range map[string]string{
		"refs/heads/main":            "main",
		"refs/heads/release/1.2":     "release/1.2",
		"refs/remotes/upstream/main": "main",
		"refs/tags/v1.0":             "",
		"":                           "",
	} {
		if got := branchName(ref); got != want {
			t.Errorf("branchName(%q) = %q, want %q", ref, got, want)
		}
	}
}
