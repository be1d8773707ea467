package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/workflows"
)

// forbidInput is a policy in conftest's style (Rego v0, package main):
// no terraform_data whose input is "forbidden".
const forbidInput = `package main

deny[msg] {
  rc := input.resource_changes[_]
  rc.type == "terraform_data"
  rc.change.after.input == "forbidden"
  msg := sprintf("%s: input must not be forbidden", [rc.address])
}

warn[msg] {
  rc := input.resource_changes[_]
  rc.change.actions[_] == "create"
  msg := sprintf("%s is created", [rc.address])
}
`

// TestPolicyChecks, on each forge: with policies in the server config,
// a plan that breaks one says which rule and why under the project's
// plan, fails atoll/policy, and cannot be applied; one that keeps them
// passes.
func TestPolicyChecks(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "forbid.rego"), []byte(forbidInput), 0o644); err != nil {
		t.Fatal(err)
	}
	server, err := workflows.ParseServerConfig("repos.yaml", []byte("policies:\n  owners:\n    users: [alice]\n  policy_sets:\n  - name: no-forbidden\n    path: "+dir+"\n    source: local\n    owners:\n      users: [carol]\n"))
	if err != nil {
		t.Fatal(err)
	}
	onEachForge(t, testOptions{configure: func(c *Config) { c.RepoConfig = server }}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"main.tf": "resource \"terraform_data\" \"web\" {\n  input = \"forbidden\"\n}\n"})
		c := e.f.Comments("acme/infra", pr.Number)[0]
		for _, want := range []string{"Plan: 1 to add", "**Policy checks**", "- ❌ `no-forbidden` failed", "  - `terraform_data.web: input must not be forbidden`", "  - ⚠️ `terraform_data.web is created`", "A policy denied this plan: it is applied once the policy's owners approve it"} {
			if !strings.Contains(c.Body, want) {
				t.Errorf("the plan comment lacks %q:\n%s", want, c.Body)
			}
		}
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/policy: ./default"); st.State != f.failure {
			t.Errorf("policy status: %+v", st)
		}
		e.f.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
		if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "the policy set `no-forbidden` denied this plan") || strings.Contains(c.Body, "Apply complete") {
			t.Errorf("apply of a plan a policy denied:\n%s", c.Body)
		}
		// The author owns the policies, but not this pull request's
		// approval; bob owns none; carol owns the set.
		for _, c := range []struct{ user, want string }{
			{"alice", "you opened this pull request"},
			{"bob", "you own none of the policy sets"},
			{"carol", "every policy that denied it is approved; it can be applied"},
		} {
			if got := e.say(t, pr, c.user, "atoll approve_policies"); !strings.Contains(got.Body, c.want) {
				t.Errorf("approve_policies by %s:\n%s", c.user, got.Body)
			}
		}
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/policy: ./default"); st.State != "success" {
			t.Errorf("policy status once approved: %+v", st)
		}
		if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "Apply complete! Resources: 1 added") {
			t.Errorf("apply once the policy is approved:\n%s", c.Body)
		}

		ok := e.f.PushToPull(t, "acme/infra", pr.Number, map[string]string{"main.tf": "resource \"terraform_data\" \"web\" {\n  input = \"fine\"\n}\n"})
		if c := e.say(t, ok, "bob", "atoll plan"); !strings.Contains(c.Body, "- ✅ `no-forbidden` passed") {
			t.Errorf("the plan of a change that keeps the policies:\n%s", c.Body)
		}
		if st := e.status("acme/infra", ok.HeadSHA, "atoll/policy: ./default"); st.State != "success" {
			t.Errorf("policy status once it passes: %+v", st)
		}
	})
}

// TestPolicyCheckOff: a repository whose entry sets policy_check: false
// is not checked.
func TestPolicyCheckOff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "forbid.rego"), []byte(forbidInput), 0o644); err != nil {
		t.Fatal(err)
	}
	server, err := workflows.ParseServerConfig("repos.yaml", []byte("repos:\n- id: acme/infra\n  policy_check: false\npolicies:\n  policy_sets:\n  - name: no-forbidden\n    path: "+dir+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.RepoConfig = server }})
	pr := e.planned(t, map[string]string{"main.tf": "resource \"terraform_data\" \"web\" {\n  input = \"forbidden\"\n}\n"})
	if c := e.gh.Comments("acme/infra", pr.Number)[0]; strings.Contains(c.Body, "Policy checks") {
		t.Errorf("a repository with policy_check: false was checked:\n%s", c.Body)
	}
	if st := e.status("acme/infra", pr.HeadSHA, "atoll/policy: ./default"); st.State != "" {
		t.Errorf("policy status of an unchecked repository: %+v", st)
	}
}
