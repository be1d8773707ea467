package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

func TestBadRepoConfigIsReported(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", nil)
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{
			"main.tf":       oneResource,
			"atlantis.yaml": "version: 3\nprojects:\n- dir: .\n  wokspace: staging\n",
		}})
		e.f.SendPullRequest(t, e.events, "opened", pr)
		c := e.waitComments(t, pr, 1)[0]
		if !strings.Contains(c.Body, "cannot use this repository's config") || !strings.Contains(c.Body, `atlantis.yaml:4: unknown key "wokspace" in a project`) {
			t.Errorf("bad config comment:\n%s", c.Body)
		}
		if st := e.f.Statuses("acme/infra", pr.HeadSHA); len(st) != 0 {
			t.Errorf("a bad config ran something: %+v", st)
		}
	})
}

// An error in choosing the projects that is not the config's (here the
// project's directory is a link that loops, which cannot be read) is
// atoll's to look into: the pull request is told so, with the job's id,
// and not what the error says, server paths included.
func TestDiscoveryErrorIsNotQuoted(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.DataDir = dataDir }})
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{
		"main.tf":    oneResource,
		"atoll.yaml": "version: 3\nprojects:\n- dir: loop\n  autoplan:\n    when_modified: [../main.tf]\n",
		"loop":       vcstest.Symlink("loop"),
	}})
	mustStatus(t, e.gh.SendPullRequest(t, e.events, "opened", pr), http.StatusAccepted, "queued")
	c := e.waitComments(t, pr, 1)[0]
	if !strings.HasPrefix(c.Body, "**atoll hit an internal error** and stopped (job `") {
		t.Errorf("a discovery error's comment:\n%s", c.Body)
	}
	for _, secret := range []string{dataDir, "symbolic links", "loop"} {
		if strings.Contains(c.Body, secret) {
			t.Errorf("the comment quotes the error (%q):\n%s", secret, c.Body)
		}
	}
}

func TestAtlantisConfigNamesProjects(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{configure: func(c *Config) { c.ApplyRequirements = workflows.Requirements{} }}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", map[string]string{
			"atlantis.yaml": `version: 3
projects:
- name: network
  dir: stacks/net
  workspace: prod
  autoplan:
    when_modified: ["*.tf", "../../modules/**/*.tf"]
- name: quiet
  dir: stacks/quiet
  autoplan:
    enabled: false
`,
			"stacks/quiet/main.tf": oneResource,
			"modules/tags/main.tf": "output \"tags\" {\n  value = {}\n}\n",
		})
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{
			"stacks/net/main.tf":   oneResource,
			"stacks/quiet/main.tf": twoResources,
		}})
		e.f.SendPullRequest(t, e.events, "opened", pr)
		c := e.waitComments(t, pr, 1)[0]
		if !strings.Contains(c.Body, "plan succeeded: `network` (`stacks/net`) in workspace `prod`") || strings.Contains(c.Body, "stacks/quiet") {
			t.Errorf("autoplan with atlantis.yaml:\n%s", c.Body)
		}
		if !strings.Contains(c.Body, "To apply: `atoll apply -p network`") {
			t.Errorf("the comment does not offer the named apply:\n%s", c.Body)
		}
		if c := e.say(t, pr, "alice", "atoll plan -p quiet"); !strings.Contains(c.Body, "plan succeeded: `quiet` (`stacks/quiet`)") {
			t.Errorf("plan -p quiet:\n%s", c.Body)
		}
		if c := e.say(t, pr, "alice", "atoll plan -p nope"); !strings.Contains(c.Body, "There is no project named `nope`. Projects: `network`, `quiet`.") {
			t.Errorf("unknown project:\n%s", c.Body)
		}
		// A configured directory runs only in the workspaces its config names.
		if c := e.say(t, pr, "alice", "atoll plan -d stacks/net"); !strings.Contains(c.Body, "`stacks/net` runs only in workspace `prod` (atlantis.yaml), not in `default`. Comment `atoll plan -d stacks/net -w prod`.") {
			t.Errorf("plan -d of a directory configured for another workspace:\n%s", c.Body)
		}
		if c := e.say(t, pr, "bob", "atoll apply -p network"); !strings.Contains(c.Body, "Apply complete! Resources: 1 added") || strings.Contains(c.Body, "quiet") {
			t.Errorf("apply -p network:\n%s", c.Body)
		}
	})
}

func TestSharedModuleChangePlansItsUsers(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", map[string]string{
			"modules/net/main.tf":    "variable \"name\" {\n  type = string\n}\nresource \"terraform_data\" \"net\" {\n  input = var.name\n}\n",
			"modules/vpc/main.tf":    "module \"net\" {\n  source = \"../net\"\n  name   = \"vpc\"\n}\n",
			"envs/prod/main.tf":      "module \"vpc\" {\n  source = \"../../modules/vpc\"\n}\n",
			"envs/dev/main.tf":       "module \"net\" {\n  source = \"../../modules/net\"\n  name   = \"dev\"\n}\n",
			"envs/unrelated/main.tf": oneResource,
		})
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{
			"modules/net/main.tf": "variable \"name\" {\n  type = string\n}\nresource \"terraform_data\" \"net\" {\n  input = \"${var.name}-v2\"\n}\n",
		}})
		e.f.SendPullRequest(t, e.events, "opened", pr)
		c := e.waitComments(t, pr, 1)[0]
		for _, want := range []string{"2 of 2 projects succeeded", "| `envs/dev` | `default` | ✅ plan succeeded | +1 ~0 -0 |", "| `envs/prod` | `default` | ✅ plan succeeded | +1 ~0 -0 |"} {
			if !strings.Contains(c.Body, want) {
				t.Errorf("plan of a module change lacks %q:\n%s", want, c.Body)
			}
		}
		if strings.Contains(c.Body, "`modules/net`") || strings.Contains(c.Body, "unrelated") {
			t.Errorf("planned the module itself or an unrelated root:\n%s", c.Body)
		}
	})
}

func TestCustomWorkflows(t *testing.T) {
	t.Parallel()
	atollYAML := `version: 3
projects:
- dir: .
  workflow: custom
  apply_requirements: []
workflows:
  custom:
    plan:
      steps:
      - env:
          name: GREETING
          command: echo hello from $PULL_AUTHOR
      - run: echo "$GREETING in $REPO_REL_DIR, workspace $WORKSPACE, with $(tofu version | head -n 1)"
      - init
      - plan:
          extra_args: ["-refresh=false"]
      - show
      - run: test -s "$SHOWFILE" && echo "show wrote JSON"
`
	refused := newTestEnv(t, testOptions{})
	refused.gh.CreateRepo(t, "acme/infra", map[string]string{"atoll.yaml": atollYAML})
	pr := refused.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"main.tf": oneResource}})
	refused.gh.SendPullRequest(t, refused.events, "opened", pr)
	if c := refused.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "atoll.yaml:6: workflows: this server does not let repositories define their own workflows") {
		t.Errorf("custom workflow on a server that does not allow them:\n%s", c.Body)
	}

	server, err := workflows.ParseServerConfig("repos.yaml", []byte(`repos:
- id: /acme/.*/
  allowed_overrides: [workflow, apply_requirements]
  allow_custom_workflows: true
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.RepoConfig = server }})
	e.gh.CreateRepo(t, "acme/infra", map[string]string{"atoll.yaml": atollYAML})
	pr = e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"main.tf": oneResource}})
	e.gh.SendPullRequest(t, e.events, "opened", pr)
	c := e.waitComments(t, pr, 1)[0]
	for _, want := range []string{"plan succeeded", "hello from alice in ., workspace default, with OpenTofu v", "Plan: 1 to add, 0 to change, 0 to destroy.", "show wrote JSON"} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("custom workflow comment lacks %q:\n%s", want, c.Body)
		}
	}
	// The project's own apply_requirements (none) beat the server's flag.
	if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "Apply complete!") {
		t.Errorf("apply with the project's own requirements:\n%s", c.Body)
	}
}

// TestRunStepSettings runs the settings Atlantis documents for custom
// steps: output hides a run step's output from the comment, when it
// succeeds and when it fails, or strips the refreshing lines from it; shell
// and shellArgs choose what runs the command; multienv sets variables that
// later steps see, and shows their names only (and nothing when it fails,
// since values may be secrets); and run steps see the pull
// request, the head branch and the tool in their environment.
func TestRunStepSettings(t *testing.T) {
	t.Parallel()
	server, err := workflows.ParseServerConfig("repos.yaml", []byte(`repos:
- id: /acme/.*/
  allowed_overrides: [workflow]
  allow_custom_workflows: true
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.RepoConfig = server }})
	e.gh.CreateRepo(t, "acme/infra", map[string]string{"atlantis.yaml": `version: 3
projects:
- dir: ok
  workflow: settings
- dir: fails
  workflow: failing
- dir: noshell
  workflow: noshell
- dir: badenv
  workflow: badenv
workflows:
  settings:
    plan:
      steps:
      - multienv: printf 'DB_PASSWORD=hunter2-from-multienv,REGION="eu, west"\n'
      - run:
          command: echo "hidden step saw $DB_PASSWORD"
          output: hide
      - run:
          command: echo "shown step saw region $REGION"
          output: show
      - run:
          command: echo "head $HEAD_BRANCH_NAME of $HEAD_REPO_OWNER/$HEAD_REPO_NAME, $PULL_URL, $ATLANTIS_TERRAFORM_DISTRIBUTION $ATLANTIS_TERRAFORM_VERSION, ${BASH_VERSION:+run by bash}"
          shell: bash
          shellArgs: [-e, -u, -c]
      - init
      - run:
          command: |
            printf 'terraform_data.x: Refreshing state... [id=1]\nafter the refreshing\n'
          output: strip_refreshing
      - plan
  failing:
    plan:
      steps:
      - run:
          command: echo "failing step printed hunter2-on-failure"; exit 3
          output: hide
  noshell:
    plan:
      steps:
      - run:
          command: echo hi
          shell: no-such-shell
  badenv:
    plan:
      steps:
      - multienv: printf 'TOKEN=hunter2-before-failing\n'; exit 4
`})
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Branch: "feature/x", Files: map[string]string{"ok/main.tf": oneResource, "fails/main.tf": oneResource, "noshell/main.tf": oneResource, "badenv/main.tf": oneResource}})
	e.gh.SendPullRequest(t, e.events, "opened", pr)
	c := e.waitComments(t, pr, 1)[0]
	for _, want := range []string{
		"multienv set DB_PASSWORD, REGION",
		"shown step saw region eu, west",
		"head feature/x of acme/infra, " + e.gh.URL() + "/acme/infra/pull/1, tofu 1.",
		", run by bash",
		"after the refreshing",
		"Plan: 1 to add, 0 to change, 0 to destroy.",
		"run exited with status 3; its output is hidden (output: hide)",
		"run: the shell `no-such-shell` is not installed on this server.",
		"multienv exited with status 4",
	} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("comment lacks %q:\n%s", want, c.Body)
		}
	}
	for _, unwanted := range []string{"hunter2", "hidden step saw", "Refreshing state..."} {
		if strings.Contains(c.Body, unwanted) {
			t.Errorf("comment shows %q:\n%s", unwanted, c.Body)
		}
	}
}

func TestProjectToolVersions(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", map[string]string{
			"atoll.yaml": "version: 3\nprojects:\n- dir: pinned\n  terraform_version: \"= 0.9.0\"\n- dir: fits\n- dir: future\n",
		})
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{
			"pinned/main.tf": oneResource,
			"fits/main.tf":   "terraform {\n  required_version = \">= 1.6, < 2\"\n}\n" + oneResource,
			"future/main.tf": "terraform {\n  required_version = \">= 99\"\n}\n" + oneResource,
		}})
		e.f.SendPullRequest(t, e.events, "opened", pr)
		c := e.waitComments(t, pr, 1)[0]
		for _, want := range []string{
			"| `fits` | `default` | ✅ plan succeeded |",
			"| `pinned` | `default` | ❌ plan failed |",
			`OpenTofu satisfying "= 0.9.0" is not installed`,
			"| `future` | `default` | ❌ plan failed |",
			`OpenTofu satisfying ">= 99" is not installed`,
			"downloading releases is off",
		} {
			if !strings.Contains(c.Body, want) {
				t.Errorf("comment lacks %q:\n%s", want, c.Body)
			}
		}
	})
}

func TestParallelPlansAndHooks(t *testing.T) {
	t.Parallel()
	server, err := workflows.ParseServerConfig("repos.yaml", []byte(`repos:
- id: acme/infra
  pre_workflow_hooks:
  - run: test ! -e STOP || { echo "the STOP file says no"; exit 3; }
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.RepoConfig = server
		c.Parallelism = 2
	}})
	e.gh.CreateRepo(t, "acme/infra", map[string]string{"atoll.yaml": "version: 3\nparallel_plan: true\nautodiscover:\n  mode: enabled\n"})
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"a/main.tf": oneResource, "b/main.tf": twoResources, "c/main.tf": oneResource}})
	e.gh.SendPullRequest(t, e.events, "opened", pr)
	if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "3 of 3 projects succeeded") {
		t.Errorf("parallel plan:\n%s", c.Body)
	}
	pr = e.gh.PushToPull(t, "acme/infra", pr.Number, map[string]string{"STOP": "x", "a/main.tf": twoResources})
	if c := e.say(t, pr, "alice", "atoll plan"); !strings.Contains(c.Body, "pre-workflow hook of this server failed") || !strings.Contains(c.Body, "the STOP file says no") {
		t.Errorf("failing pre hook:\n%s", c.Body)
	}
}

func TestApplyFollowsDependencies(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.ApplyRequirements = workflows.Requirements{}
		c.Parallelism = 2
	}})
	e.gh.CreateRepo(t, "acme/infra", map[string]string{"atoll.yaml": `version: 3
automerge: true
parallel_plan: true
parallel_apply: true
projects:
- name: app
  dir: a
  depends_on: [network]
- name: network
  dir: z
- name: dns
  dir: m
`})
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"a/main.tf": oneResource, "z/main.tf": oneResource, "m/main.tf": oneResource}})
	e.gh.SendPullRequest(t, e.events, "opened", pr)
	e.waitComments(t, pr, 1)
	if c := e.say(t, pr, "bob", "atoll apply -p app"); !strings.Contains(c.Body, "this project depends on `network`, whose plan is not applied. Apply it first: `atoll apply -p network`.") {
		t.Errorf("apply -p app before its dependency:\n%s", c.Body)
	}
	c := e.say(t, pr, "bob", "atoll apply")
	network := strings.Index(c.Body, "| `network` (`z`) |")
	app := strings.Index(c.Body, "| `app` (`a`) |")
	if !strings.Contains(c.Body, "3 of 3 projects succeeded") || network < 0 || app < network {
		t.Errorf("apply did not run network before app:\n%s", c.Body)
	}
	// The repository's automerge: true merges without the server's flag,
	// and keeps the branch.
	e.gh.WaitFor(t, waitLong, "the automerge comment", func() bool { return len(e.commentsContaining(pr, "atoll merged it")) == 1 })
	if !e.gh.Merged("acme/infra", pr.Number) || !e.gh.BranchExists("acme/infra", pr.Branch) {
		t.Errorf("after automerge: merged %v, branch %s kept %v", e.gh.Merged("acme/infra", pr.Number), pr.Branch, e.gh.BranchExists("acme/infra", pr.Branch))
	}
}
