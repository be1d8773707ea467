package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

// What only GitLab has, or has its own way: see forges_e2e_test.go for
// what runs the same on both forges.

func TestGitLabRefusedWebhooksRunNothing(t *testing.T) {
	t.Parallel()
	e := newGitLabEnv(t, testOptions{})
	gl := e.f.(*vcstest.GitLab)
	gl.CreateRepo(t, "acme/infra", nil)
	pr := gl.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	payload := gl.Payload(t, "merge_request", "open", pr, "", "")
	wrong, none := "not-the-secret", ""
	mustStatus(t, gl.Deliver(t, e.events, "Merge Request Hook", payload, vcstest.DeliverOptions{Secret: &wrong}), http.StatusUnauthorized, "invalid")
	mustStatus(t, gl.Deliver(t, e.events, "Merge Request Hook", payload, vcstest.DeliverOptions{Secret: &none}), http.StatusUnauthorized, "invalid")
	// Notes elsewhere than on a merge request, and edits that add no
	// commit, ask for nothing.
	mustStatus(t, gl.SendIssueComment(t, e.events, "acme/infra", 1, "alice", "atoll plan"), http.StatusOK, "ignored")
	mustStatus(t, gl.SendTitleEdit(t, e.events, pr, "A better title"), http.StatusOK, "ignored")
	mustStatus(t, gl.SendCommentEdited(t, e.events, pr, "alice", "atoll plan"), http.StatusOK, "ignored")
	// The barrier runs after anything queued: nothing was.
	if cs := e.barrier(t, pr); len(cs) != 0 {
		t.Errorf("refused and ignored webhooks left comments: %+v", cs)
	}
	if st := gl.Statuses("acme/infra", pr.HeadSHA); len(st) != 0 {
		t.Errorf("refused and ignored webhooks set statuses: %+v", st)
	}
	if got := gl.Unhandled(); len(got) != 0 {
		t.Errorf("atoll called what the fake GitLab does not serve: %v", got)
	}
}

// A project in a subgroup: its full path names it everywhere, in the
// allowlist, the comments, the locks.
func TestGitLabSubgroupProject(t *testing.T) {
	t.Parallel()
	e := newGitLabEnv(t, testOptions{allowlist: "group/sub/*"})
	gl := e.f.(*vcstest.GitLab)
	gl.CreateRepo(t, "group/sub/infra", nil)
	pr := gl.OpenPull(t, "group/sub/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"main.tf": oneResource}})
	mustStatus(t, gl.SendPullRequest(t, e.events, "open", pr), http.StatusAccepted, "queued")
	if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "Plan: 1 to add") {
		t.Errorf("autoplan in a subgroup:\n%s", c.Body)
	}
	locks, err := e.server.Locks(t.Context())
	if err != nil || len(locks) != 1 || locks[0].Key.Repo != "group/sub/infra" || locks[0].Key.Forge != "gitlab" {
		t.Errorf("locks = %+v, %v; want one on gitlab's group/sub/infra", locks, err)
	}
	gl.CreateRepo(t, "group/other", nil)
	other := gl.OpenPull(t, "group/other", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	mustStatus(t, gl.SendPullRequest(t, e.events, "open", other), http.StatusOK, "not in the allowlist")
}

// An MR whose changed files fill many pages is read to its last page: the
// one project it changes is the last of 2,500 files. Where GitLab lists
// only the first 1,000 (its default diff limit, "changes_count: 1000+"),
// git in the checkout lists the rest.
func TestGitLabManyChangedFiles(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{0, 1000} {
		t.Run(fmt.Sprintf("diff limit %d", limit), func(t *testing.T) {
			t.Parallel()
			gl := vcstest.NewGitLab(t, vcstest.GitLabOptions{Token: testGitLabToken, WebhookSecret: testSecret, DiffMaxFiles: limit})
			e := newGitLabEnv(t, testOptions{gl: gl})
			gl.CreateRepo(t, "acme/infra", nil)
			files := map[string]string{"zz/main.tf": oneResource}
			for i := range 2499 {
				files[fmt.Sprintf("docs/page-%04d.md", i)] = "a page\n"
			}
			pr := gl.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: files})
			mustStatus(t, gl.SendPullRequest(t, e.events, "open", pr), http.StatusAccepted, "queued")
			if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "`zz` in workspace `default`") {
				t.Errorf("autoplan of an MR changing 2,500 files:\n%s", c.Body)
			}
		})
	}
}

// A command atoll picked up gets 👀 on its note; a new plan collapses the
// note of the plan before, GitLab having no way to hide a note.
func TestGitLabNotes(t *testing.T) {
	t.Parallel()
	e := newGitLabEnv(t, testOptions{configure: func(c *Config) { c.HidePrevPlanComments = true }})
	gl := e.f.(*vcstest.GitLab)
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	payload := gl.Payload(t, "note", "create", pr, "bob", "atoll plan")
	var note struct {
		Attrs struct {
			ID int64 `json:"id"`
		} `json:"object_attributes"`
	}
	if err := json.Unmarshal(payload, &note); err != nil || note.Attrs.ID == 0 {
		t.Fatalf("the note's payload has no id: %v", err)
	}
	mustStatus(t, gl.Deliver(t, e.events, "Note Hook", payload, vcstest.DeliverOptions{}), http.StatusAccepted, "queued")
	e.waitComments(t, pr, 2)
	// The earlier note is collapsed once the new one holds the result.
	gl.WaitFor(t, waitLong, "the first plan's note collapsed", func() bool {
		return strings.HasPrefix(gl.Comments(pr.Repo, pr.Number)[0].Body, "<details><summary>Outdated")
	})
	cs := gl.Comments(pr.Repo, pr.Number)
	noteID := note.Attrs.ID
	if got := gl.Awards(pr.Repo, pr.Number, noteID); strings.Join(got, ",") != "eyes" {
		t.Errorf("awards on the command's note = %v, want eyes", got)
	}
	if !strings.HasPrefix(cs[0].Body, "<details><summary>Outdated") || !strings.Contains(cs[0].Body, "Plan: 1 to add") {
		t.Errorf("the first plan's note once planned again:\n%s", cs[0].Body)
	}
	if strings.HasPrefix(cs[1].Body, "<details><summary>Outdated") {
		t.Errorf("the latest plan's note is collapsed:\n%s", cs[1].Body)
	}
}

// A draft waits; marked ready, it plans. An MR from a fork is refused.
func TestGitLabDraftsAndForks(t *testing.T) {
	t.Parallel()
	e := newGitLabEnv(t, testOptions{})
	gl := e.f.(*vcstest.GitLab)
	gl.CreateRepo(t, "acme/infra", nil)
	draft := gl.OpenPull(t, "acme/infra", vcstest.PullSpec{Draft: true, Files: map[string]string{"main.tf": oneResource}})
	mustStatus(t, gl.SendPullRequest(t, e.events, "open", draft), http.StatusOK, "draft")
	mustStatus(t, gl.SendPullRequest(t, e.events, "ready", draft), http.StatusAccepted, "queued")
	if c := e.waitComments(t, draft, 1)[0]; !strings.Contains(c.Body, "Plan: 1 to add") {
		t.Errorf("a draft marked ready:\n%s", c.Body)
	}
	fork := gl.OpenPull(t, "acme/infra", vcstest.PullSpec{Fork: "mallory/infra", Author: "mallory", Files: map[string]string{"main.tf": twoResources}})
	mustStatus(t, gl.SendPullRequest(t, e.events, "open", fork), http.StatusAccepted, "queued")
	if c := e.waitComments(t, fork, 1)[0]; !strings.Contains(c.Body, "does not run pull requests from forks") {
		t.Errorf("an MR from a fork:\n%s", c.Body)
	}
}

// An MR's new commits plan again, and an MR the target moved past is not
// undiverged.
func TestGitLabUpdatesAndRequirements(t *testing.T) {
	t.Parallel()
	e := newGitLabEnv(t, testOptions{configure: func(c *Config) {
		c.ApplyRequirements.Undiverged, c.ApplyRequirements.Mergeable = true, true
	}})
	gl := e.f.(*vcstest.GitLab)
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	pr = gl.PushToPull(t, "acme/infra", pr.Number, map[string]string{"main.tf": twoResources})
	mustStatus(t, gl.SendPullRequest(t, e.events, "update", pr), http.StatusAccepted, "queued")
	if c := e.waitComments(t, pr, 2)[1]; !strings.Contains(c.Body, "Plan: 2 to add") {
		t.Errorf("a plan of new commits:\n%s", c.Body)
	}
	gl.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
	gl.PushToMain(t, "acme/infra", map[string]string{"README.md": "moved on"})
	gl.SetMergeable("acme/infra", pr.Number, false)
	c := e.say(t, pr, "bob", "atoll apply")
	for _, want := range []string{"**undiverged**", "**mergeable**"} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("apply of a diverged, unmergeable MR lacks %s:\n%s", want, c.Body)
		}
	}
	if st := gl.StatusHistory("acme/infra", pr.HeadSHA, "atoll/apply: ./default"); len(st) != 0 {
		t.Errorf("an apply refused its requirements set statuses: %v", st)
	}
}

// --allowed-commenters names GitLab groups by their full path: a member,
// direct or through a parent group, may run commands.
func TestGitLabAllowedCommentersByGroup(t *testing.T) {
	t.Parallel()
	e := newGitLabEnv(t, testOptions{configure: func(c *Config) { c.AllowedCommenters = []string{"acme/platform", "carol"} }})
	gl := e.f.(*vcstest.GitLab)
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	gl.SetGroupPermission("acme/platform", "dave", "developer")
	gl.SetGroupPermission("acme", "erin", "maintainer") // a member of acme/platform through its parent
	for user, allowed := range map[string]bool{"dave": true, "erin": true, "carol": true, "bob": false} {
		c := e.say(t, pr, user, "atoll version")
		if refused := strings.Contains(c.Body, "may not run atoll commands"); refused == allowed {
			t.Errorf("%s (allowed=%v) got:\n%s", user, allowed, c.Body)
		}
	}
}

// --automerge merges through GitLab's merge API once every plan is
// applied, and the server config's delete_source_branch_on_merge deletes
// the source branch.
func TestGitLabAutomerge(t *testing.T) {
	t.Parallel()
	repos, err := workflows.ParseServerConfig("repos.yaml", []byte("repos:\n- id: acme/infra\n  delete_source_branch_on_merge: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newGitLabEnv(t, testOptions{configure: func(c *Config) {
		c.Automerge, c.RepoConfig = true, repos
	}})
	gl := e.f.(*vcstest.GitLab)
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	gl.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
	e.say(t, pr, "bob", "atoll apply")
	e.waitComments(t, pr, 3)
	if got := e.commentsContaining(pr, "atoll merged it"); len(got) != 1 || !gl.Merged("acme/infra", pr.Number) {
		t.Fatalf("not merged after its only plan was applied: %+v", gl.Comments(pr.Repo, pr.Number))
	}
	if gl.BranchExists("acme/infra", pr.Branch) {
		t.Errorf("branch %s still there after the merge", pr.Branch)
	}
}

// With "pipelines must succeed", GitLab holds a merge request back while
// any status of its commit has not succeeded, atoll's pending atoll/apply
// among them: mergeable waits for the others only.
func TestGitLabMergeableWaitsOnlyForOthers(t *testing.T) {
	t.Parallel()
	e := newGitLabEnv(t, testOptions{configure: func(c *Config) { c.ApplyRequirements = workflows.Requirements{Mergeable: true} }})
	gl := e.f.(*vcstest.GitLab)
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	gl.SetMergeStatus("acme/infra", pr.Number, "ci_still_running")
	gl.SetStatus(t, "acme/infra", pr.HeadSHA, "ci/build", "running")
	if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "**mergeable**") {
		t.Errorf("apply while another status runs:\n%s", c.Body)
	}
	gl.SetStatus(t, "acme/infra", pr.HeadSHA, "ci/build", "success")
	if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "Apply complete! Resources: 1 added") {
		t.Errorf("apply once only atoll's statuses wait:\n%s", c.Body)
	}
}
