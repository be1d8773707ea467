package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

// commentsContaining returns the comments on p whose body contains s.
func (e *testEnv) commentsContaining(p vcstest.Pull, s string) []vcstest.Comment {
	var found []vcstest.Comment
	for _, c := range e.f.Comments(p.Repo, p.Number) {
		if strings.Contains(c.Body, s) {
			found = append(found, c)
		}
	}
	return found
}

// planned opens a pull request changing files in acme/infra and waits for
// its autoplan.
func (e *testEnv) planned(t *testing.T, files map[string]string) vcstest.Pull {
	t.Helper()
	e.f.CreateRepo(t, "acme/infra", nil)
	pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "alice", Files: files})
	e.f.SendPullRequest(t, e.events, "opened", pr)
	if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "plan succeeded") {
		t.Fatalf("autoplan:\n%s", c.Body)
	}
	return pr
}

// say comments body on p as user and returns the answer.
func (e *testEnv) say(t *testing.T, p vcstest.Pull, user, body string) vcstest.Comment {
	t.Helper()
	n := len(e.f.Comments(p.Repo, p.Number))
	mustStatus(t, e.f.SendPullComment(t, e.events, p, user, body), http.StatusAccepted, "queued")
	return e.waitComments(t, p, n+1)[n]
}

func TestApproveThenApply(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"main.tf": oneResource})

		c := e.say(t, pr, "bob", "atoll apply")
		if !strings.Contains(c.Body, "will not apply yet") || !strings.Contains(c.Body, "**approved**") {
			t.Fatalf("apply before approval:\n%s", c.Body)
		}
		e.f.SetPermission("acme/infra", "zed", "read")
		e.f.Review(t, "acme/infra", pr.Number, "zed", "APPROVED")
		if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "**approved**") {
			t.Fatalf("apply approved by a reader only:\n%s", c.Body)
		}
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/apply: ./default"); st.State != "" {
			t.Errorf("a refused apply set a status: %+v", st)
		}

		e.f.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
		c = e.say(t, pr, "bob", "atoll apply")
		for _, want := range []string{"apply succeeded: `.` in workspace `default`", "\nApply complete! Resources: 1 added, 0 changed, 0 destroyed.\n", "terraform_data.web: Creation complete"} {
			if !strings.Contains(c.Body, want) {
				t.Errorf("apply comment lacks %q:\n%s", want, c.Body)
			}
		}
		if c.Edits != 1 {
			t.Errorf("apply comment edited %d times, want once: from running to result", c.Edits)
		}
		if h := e.f.StatusHistory("acme/infra", pr.HeadSHA, "atoll/apply: ./default"); strings.Join(h, ",") != f.running+",success" {
			t.Errorf("apply status history %v", h)
		}
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/apply"); st.State != "success" || st.Description != "1/1 projects applied" {
			t.Errorf("aggregate apply status %+v", st)
		}
		// The plan is consumed: a second apply has nothing to do, and a new
		// plan sees the applied state.
		if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "no plan waiting to be applied") {
			t.Errorf("second apply:\n%s", c.Body)
		}
		if c := e.say(t, pr, "bob", "atoll plan"); !strings.Contains(c.Body, "No changes.") {
			t.Errorf("plan after apply:\n%s", c.Body)
		}
	})
}

func TestApplyRequirements(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.ApplyRequirements = workflows.Requirements{Approved: true, Mergeable: true, Undiverged: true}
	}})
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	e.gh.Review(t, "acme/infra", pr.Number, "alice", "APPROVED") // the author's own
	e.gh.SetPermission("acme/infra", "zed", "read")
	e.gh.Review(t, "acme/infra", pr.Number, "zed", "APPROVED") // a reader's
	e.gh.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
	e.gh.Review(t, "acme/infra", pr.Number, "carol", "CHANGES_REQUESTED")
	e.gh.SetMergeable("acme/infra", pr.Number, false)
	e.gh.PushToMain(t, "acme/infra", map[string]string{"README.md": "moved on"})

	c := e.say(t, pr, "bob", "atoll apply")
	for _, want := range []string{"**approved**", "**mergeable**", "**undiverged**: `main` has commits"} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("refusal lacks %q:\n%s", want, c.Body)
		}
	}
	e.gh.Review(t, "acme/infra", pr.Number, "carol", "APPROVED")
	e.gh.SetMergeable("acme/infra", pr.Number, true)
	c = e.say(t, pr, "bob", "atoll apply")
	if strings.Contains(c.Body, "**approved**") || strings.Contains(c.Body, "**mergeable**") || !strings.Contains(c.Body, "**undiverged**") {
		t.Errorf("after approval and with mergeable on, only undiverged should be unmet:\n%s", c.Body)
	}
	if st := e.status("acme/infra", pr.HeadSHA, "atoll/apply: ./default"); st.State != "" {
		t.Errorf("refused applies set a status: %+v", st)
	}
}

func TestApplyAfterNewCommitIsStale(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{configure: func(c *Config) { c.ApplyRequirements = workflows.Requirements{} }}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"main.tf": oneResource})
		// A commit whose webhook never arrived.
		head := e.f.PushToPull(t, "acme/infra", pr.Number, map[string]string{"main.tf": twoResources})
		c := e.say(t, head, "bob", "atoll apply")
		if !strings.Contains(c.Body, "will not apply plans made before this pull request's latest commit") || !strings.Contains(c.Body, "comment `atoll plan -d .`") {
			t.Errorf("stale apply:\n%s", c.Body)
		}
		if h := e.f.StatusHistory("acme/infra", head.HeadSHA, "atoll/apply: ./default"); len(h) != 0 {
			t.Errorf("stale apply ran: %v", h)
		}
		// Once the webhook comes, the old plan is discarded and a new one made.
		e.f.SendPullRequest(t, e.events, "synchronize", head)
		if c := e.waitComments(t, head, 3)[2]; !strings.Contains(c.Body, "Plan: 2 to add") {
			t.Errorf("plan of the new commit:\n%s", c.Body)
		}
	})
}

func TestUnlockReleasesAndDiscards(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"infra/main.tf": oneResource})
		c := e.say(t, pr, "alice", "atoll unlock")
		for _, want := range []string{"unlocked this pull request", "Locks released:\n- `infra` in workspace `default`", "Unapplied plans discarded:\n- `infra` in workspace `default` (Plan: 1 to add, 0 to change, 0 to destroy.)"} {
			if !strings.Contains(c.Body, want) {
				t.Errorf("unlock comment lacks %q:\n%s", want, c.Body)
			}
		}
		if locks, err := e.server.Locks(context.Background()); err != nil || len(locks) != 0 {
			t.Errorf("locks after unlock: %+v, %v", locks, err)
		}
		e.f.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
		if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "no plan waiting to be applied") {
			t.Errorf("apply after unlock:\n%s", c.Body)
		}
		if c := e.say(t, pr, "alice", "atoll unlock"); !strings.Contains(c.Body, "nothing to release") {
			t.Errorf("second unlock:\n%s", c.Body)
		}
	})
}

func TestCloseDeletesWorkspaces(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.DataDir = dataDir }})
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	prDir := filepath.Join(dataDir, "repos", "github", "acme", "infra", "@1")
	plansDir := filepath.Join(dataDir, "plans", "github", "acme", "infra", "@1")
	if _, err := os.Stat(filepath.Join(plansDir, "plans", "default")); err != nil {
		t.Fatalf("no plans kept after a plan: %v", err)
	}
	e.gh.ClosePull(t, "acme/infra", pr.Number)
	e.gh.SendPullRequest(t, e.events, "closed", pr)
	c := e.waitComments(t, pr, 2)[1]
	if !strings.Contains(c.Body, "cleaned up after this pull request") || !strings.Contains(c.Body, "Locks released:") || !strings.Contains(c.Body, "Unapplied plans discarded:") {
		t.Errorf("close comment:\n%s", c.Body)
	}
	for _, dir := range []string{prDir, plansDir} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s still there after close: %v", dir, err)
		}
	}
	if locks, err := e.server.Locks(context.Background()); err != nil || len(locks) != 0 {
		t.Errorf("locks after close: %+v, %v", locks, err)
	}
}

func TestForkPullsRefusedByDefault(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Fork: "mallory/infra", Author: "mallory", Files: map[string]string{"main.tf": oneResource}})
	e.gh.SendPullRequest(t, e.events, "opened", pr)
	if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "does not run pull requests from forks") {
		t.Errorf("fork autoplan:\n%s", c.Body)
	}
	if c := e.say(t, pr, "alice", "atoll plan"); !strings.Contains(c.Body, "does not run pull requests from forks") {
		t.Errorf("fork plan command:\n%s", c.Body)
	}
	if st := e.gh.Statuses("acme/infra", pr.HeadSHA); len(st) != 0 {
		t.Errorf("a fork pull request got statuses: %+v", st)
	}

	allowing := newTestEnv(t, testOptions{configure: func(c *Config) { c.AllowForkPRs = true }})
	allowing.gh.CreateRepo(t, "acme/infra", nil)
	pr = allowing.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Fork: "mallory/infra", Files: map[string]string{"main.tf": oneResource}})
	allowing.gh.SendPullRequest(t, allowing.events, "opened", pr)
	if c := allowing.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "plan succeeded") {
		t.Errorf("fork plan with --allow-fork-prs:\n%s", c.Body)
	}
}

func TestCommenterWithoutAccessRefused(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"main.tf": oneResource})
		e.f.SetPermission("acme/infra", "mallory", "read")
		e.f.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
		for _, body := range []string{"atoll apply", "atoll plan -d ../etc", "atoll unlock"} {
			if c := e.say(t, pr, "mallory", body); strings.TrimSpace(c.Body) != "@mallory, you may not run atoll commands in this repository: that takes write access to it." {
				t.Errorf("reply to %q by a reader:\n%s", body, c.Body)
			}
		}
		if h := e.f.StatusHistory("acme/infra", pr.HeadSHA, "atoll/apply: ./default"); len(h) != 0 {
			t.Errorf("a reader's apply ran: %v", h)
		}
		if locks, err := e.server.Locks(context.Background()); err != nil || len(locks) != 1 {
			t.Errorf("a reader's unlock released locks: %+v, %v", locks, err)
		}
	})
}

func TestAllowedCommentersByTeam(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.AllowedCommenters = []string{"acme/infra-team", "carol"} }})
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	e.gh.AddTeamMember("acme", "infra-team", "dave")
	for user, allowed := range map[string]bool{"dave": true, "carol": true, "bob": false} {
		c := e.say(t, pr, user, "atoll version")
		if refused := strings.Contains(c.Body, "may not run atoll commands"); refused == allowed {
			t.Errorf("%s (allowed=%v) got:\n%s", user, allowed, c.Body)
		}
	}
}

func TestExtraArguments(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{configure: func(c *Config) { c.AllowedExtraArgs = []string{"-target="} }}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"main.tf": twoResources})
		before := len(e.f.StatusHistory("acme/infra", pr.HeadSHA, "atoll/plan: ./default"))
		for _, body := range []string{"atoll plan -- -refresh=false", "atoll plan -- -chdir=/etc", "atoll plan -- -var-file=/etc/passwd"} {
			if c := e.say(t, pr, "alice", body); !strings.Contains(c.Body, "could not read that command") {
				t.Errorf("reply to %q:\n%s", body, c.Body)
			}
		}
		if after := len(e.f.StatusHistory("acme/infra", pr.HeadSHA, "atoll/plan: ./default")); after != before {
			t.Errorf("refused arguments ran a plan")
		}
		if c := e.say(t, pr, "alice", "atoll plan -- -target=terraform_data.db"); !strings.Contains(c.Body, "Plan: 1 to add, 0 to change, 0 to destroy.") {
			t.Errorf("targeted plan:\n%s", c.Body)
		}
	})
}

func TestSecretsNeverReachComments(t *testing.T) {
	t.Parallel()
	const private = "s3cr3t-value-from-the-vault"
	token := "ghp_" + strings.Repeat("Ab1", 12)
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.Env = append(c.Env, "TF_VAR_private="+private, "TF_VAR_token="+token)
		c.RedactEnv = []string{"TF_VAR_private"}
	}})
	config := `variable "private" {
  type = string
}
variable "token" {
  type = string
}
output "echo" {
  value = "${var.private} ${var.token} ` + testToken + `"
}
`
	pr := e.planned(t, map[string]string{"main.tf": config})
	c := e.gh.Comments(pr.Repo, pr.Number)[0]
	for _, secret := range []string{private, token, testToken} {
		if strings.Contains(c.Body, secret) {
			t.Errorf("comment shows %q:\n%s", secret, c.Body)
		}
	}
	if strings.Count(c.Body, "[redacted]") < 3 {
		t.Errorf("comment redacts fewer than 3 values:\n%s", c.Body)
	}
}

func TestConcurrentAppliesRunOneAfterTheOther(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{configure: func(c *Config) {
		c.Parallelism = 2
		c.ApplyRequirements = workflows.Requirements{}
	}}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"main.tf": oneResource})
		for range 2 {
			mustStatus(t, e.f.SendPullComment(t, e.events, pr, "bob", "atoll apply"), http.StatusAccepted, "queued")
		}
		cs := e.waitComments(t, pr, 3)
		if n := len(e.commentsContaining(pr, "Apply complete!")); n != 1 {
			t.Errorf("%d comments report an apply, want 1:\n%+v", n, cs)
		}
		other := cs[1].Body + cs[2].Body
		if !strings.Contains(other, "no plan waiting to be applied") && !strings.Contains(other, "another command applied or discarded this plan meanwhile") {
			t.Errorf("the second apply did not see the first:\n%s", other)
		}
		if h := e.f.StatusHistory("acme/infra", pr.HeadSHA, "atoll/apply: ./default"); strings.Join(h, ",") != f.running+",success" {
			t.Errorf("apply status history %v, want one apply", h)
		}
	})
}

func TestThreeProjectsOneSummaryTable(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"a/main.tf": oneResource, "b/main.tf": twoResources, "c/main.tf": "locals {\n  x = 1\n}\n"})
		cs := e.f.Comments(pr.Repo, pr.Number)
		if len(cs) != 1 {
			t.Fatalf("%d comments for one plan of 3 projects", len(cs))
		}
		for _, row := range []string{
			"### atoll plan: 3 of 3 projects succeeded",
			"| `a` | `default` | ✅ plan succeeded | +1 ~0 -0 |",
			"| `b` | `default` | ✅ plan succeeded | +2 ~0 -0 |",
			"| `c` | `default` | ✅ plan succeeded | +0 ~0 -0 |",
		} {
			if !strings.Contains(cs[0].Body, row) {
				t.Errorf("summary lacks %q:\n%s", row, cs[0].Body)
			}
		}
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan"); st.Description != "3/3 projects planned" {
			t.Errorf("aggregate %+v", st)
		}
	})
}

func TestAutomergeAndSecondPullPlansAfter(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.Automerge = true }})
	first := e.planned(t, map[string]string{"infra/main.tf": oneResource})
	second := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "bob", Files: map[string]string{"infra/other.tf": "locals {\n  y = 2\n}\n"}})
	e.gh.SendPullRequest(t, e.events, "opened", second)
	if c := e.waitComments(t, second, 1)[0]; !strings.Contains(c.Body, "locked by #1") {
		t.Fatalf("second pull request not blocked:\n%s", c.Body)
	}

	e.gh.Review(t, "acme/infra", first.Number, "bob", "APPROVED")
	e.say(t, first, "bob", "atoll apply")
	e.waitComments(t, first, 3)
	if got := e.commentsContaining(first, "atoll merged it"); len(got) != 1 || !e.gh.Merged("acme/infra", first.Number) {
		t.Fatalf("not merged after its only plan was applied: %+v", e.gh.Comments(first.Repo, first.Number))
	}
	e.gh.SendPullRequest(t, e.events, "closed", e.gh.Pull("acme/infra", first.Number))
	e.waitComments(t, first, 4)
	if c := e.say(t, second, "bob", "atoll plan -d infra"); !strings.Contains(c.Body, "plan succeeded") {
		t.Errorf("second pull request once the first merged:\n%s", c.Body)
	}
}

func TestHidePreviousPlanComments(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.HidePrevPlanComments = true }})
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	e.say(t, pr, "alice", "atoll plan")
	e.gh.WaitFor(t, waitLong, "the first plan comment to be hidden", func() bool {
		return e.gh.Comments(pr.Repo, pr.Number)[0].Minimized
	})
	if cs := e.gh.Comments(pr.Repo, pr.Number); cs[1].Minimized {
		t.Error("the latest plan comment is hidden")
	}
}

func TestVersionAndUnknownProject(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"infra/main.tf": oneResource})
		if c := e.say(t, pr, "alice", "atoll version"); !strings.Contains(c.Body, "| `infra` | `default` | opentofu | OpenTofu v") {
			t.Errorf("version:\n%s", c.Body)
		}
		if c := e.say(t, pr, "alice", "atoll plan -p network"); !strings.Contains(c.Body, "There is no project named `network`. This repository's config names no projects") {
			t.Errorf("plan -p:\n%s", c.Body)
		}
		if c := e.say(t, pr, "alice", "atoll apply -p network"); !strings.Contains(c.Body, "There is no plan of project `network` waiting to be applied") {
			t.Errorf("apply -p:\n%s", c.Body)
		}
	})
}

// toolDirs are the directories a step needs to read to run the binary at
// path, which may be a link.
func toolDirs(t *testing.T, path string) []string {
	t.Helper()
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return []string{filepath.Dir(path), filepath.Dir(real)}
}

func TestApplyRefusesAChangedBinary(t *testing.T) {
	t.Parallel()
	real := testTool(t).Path
	wrapper := filepath.Join(t.TempDir(), "tofu")
	writeWrapper := func(fakeVersion string) {
		script := "#!/bin/sh\nexec " + real + " \"$@\"\n"
		if fakeVersion != "" {
			script = "#!/bin/sh\nif [ \"$1\" = version ]; then echo 'OpenTofu " + fakeVersion + "'; exit 0; fi\nexec " + real + " \"$@\"\n"
		}
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeWrapper("")
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.Tool.Path = wrapper
		c.SandboxReadPaths = toolDirs(t, real)
		c.ApplyRequirements = workflows.Requirements{}
	}})
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	writeWrapper("v9.9.9") // upgraded in place after the plan
	c := e.say(t, pr, "bob", "atoll apply")
	if !strings.Contains(c.Body, "apply failed") || !strings.Contains(c.Body, "is gone or changed since") || !strings.Contains(c.Body, "Plan again: `atoll plan -d .`") {
		t.Errorf("apply with a changed binary:\n%s", c.Body)
	}
	if strings.Contains(c.Body, "Apply complete!") {
		t.Error("applied with a binary other than the one that planned")
	}
}

func TestForgedCommenterIsNotBelieved(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.ApplyRequirements = workflows.Requirements{} }})
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	e.gh.SetPermission("acme/infra", "mallory", "read")
	// mallory's comment, in a payload that names bob, a writer, as author.
	payload := strings.ReplaceAll(string(e.gh.Payload(t, "issue_comment", "created", pr, "mallory", "atoll apply")), `"mallory"`, `"bob"`)
	mustStatus(t, e.gh.Deliver(t, e.events, "issue_comment", []byte(payload), vcstest.DeliverOptions{}), http.StatusAccepted, "queued")
	if got := e.barrier(t, pr); len(got) != 1 {
		t.Errorf("a forged comment got answers: %+v", got[1:])
	}
	if h := e.gh.StatusHistory("acme/infra", pr.HeadSHA, "atoll/apply: ./default"); len(h) != 0 {
		t.Errorf("a forged comment applied: %v", h)
	}
}

func TestLockTTLLetsAbandonedLocksLapse(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{configure: func(c *Config) { c.LockTTL = 2 * time.Second }}, func(t *testing.T, f forge, e *testEnv) {
		first := e.planned(t, map[string]string{"main.tf": oneResource})
		second := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": twoResources}})
		if c := e.say(t, second, "alice", "atoll plan"); !strings.Contains(c.Body, "locked by "+f.refMark+"1") {
			t.Fatalf("plan while #%d holds the lock:\n%s", first.Number, c.Body)
		}
		// #1 is abandoned: no command, no close event. Its lock lapses.
		time.Sleep(2 * time.Second)
		if c := e.say(t, second, "alice", "atoll plan"); !strings.Contains(c.Body, "plan succeeded") {
			t.Errorf("plan after the lock lapsed:\n%s", c.Body)
		}
	})
}

// customWorkflows is a server-side repo config that lets acme/infra
// choose its workflow and define its own.
func customWorkflows(t testing.TB) workflows.ServerConfig {
	t.Helper()
	server, err := workflows.ParseServerConfig("repos.yaml", []byte("repos:\n- id: acme/infra\n  allowed_overrides: [workflow]\n  allow_custom_workflows: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	return server
}

func TestLockTTLIsKeptWhileACommandRuns(t *testing.T) {
	t.Parallel()
	server := customWorkflows(t)
	const ttl = 2 * time.Second
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.LockTTL = ttl
		c.RepoConfig = server
		c.Parallelism = 2
	}})
	e.gh.CreateRepo(t, "acme/infra", map[string]string{"atoll.yaml": `version: 3
projects:
- dir: .
  workflow: slow
workflows:
  slow:
    plan:
      steps: [{run: sleep 6}, init, plan]
`})
	first := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	mustStatus(t, e.gh.SendPullComment(t, e.events, first, "alice", "atoll plan"), http.StatusAccepted, "queued")
	e.gh.WaitFor(t, waitLong, "#1 to take the lock", func() bool {
		locks, err := e.server.Locks(t.Context())
		return err == nil && len(locks) == 1
	})
	// #1's plan runs past the TTL it took the lock for.
	time.Sleep(ttl + ttl/4)
	if locks, err := e.server.Locks(t.Context()); err != nil || len(locks) != 1 || locks[0].Pull != first.Number {
		t.Errorf("locks once the TTL passed, while #1 plans: %+v, %v", locks, err)
	}
	second := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": twoResources}})
	if c := e.say(t, second, "bob", "atoll plan"); !strings.Contains(c.Body, "locked by #1") {
		t.Errorf("a plan while #1's long plan runs:\n%s", c.Body)
	}
	if c := e.waitComments(t, first, 1)[0]; !strings.Contains(c.Body, "Plan: 1 to add") {
		t.Errorf("#1's plan:\n%s", c.Body)
	}
}

// An apply inits the project again only where the plan's init left
// something the apply needs: not for a configuration whose init keeps
// nothing, but for one with a module when the checkout lost .terraform.
func TestApplyInitsOnlyWhatInitKept(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		files    map[string]string
		lose     bool   // .terraform removed between plan and apply
		dataDir  string // TF_DATA_DIR in the server's environment
		wantInit bool
	}{
		{"nothing to keep", map[string]string{"main.tf": oneResource}, false, "", false},
		{"module, kept", map[string]string{"main.tf": `module "m" { source = "./m" }`, "m/main.tf": oneResource}, false, "", false},
		{"module, lost", map[string]string{"main.tf": `module "m" { source = "./m" }`, "m/main.tf": oneResource}, true, "", true},
		// What init makes goes where the checkout does not keep it.
		{"TF_DATA_DIR", map[string]string{"main.tf": oneResource}, false, ".tfdata", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dataDir := t.TempDir()
			e := newTestEnv(t, testOptions{configure: func(cfg *Config) {
				cfg.DataDir = dataDir
				cfg.Policy.ApplyRequirements = workflows.Requirements{}
				if c.dataDir != "" {
					cfg.Env = append(cfg.Env, "TF_DATA_DIR="+c.dataDir)
				}
			}})
			pr := e.planned(t, c.files)
			if c.lose {
				if err := os.RemoveAll(filepath.Join(dataDir, "repos", "github", "acme", "infra", "@1", "default", "repo", ".terraform")); err != nil {
					t.Fatal(err)
				}
			}
			if got := e.say(t, pr, "alice", "atoll apply"); !strings.Contains(got.Body, "Apply complete!") {
				t.Fatalf("apply:\n%s", got.Body)
			}
			var inited float64
			e.gh.WaitFor(t, waitLong, "the apply to be counted", func() bool {
				m := e.scrape(t)
				_, counted := metricValue(m, "atoll_jobs_total", "command=apply")
				inited = phaseSplit(m, "apply")["init"]
				return counted
			})
			if (inited > 0) != c.wantInit {
				t.Errorf("the apply spent %vs in init; want an init: %t", inited, c.wantInit)
			}
		})
	}
}
