package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/atoll-iac/atoll/runner/tool"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

// A pull request's code reads other pull requests' checkouts, and the
// data directory with the server's stores and plans, through plain HCL:
// confined, it reads neither. Unconfined, the same code does: the attack
// is real.
func TestPullRequestsCannotReadEachOther(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-of-the-first-pull-request"
	// From DATA/repos/github/acme/infra/@2/default/repo/attack: another
	// directory than the first pull request's, which that one locks.
	const attack = `
output "other" {
  value = file("${path.cwd}/../../../../@1/default/repo/secret.auto.tfvars")
}
output "stores" {
  value = join(",", fileset("${path.cwd}/../../../../../../../..", "*.db"))
}
`
	for _, mode := range []SandboxMode{SandboxRequired, SandboxOff} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, testOptions{configure: func(c *Config) { c.Sandbox = mode }})
			e.planned(t, map[string]string{
				"main.tf":            "variable \"secret\" {}\n" + oneResource,
				"secret.auto.tfvars": `secret = "` + secret + `"` + "\n",
			})
			pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "mallory", Files: map[string]string{"attack/main.tf": attack}})
			e.f.SendPullRequest(t, e.events, "opened", pr)
			body := e.waitComments(t, pr, 1)[0].Body
			leaked := strings.Contains(body, secret) || strings.Contains(body, "locks.db")
			switch {
			case mode == SandboxOff && !leaked:
				t.Fatalf("unconfined, the attack read nothing: it does not test the sandbox:\n%s", body)
			case mode != SandboxOff && leaked:
				t.Errorf("a pull request read another's files or the server's stores:\n%s", body)
			case mode != SandboxOff && !strings.Contains(body, "plan failed"):
				t.Errorf("the attack's plan should fail:\n%s", body)
			}
		})
	}
}

// A plan file changed after its plan, by a process the plan left behind
// say, is not applied: an apply runs what was shown or nothing.
func TestApplyRefusesAChangedPlanFile(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.DataDir = data
		c.ApplyRequirements = workflows.Requirements{}
	}})
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	plansFound, err := planFiles(data)
	if err != nil || len(plansFound) != 1 {
		t.Fatalf("plan files %q, %v; want one", plansFound, err)
	}
	f, err := os.OpenFile(plansFound[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("tampered"))
	f.Close()
	c := e.say(t, pr, "bob", "atoll apply")
	if !strings.Contains(c.Body, "the plan file changed since it was planned") || strings.Contains(c.Body, "Apply complete") {
		t.Errorf("apply of a changed plan file:\n%s", c.Body)
	}
}

// planFiles are the plan files under the data directory data.
func planFiles(data string) ([]string, error) {
	var found []string
	err := filepath.WalkDir(data, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".tfplan") {
			found = append(found, path)
		}
		return err
	})
	return found, err
}

// A server that runs as root runs its steps as the tool user: plans and
// applies work as before, from checkouts and plan files handed over, and
// what the steps write is the tool user's.
func TestStepsRunAsTheToolUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Fatal("running steps as another user needs root: run the tests as root (CI does)")
	}
	data := t.TempDir()
	// Above the data directory, the way is the administrator's to open.
	if err := os.Chmod(filepath.Dir(data), 0o711); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.DataDir = data
		c.Tool.Path = reachableTool(t, c.Tool.Path)
		c.ToolUser = &tool.User{UID: 65534, GID: 65534}
		c.ApplyRequirements = workflows.Requirements{}
	}})
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	pr = e.f.PushToPull(t, "acme/infra", pr.Number, map[string]string{"main.tf": twoResources})
	e.f.SendPullRequest(t, e.events, "synchronize", pr)
	if c := e.waitComments(t, pr, 2)[1]; !strings.Contains(c.Body, "Plan: 2 to add") {
		t.Fatalf("plan after a push, in the tool user's checkout:\n%s", c.Body)
	}
	if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "Apply complete!") {
		t.Fatalf("apply as the tool user:\n%s", c.Body)
	}
	// The state the apply wrote in the checkout.
	state, err := filepath.Glob(filepath.Join(data, "repos", "*", "*", "*", "*", "*", "repo", "terraform.tfstate"))
	if err != nil || len(state) != 1 {
		t.Fatalf("state files %q, %v; want the apply's", state, err)
	}
	if fi, err := os.Stat(state[0]); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 65534 {
		t.Errorf("the state the apply wrote is not the tool user's: %v", err)
	}
}

// reachableTool is the binary at path, linked or copied where any user
// can run it: the tests' tofu is under root's home.
func reachableTool(t *testing.T, path string) string {
	t.Helper()
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "atoll-tool-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(path))
	if os.Link(real, dst) == nil {
		return dst
	}
	b, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// A tool user that cannot reach the tool keeps the server from starting,
// naming the directory in the way; unless it was the default, when steps
// run as atoll's own user instead.
func TestToolUserThatCannotReachTheTool(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Fatal("running steps as another user needs root: run the tests as root (CI does)")
	}
	closed := t.TempDir()
	bin := filepath.Join(closed, "tofu")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(os.Chmod(closed, 0o700), os.Chmod(filepath.Dir(closed), 0o711)); err != nil {
		t.Fatal(err)
	}
	for _, byDefault := range []bool{false, true} {
		cfg := Config{DataDir: t.TempDir(), Tool: tool.Tool{Path: bin}, ToolUser: &tool.User{UID: 65534, GID: 65534}, ToolUserByDefault: byDefault,
			GitHub: github.Config{Token: testToken, WebhookSecret: testSecret, APIURL: newTestGitHub(t).APIURL()}}
		s, err := New(cfg)
		switch {
		case byDefault && err != nil:
			t.Errorf("a default tool user that cannot reach the tool: %v; want steps as atoll's user", err)
		case !byDefault && (err == nil || !strings.Contains(err.Error(), "cannot pass "+closed)):
			t.Errorf("a tool user that cannot reach the tool: %v; want an error naming %s", err, closed)
		}
		if s != nil {
			s.Close(t.Context())
		}
	}
}
