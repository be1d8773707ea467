package workflows

import (
	"reflect"
	"strings"
	"testing"
)

func TestServerConfigFor(t *testing.T) {
	t.Parallel()
	cfg, err := ParseServerConfig("repos.yaml", []byte(`repos:
- id: /.*/
  apply_requirements: [approved]
- id: acme/*
  allowed_overrides: [workflow]
  workflow: safe
- id: acme/sandbox
  apply_requirements: []
  allow_custom_workflows: true
  pre_workflow_hooks:
  - run: ./check.sh
  - run: echo $X
    shell: bash
    shellArgs: -eu -c
    commands: plan, apply
- id: acme/sandbox
  branch: /^release-.*/
  plan_requirements: [approved]
workflows:
  safe:
    plan:
      steps: [init, plan]
`))
	if err != nil {
		t.Fatal(err)
	}
	hooks := []Hook{
		{Run: "./check.sh", Shell: "sh", ShellArgs: []string{"-c"}},
		{Run: "echo $X", Shell: "bash", ShellArgs: []string{"-eu", "-c"}, Commands: []string{"plan", "apply"}},
	}
	approved := &Requirements{Approved: true}
	sandbox := RepoRule{ID: "acme/sandbox", ApplyRequirements: &Requirements{}, Workflow: "safe", AllowedOverrides: []string{"workflow"}, AllowCustomWorkflows: true, PreWorkflowHooks: hooks}
	release := sandbox
	release.PlanRequirements = approved
	tests := []struct {
		repo, base string
		want       RepoRule
	}{
		{"other/x", "main", RepoRule{ID: "/.*/", ApplyRequirements: approved}},
		{"acme/infra", "main", RepoRule{ID: "acme/*", ApplyRequirements: approved, Workflow: "safe", AllowedOverrides: []string{"workflow"}}},
		{"acme/sandbox", "main", sandbox},
		{"acme/sandbox", "release-1.2", release},
	}
	for _, tt := range tests {
		got := cfg.For(tt.repo, tt.base)
		got.match, got.setsCustom, got.branch = nil, false, nil
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("For(%q) =\n %+v\nwant\n %+v", tt.repo, got, tt.want)
		}
	}
}

func TestServerConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ yaml, want string }{
		{"repos:\n- id: acme/x\n  alow_custom_workflows: true\n", `repos.yaml:3: unknown key "alow_custom_workflows" in a repos entry`},
		{"repos:\n- id: /acme[/\n", "repos.yaml:2: id /acme[/ is not a regular expression"},
		{"repos:\n- id: acme/x\n  workflow: nope\n", `repos.yaml:2: workflow "nope" is not defined under workflows`},
		{"repos:\n- id: acme/x\n  allowed_overrides: [terraform_version]\n", `allowed_overrides: "terraform_version" is no key a repository can set`},
		{"repos:\n- apply_requirements: [approved]\n", "repos.yaml:2: a repos entry needs an id"},
		{"repo:\n- id: x\n", `repos.yaml:1: unknown key "repo" in the server config`},
		{"repos:\n- id: x\n  branch: /ma(in/\n", "repos.yaml:2: branch /ma(in/ is not a regular expression"},
		{"repos:\n- id: x\n  plan_requirements: [approve]\n", `repos.yaml:2: plan requirement "approve": want approved, mergeable or undiverged`},
		{"repos:\n- id: x\n  post_workflow_hooks:\n  - shell: bash\n", "repos.yaml:4: a hook needs a run command"},
		{"repos:\n- id: x\n  pre_workflow_hooks:\n  - run: x\n    commands: plan apply\n", `repos.yaml:4: hook commands: "plan apply" is no command`},
		{"repos:\n- id: x\n  drift: sometimes\n", "repos.yaml:3: drift: want true, false, or a mapping"},
		{"repos:\n- id: x\n  drift:\n    every: 1h\n", `repos.yaml:4: unknown key "every" in drift`},
		{"repos:\n- id: x\n  drift:\n    dirs: [../etc]\n", `drift: dirs: "../etc"`},
	}
	for _, tt := range tests {
		_, err := ParseServerConfig("repos.yaml", []byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseServerConfig(%q) = %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

func TestRepoRuleCheck(t *testing.T) {
	t.Parallel()
	repo, err := ParseConfig("atoll.yaml", []byte("version: 3\nprojects:\n- dir: a\n  apply_requirements: []\n- dir: b\n  workflow: mine\nworkflows:\n  mine:\n    plan:\n      steps: [init, plan]\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rule RepoRule
		want string
	}{
		{RepoRule{}, "atoll.yaml:7: workflows: this server does not let repositories define their own workflows"},
		{RepoRule{AllowCustomWorkflows: true}, "atoll.yaml:3: apply_requirements: this server does not let repositories set it"},
		{RepoRule{AllowCustomWorkflows: true, AllowedOverrides: []string{"apply_requirements"}}, "atoll.yaml:5: workflow: this server does not let repositories choose a workflow"},
		{RepoRule{AllowCustomWorkflows: true, AllowedOverrides: []string{"apply_requirements", "workflow"}}, ""},
	}
	for _, tt := range tests {
		err := tt.rule.Check(repo, nil)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Check with %+v = %v, want %q", tt.rule, err, tt.want)
		}
	}
}

// TestServerConfigDrift: drift: is true, false, or what to check; the
// last matching entry that sets it decides.
func TestServerConfigDrift(t *testing.T) {
	t.Parallel()
	cfg, err := ParseServerConfig("repos.yaml", []byte(`repos:
- id: /.*/
  drift:
    projects: [dns]
    dirs: [./stacks/app/]
- id: acme/legacy
  drift: false
- id: acme/other
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		repo string
		want *DriftRule
	}{
		{"acme/infra", &DriftRule{Projects: []string{"dns"}, Dirs: []string{"stacks/app"}}},
		{"acme/legacy", &DriftRule{Off: true}},
		{"acme/other", &DriftRule{Projects: []string{"dns"}, Dirs: []string{"stacks/app"}}},
	} {
		if got := cfg.For(tt.repo, "main").Drift; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("For(%s).Drift = %+v, want %+v", tt.repo, got, tt.want)
		}
	}
	if sel := (DriftRule{Projects: []string{"dns"}, Dirs: []string{"app"}}).Selects(); len(sel) != 2 || sel[0].Project != "dns" || sel[1].Dir != "app" {
		t.Errorf("Selects = %+v", sel)
	}
}

// TestServerConfigPolicies reads Atlantis's policies: as it writes them,
// and refuses what atoll cannot use, saying where.
func TestServerConfigPolicies(t *testing.T) {
	t.Parallel()
	cfg, err := ParseServerConfig("repos.yaml", []byte(`policies:
  conftest_version: v0.25.0
  owners:
    users: [alice]
    teams: [acme/security]
  policy_sets:
  - name: no-forbidden
    path: /etc/atoll/policies/forbidden/
    source: local
  - name: limits
    path: /etc/atoll/policies/limits.rego
    approve_count: 2
    owners:
      users: [bob]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Policies{
		Owners: Owners{Users: []string{"alice"}, Teams: []string{"acme/security"}},
		Sets: []PolicySet{
			{Name: "no-forbidden", Path: "/etc/atoll/policies/forbidden", ApproveCount: 1},
			{Name: "limits", Path: "/etc/atoll/policies/limits.rego", ApproveCount: 2, Owners: Owners{Users: []string{"bob"}}},
		},
	}
	if !reflect.DeepEqual(cfg.Policies, want) {
		t.Errorf("Policies = %+v, want %+v", cfg.Policies, want)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"policies:\n  policy_sets: []\n", "repos.yaml:2: policies: no policy_sets"},
		{"policies:\n  policy_sets:\n  - path: /p\n", "repos.yaml:3: a policy set needs a name"},
		{"policies:\n  policy_sets:\n  - name: a\n    path: policies/a\n", `repos.yaml:3: policy set "a": path "policies/a": want an absolute path`},
		{"policies:\n  policy_sets:\n  - name: a\n    path: /p\n    source: github\n", `source "github": atoll reads policies from the server's file system only`},
		{"policies:\n  policy_sets:\n  - name: a\n    path: /p\n  - name: a\n    path: /q\n", `repos.yaml:5: policy set "a": a second set of that name`},
		{"policies:\n  policy_sets:\n  - name: a\n    path: /p\n    approve_count: 0\n", "approve_count 0: want at least 1"},
		{"policies:\n  policy_set:\n  - name: a\n", `unknown key "policy_set" in policies`},
	} {
		if _, err := ParseServerConfig("repos.yaml", []byte(tt.yaml)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseServerConfig(%q) = %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

// TestRepoLocking: repo_locking: false in a repos entry turns project
// locks off for its repositories, a later entry's true turns them on
// again, and a repository's project sets it only where the server lets
// it.
func TestRepoLocking(t *testing.T) {
	t.Parallel()
	cfg, err := ParseServerConfig("repos.yaml", []byte("repos:\n- id: acme/*\n  repo_locking: false\n- id: acme/locked\n  repo_locking: true\n- id: acme/open\n  allowed_overrides: [workflow]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for repo, want := range map[string]bool{"acme/infra": true, "acme/locked": false, "acme/open": true, "other/x": false} {
		if got := cfg.For(repo, "main").NoRepoLocking; got != want {
			t.Errorf("For(%q).NoRepoLocking = %v, want %v", repo, got, want)
		}
	}
	repo, err := ParseConfig("atoll.yaml", []byte("version: 3\nprojects:\n- dir: a\n  repo_locking: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := repo.Projects[0]; p.RepoLocking == nil || *p.RepoLocking {
		t.Fatalf("project's RepoLocking = %v, want false", p.RepoLocking)
	}
	if err := (RepoRule{}).Check(repo, nil); err == nil || !strings.Contains(err.Error(), "atoll.yaml:3: repo_locking: this server does not let repositories set it") {
		t.Errorf("Check without the override = %v", err)
	}
	if err := (RepoRule{AllowedOverrides: []string{"repo_locking"}}).Check(repo, nil); err != nil {
		t.Errorf("Check with the override = %v", err)
	}
}
