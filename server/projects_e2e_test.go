package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

// colorStack is one configuration that two named projects plan with their
// own state file and variable.
const colorStack = `terraform {
  backend "local" {}
}
variable "color" {
  type = string
}
resource "terraform_data" "paint" {
  input = var.color
}
`

func TestNamedProjectsShareADirectory(t *testing.T) {
	t.Parallel()
	server, err := workflows.ParseServerConfig("repos.yaml", []byte("repos:\n- id: acme/infra\n  allowed_overrides: [workflow, apply_requirements]\n  allow_custom_workflows: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.RepoConfig = server
		c.ApplyRequirements = workflows.Requirements{}
		c.Parallelism = 2
	}})
	var cfg strings.Builder
	cfg.WriteString("version: 3\nparallel_plan: true\nparallel_apply: true\nprojects:\n")
	for _, color := range []string{"blue", "green"} {
		cfg.WriteString("- name: paint/" + color + "\n  dir: app\n  workflow: " + color + "\n")
	}
	cfg.WriteString("workflows:\n")
	for _, color := range []string{"blue", "green"} {
		cfg.WriteString("  " + color + ":\n    plan:\n      steps:\n" +
			"      - init:\n          extra_args: [-reconfigure, -backend-config=path=" + color + ".tfstate]\n" +
			"      - plan:\n          extra_args: [-var, color=" + color + "]\n")
	}
	e.gh.CreateRepo(t, "acme/infra", map[string]string{"atoll.yaml": cfg.String()})
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"app/main.tf": colorStack}})
	e.gh.SendPullRequest(t, e.events, "opened", pr)
	c := e.waitComments(t, pr, 1)[0]
	for _, want := range []string{"2 of 2 projects succeeded", "`paint/blue` (`app`)", "`paint/green` (`app`)", `+ input  = "blue"`, `+ input  = "green"`} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("plan of two projects in one directory lacks %q:\n%s", want, c.Body)
		}
	}
	for _, color := range []string{"blue", "green"} {
		ctx := "atoll/plan: app/default (paint/" + color + ")"
		if st := e.status("acme/infra", pr.HeadSHA, ctx); st.State != "success" {
			t.Errorf("status %q = %+v, want success", ctx, st)
		}
	}

	// Each plan is kept apart, so each applies into its own state.
	c = e.say(t, pr, "bob", "atoll apply")
	if !strings.Contains(c.Body, "| `paint/blue` (`app`) | `default` | ✅ apply succeeded | +1 ~0 -0 |") || !strings.Contains(c.Body, "| `paint/green` (`app`) | `default` | ✅ apply succeeded | +1 ~0 -0 |") {
		t.Errorf("apply of two projects in one directory:\n%s", c.Body)
	}
}

func TestAbortOnExecutionOrderFail(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", map[string]string{"atoll.yaml": `version: 3
abort_on_execution_order_fail: true
projects:
- name: first
  dir: first
  execution_order_group: 1
- name: second
  dir: second
  execution_order_group: 2
- name: sibling
  dir: sibling
  execution_order_group: 1
`})
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{
			"first/main.tf":   "resource \"terraform_data\" \"x\" {\n  input = undefined_thing\n}\n",
			"second/main.tf":  oneResource,
			"sibling/main.tf": oneResource,
		}})
		e.f.SendPullRequest(t, e.events, "opened", pr)
		c := e.waitComments(t, pr, 1)[0]
		for _, want := range []string{
			"| `first` (`first`) | `default` | ❌ plan failed |",
			"| `second` (`second`) | `default` | ⏭️ skipped |",
			// Its own group runs on: only later groups stop.
			"| `sibling` (`sibling`) | `default` | ✅ plan succeeded |",
			"Nothing ran: `first` (`first`) failed, and this repository's config stops the later execution order groups after a failure (`abort_on_execution_order_fail`).",
		} {
			if !strings.Contains(c.Body, want) {
				t.Errorf("plan comment lacks %q:\n%s", want, c.Body)
			}
		}
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan: second/default"); st.State != f.failure || !strings.HasPrefix(st.Description, "not run:") {
			t.Errorf("status of the skipped project: %+v", st)
		}
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan"); st.State != f.failure || st.Description != "1/3 projects planned" {
			t.Errorf("aggregate status: %+v", st)
		}
	})
}

func TestPreWorkflowHookWritesTheConfig(t *testing.T) {
	t.Parallel()
	// A hook that generates the repository config (as users of
	// terragrunt-atlantis-config do) runs before the config is read.
	server, err := workflows.ParseServerConfig("repos.yaml", []byte(`repos:
- id: acme/infra
  allowed_overrides: [workflow]
  allow_custom_workflows: true
  pre_workflow_hooks:
  - run: |
      printf 'version: 3\nprojects:\n- name: generated\n  dir: app\n  workspace: staging\n  workflow: show-ws\nworkflows:\n  show-ws:\n    plan:\n      steps:\n      - init\n      - run: echo "runs in $(tofu workspace show)"\n      - plan\n' > atoll.yaml
    shell: bash
    shellArgs: -eu -c
    commands: plan
  - run: exit 1
    commands: apply
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.RepoConfig = server }})
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"app/main.tf": oneResource}})
	e.gh.SendPullRequest(t, e.events, "opened", pr)
	c := e.waitComments(t, pr, 1)[0]
	// The run step after init works in the project's workspace.
	for _, want := range []string{"plan succeeded: `generated` (`app`) in workspace `staging`", "runs in staging"} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("plan with a generated config lacks %q:\n%s", want, c.Body)
		}
	}
	// Hooks run around the commands they name: apply's fails, and stops it.
	if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "pre-workflow hook of this server failed") {
		t.Errorf("apply with a failing apply hook:\n%s", c.Body)
	}
}

func TestPlanRequirementsAndBranches(t *testing.T) {
	t.Parallel()
	server, err := workflows.ParseServerConfig("repos.yaml", []byte(`repos:
- id: acme/infra
  allowed_overrides: [plan_requirements, delete_source_branch_on_merge]
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.RepoConfig = server
		c.ApplyRequirements = workflows.Requirements{}
		c.Automerge = true
	}})
	e.gh.CreateRepo(t, "acme/infra", map[string]string{"atoll.yaml": `version: 3
projects:
- name: guarded
  dir: guarded
  plan_requirements: [approved]
  delete_source_branch_on_merge: true
- name: open
  dir: open
- name: release-only
  dir: release
  branch: /^release-.*$/
`})
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "alice", Branch: "feature/x", Files: map[string]string{
		"guarded/main.tf": oneResource, "open/main.tf": oneResource, "release/main.tf": oneResource,
	}})
	e.gh.SendPullRequest(t, e.events, "opened", pr)
	c := e.waitComments(t, pr, 1)[0]
	for _, want := range []string{
		"| `open` (`open`) | `default` | ✅ plan succeeded |",
		"| `guarded` (`guarded`) | `default` | ⏭️ skipped |",
		"Nothing ran: this project's plan requirements are not met (approved):",
		"- **approved**: it needs an approving review",
	} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("plan comment lacks %q:\n%s", want, c.Body)
		}
	}
	if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan: guarded/default"); st.State != "failure" || st.Description != "not run: this project's plan requirements are not met (approved)" {
		t.Errorf("status of the guarded project: %+v", st)
	}
	if strings.Contains(c.Body, "release-only") {
		t.Errorf("a project limited to release branches was planned for main:\n%s", c.Body)
	}

	e.gh.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
	if c := e.say(t, pr, "bob", "atoll plan -p guarded"); !strings.Contains(c.Body, "plan succeeded: `guarded`") {
		t.Errorf("plan after approval:\n%s", c.Body)
	}
	// Applying every plan merges (automerge), and the guarded project
	// asks for the branch to go.
	if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "2 of 2 projects succeeded") {
		t.Errorf("apply:\n%s", c.Body)
	}
	e.gh.WaitFor(t, waitLong, "the automerge", func() bool { return e.gh.Merged("acme/infra", pr.Number) })
	e.gh.WaitFor(t, waitLong, "the automerge comment", func() bool {
		return len(e.commentsContaining(pr, "**atoll merged it**. Its branch `feature/x` is deleted.")) == 1
	})
	if e.gh.BranchExists("acme/infra", "feature/x") {
		t.Error("the merged branch was not deleted")
	}
}

func TestPlanOfAMissingDirectory(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", map[string]string{"atoll.yaml": "version: 3\nprojects:\n- name: gone\n  dir: gone\n"})
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"README.md": "x"}})
		if c := e.say(t, pr, "alice", "atoll plan -p gone"); !strings.Contains(c.Body, fmt.Sprintf("Nothing ran: there is no directory `gone` at %.7s.", pr.HeadSHA)) {
			t.Errorf("plan of a project whose directory is missing:\n%s", c.Body)
		}
	})
}
