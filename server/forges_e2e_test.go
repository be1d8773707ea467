package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/locking/redistest"
	"github.com/atoll-iac/atoll/vcs/gitlab"
	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

// The tests here run once on each forge: what works on a GitHub pull
// request works on a GitLab merge request, through the same pipeline.

// forge is one forge the twin tests run on.
type forge struct {
	name string
	env  func(testing.TB, testOptions) *testEnv
	// reader is the permission that may read a repository but not push.
	reader string
	// running is the state a project's status has while it runs.
	running string
	// pullPayload and commentPayload name the pull request and comment
	// payloads of the fake's Payload, commentAction a new comment's
	// action; pullEvent and commentEvent are the events they are
	// delivered as.
	pullPayload, pullEvent                      string
	commentPayload, commentAction, commentEvent string
	// refMark starts a comment's reference to a pull request: #7, !7.
	refMark string
	// failure is the state of a failed status; eventHeader names the event
	// of a delivery.
	failure, eventHeader string
}

var forges = []forge{
	{name: "github", env: newTestEnv, reader: "read", running: "pending",
		pullPayload: "pull_request", pullEvent: "pull_request", commentPayload: "issue_comment", commentAction: "created", commentEvent: "issue_comment", refMark: "#", failure: "failure", eventHeader: "X-GitHub-Event"},
	{name: "gitlab", env: newGitLabEnv, reader: "reporter", running: "running",
		pullPayload: "merge_request", pullEvent: "Merge Request Hook", commentPayload: "note", commentAction: "create", commentEvent: "Note Hook", refMark: "!", failure: "failed", eventHeader: "X-Gitlab-Event"},
}

// onEachForge runs fn on a server of each forge, in parallel subtests.
func onEachForge(t *testing.T, opts testOptions, fn func(t *testing.T, f forge, e *testEnv)) {
	for _, f := range forges {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			fn(t, f, f.env(t, opts))
		})
	}
}

func TestForgesAutoplan(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", map[string]string{"README.md": "hi"})
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"infra/main.tf": oneResource}})
		mustStatus(t, e.f.SendPullRequest(t, e.events, "opened", pr), http.StatusAccepted, "queued")
		c := e.waitComments(t, pr, 1)[0]
		if !strings.Contains(c.Body, "Plan: 1 to add, 0 to change, 0 to destroy.") || !strings.Contains(c.Body, "<details>") {
			t.Errorf("autoplan comment:\n%s", c.Body)
		}
		if got := e.f.StatusHistory("acme/infra", pr.HeadSHA, "atoll/plan: infra/default"); strings.Join(got, ",") != f.running+",success" {
			t.Errorf("status history = %v, want %s then success", got, f.running)
		}
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan"); st.State != "success" {
			t.Errorf("aggregate plan status: %+v", st)
		}
	})
}

func TestForgesPlanApplyClose(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"main.tf": oneResource})
		if c := e.say(t, pr, "bob", "atoll plan"); !strings.Contains(c.Body, "Plan: 1 to add") {
			t.Errorf("plan command:\n%s", c.Body)
		}
		if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "will not apply yet") || !strings.Contains(c.Body, "**approved**") {
			t.Errorf("apply before an approval:\n%s", c.Body)
		}
		e.f.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
		if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.") {
			t.Errorf("apply after an approval:\n%s", c.Body)
		}
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/apply"); st.State != "success" {
			t.Errorf("aggregate apply status: %+v", st)
		}
		e.f.ClosePull(t, "acme/infra", pr.Number)
		mustStatus(t, e.f.SendPullRequest(t, e.events, "closed", pr), http.StatusAccepted, "queued")
		n := len(e.f.Comments(pr.Repo, pr.Number))
		c := e.waitComments(t, pr, n+1)[n]
		if !strings.Contains(c.Body, "cleaned up after this pull request") || !strings.Contains(c.Body, "Locks released:") {
			t.Errorf("close comment:\n%s", c.Body)
		}
		if locks, err := e.server.Locks(context.Background()); err != nil || len(locks) != 0 {
			t.Errorf("locks after close: %+v, %v", locks, err)
		}
	})
}

func TestForgesReaderIsRefused(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"main.tf": oneResource})
		e.f.SetPermission("acme/infra", "mallory", f.reader)
		e.f.SetPermission("acme/infra", "zed", "none")
		for user, access := range map[string]string{"mallory": f.reader, "zed": "no access"} {
			if c := e.say(t, pr, user, "atoll unlock"); !strings.Contains(c.Body, "@"+user+", you may not run atoll commands in this repository") {
				t.Errorf("reply to the unlock of a user with %s:\n%s", access, c.Body)
			}
		}
		if locks, err := e.server.Locks(context.Background()); err != nil || len(locks) != 1 {
			t.Errorf("a reader's unlock released locks: %+v, %v", locks, err)
		}
		// An approval by the author does not count.
		e.f.Review(t, "acme/infra", pr.Number, pr.Author, "APPROVED")
		if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "will not apply yet") {
			t.Errorf("apply approved by its author alone:\n%s", c.Body)
		}
	})
}

// Another pull request's plan of a locked project is refused, naming the
// holder as the forge links it.
func TestForgesLockConflict(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		first := e.planned(t, map[string]string{"main.tf": oneResource})
		second := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "bob", Files: map[string]string{"main.tf": twoResources}})
		mustStatus(t, e.f.SendPullRequest(t, e.events, "opened", second), http.StatusAccepted, "queued")
		ref := fmt.Sprintf("%s%d", f.refMark, first.Number)
		if c := e.waitComments(t, second, 1)[0]; !strings.Contains(c.Body, "locked by "+ref) || !strings.Contains(c.Body, "pull request "+ref+" holds this project's lock") {
			t.Errorf("a plan of a project %s holds:\n%s", ref, c.Body)
		}
	})
}

// One server may serve both forges: a repository of the same name on each
// is two repositories, whose pull requests lock, plan and close apart.
func TestBothForgesOnOneServer(t *testing.T) {
	t.Parallel()
	gl := newTestGitLab(t)
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.GitLab = gitlab.Config{Token: testGitLabToken, WebhookSecret: testSecret, URL: gl.URL()}
	}})
	for _, f := range []fakeForge{e.gh, gl} {
		f.CreateRepo(t, "acme/infra", nil)
	}
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	mr := gl.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": twoResources}})
	mustStatus(t, e.gh.SendPullRequest(t, e.events, "opened", pr), http.StatusAccepted, "queued")
	mustStatus(t, gl.SendPullRequest(t, e.events, "open", mr), http.StatusAccepted, "queued")
	if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "Plan: 1 to add") {
		t.Errorf("GitHub's pull request:\n%s", c.Body)
	}
	gitlabEnv := &testEnv{f: gl, events: e.events, server: e.server}
	if c := gitlabEnv.waitComments(t, mr, 1)[0]; !strings.Contains(c.Body, "Plan: 2 to add") {
		t.Errorf("GitLab's merge request of the same number, on a repository of the same name:\n%s", c.Body)
	}
	e.gh.ClosePull(t, "acme/infra", pr.Number)
	mustStatus(t, e.gh.SendPullRequest(t, e.events, "closed", pr), http.StatusAccepted, "queued")
	e.waitComments(t, pr, 2)
	locks, err := e.server.Locks(t.Context())
	if err != nil || len(locks) != 1 || locks[0].Key.Forge != "gitlab" {
		t.Errorf("locks once GitHub's pull request closed = %+v, %v; want GitLab's alone", locks, err)
	}
	assertNoCommandsSaid(t, gl)
}

// A delivery the forge sends again (it thinks the first failed) runs
// once: GitHub repeats X-GitHub-Delivery, GitLab its Idempotency-Key.
func TestForgesRedeliveryRunsOnce(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", nil)
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
		payload := e.f.Payload(t, f.pullPayload, "opened", pr, "", "")
		first := e.f.Deliver(t, e.events, f.pullEvent, payload, vcstest.DeliverOptions{DeliveryID: "11111111-2222-3333-4444-555555555555", IdempotencyKey: "66666666-7777-8888-9999-000000000000"})
		mustStatus(t, first, http.StatusAccepted, "queued")
		again := vcstest.DeliverOptions{DeliveryID: first.ID, IdempotencyKey: first.IdempotencyKey}
		if f.name == "gitlab" {
			again.DeliveryID = "" // a new X-Gitlab-Event-UUID: the key alone says it is the same
		}
		mustStatus(t, e.f.Deliver(t, e.events, f.pullEvent, payload, again), http.StatusOK, "already received")
		e.waitComments(t, pr, 1)
		e.barrier(t, pr)
		if n := len(e.commentsContaining(pr, "Plan: 1 to add")); n != 1 {
			t.Errorf("%d plan comments for one delivery sent twice, want 1", n)
		}
	})
}

// A repository's config, discovery, versions and named projects work
// through either forge.
func TestForgesRepoConfig(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{configure: func(c *Config) { c.ApplyRequirements = workflows.Requirements{} }}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", map[string]string{
			"atlantis.yaml":       "version: 3\nprojects:\n- name: net\n  dir: net\n  workspace: staging\n- name: app\n  dir: app\n  depends_on: [net]\n",
			"modules/tag/main.tf": "output \"tag\" {\n  value = \"v1\"\n}\n",
			"net/main.tf":         oneResource,
			"app/main.tf":         "module \"tag\" {\n  source = \"../modules/tag\"\n}\n" + oneResource,
			"app/versions.tf":     "terraform {\n  required_version = \">= 1.6\"\n}\n",
		})
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"net/main.tf": twoResources, "app/main.tf": "module \"tag\" {\n  source = \"../modules/tag\"\n}\n" + twoResources}})
		mustStatus(t, e.f.SendPullRequest(t, e.events, "opened", pr), http.StatusAccepted, "queued")
		c := e.waitComments(t, pr, 1)[0]
		for _, want := range []string{"2 of 2 projects succeeded", "| `net` (`net`) | `staging` |", "| `app` (`app`) | `default` |"} {
			if !strings.Contains(c.Body, want) {
				t.Errorf("autoplan lacks %q:\n%s", want, c.Body)
			}
		}
		if c := e.say(t, pr, "bob", "atoll apply -p app"); !strings.Contains(c.Body, "depends on `net`") {
			t.Errorf("apply of app before net:\n%s", c.Body)
		}
		if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "2 of 2 projects succeeded") {
			t.Errorf("apply of both:\n%s", c.Body)
		}
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/apply: net/staging"); st.State != "success" {
			t.Errorf("net's apply status: %+v", st)
		}
	})
}

// TestForgesReplicas plans on one replica and applies on another, both
// sharing Redis, on each forge.
func TestForgesReplicas(t *testing.T) {
	t.Parallel()
	for _, f := range forges {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			a, b := twoReplicasOf(t, f, func(c *Config) { c.ApplyRequirements = workflows.Requirements{} })
			a.f.CreateRepo(t, "acme/infra", nil)
			pr := a.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
			mustStatus(t, a.f.SendPullRequest(t, a.events, "opened", pr), http.StatusAccepted, "queued")
			if c := a.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "plan succeeded") {
				t.Fatalf("plan on replica a:\n%s", c.Body)
			}
			a.shutDown(t, waitLong)
			b.server.Start()
			if c := b.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "Apply complete! Resources: 1 added") {
				t.Errorf("apply on replica b of a plan made on a:\n%s", c.Body)
			}
		})
	}
}

// twoReplicasOf is twoReplicas on forge f: two servers sharing one fake
// forge and one Redis; b runs no jobs until the test starts it.
func twoReplicasOf(t *testing.T, f forge, configure func(*Config)) (a, b *testEnv) {
	t.Helper()
	if f.name == "github" {
		return twoReplicas(t, true, configure)
	}
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	gl := newTestGitLab(t)
	shared := func(c *Config) {
		c.Redis = RedisConfig{Addr: srv.Addr}
		configure(c)
	}
	return newGitLabEnv(t, testOptions{gl: gl, configure: shared}), newGitLabEnv(t, testOptions{gl: gl, configure: shared, idle: true})
}
