package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking/redistest"
	"github.com/atoll-iac/atoll/vcs/gitlab"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// The tests here send no webhook unless they say so: the server finds
// what happened by polling the fake forge.

// testPollInterval is short, for tests that wait for a few polls.
const testPollInterval = 100 * time.Millisecond

// polling configures a server that polls acme/infra.
func polling(opts testOptions) testOptions {
	if opts.allowlist == "" {
		opts.allowlist = "acme/infra"
	}
	configure := opts.configure
	opts.configure = func(c *Config) {
		c.PollInterval = testPollInterval
		if configure != nil {
			configure(c)
		}
	}
	return opts
}

// waitPolled waits until the server has polled repo once, and so knows
// its open pull requests.
func (e *testEnv) waitPolled(t testing.TB, repo string) {
	t.Helper()
	key := "poll/" + e.server.forges[0].Name() + "/" + repo
	e.f.WaitFor(t, waitLong, "a first poll of "+repo, func() bool {
		v, err := e.server.tasks.Marked(context.Background(), key)
		return err == nil && v != ""
	})
}

// polledPull creates acme/infra, waits for its first poll, and opens a
// pull request changing main.tf, which a poll finds and plans.
func (e *testEnv) polledPull(t testing.TB) vcstest.Pull {
	t.Helper()
	e.f.CreateRepo(t, "acme/infra", nil)
	e.waitPolled(t, "acme/infra")
	pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "Plan: 1 to add") {
		t.Fatalf("autoplan of a pull request a poll found:\n%s", c.Body)
	}
	return pr
}

// settle waits a few polls, for what would happen if something were to.
func settle() { time.Sleep(6 * testPollInterval) }

// reactions are the reactions (GitLab: award emoji) on comment id of p.
func (e *testEnv) reactions(p vcstest.Pull, id int64) []string {
	if e.gh != nil {
		return e.gh.Reactions(p.Repo, id)
	}
	return e.f.(*vcstest.GitLab).Awards(p.Repo, p.Number, id)
}

func TestPollPlansAndApplies(t *testing.T) {
	t.Parallel()
	onEachForge(t, polling(testOptions{}), func(t *testing.T, f forge, e *testEnv) {
		pr := e.polledPull(t)
		id := e.f.PostComment(t, pr, "bob", "atoll plan")
		if c := e.waitComments(t, pr, 2)[1]; !strings.Contains(c.Body, "Plan: 1 to add") {
			t.Errorf("answer to a comment a poll found:\n%s", c.Body)
		}
		if got := e.reactions(pr, id); !slices.Equal(got, []string{"eyes"}) {
			t.Errorf("reactions on the comment = %v, want [eyes]", got)
		}
		e.f.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
		e.f.PostComment(t, pr, "bob", "atoll apply")
		if c := e.waitComments(t, pr, 3)[2]; !strings.Contains(c.Body, "Apply complete! Resources: 1 added") {
			t.Errorf("apply from a comment a poll found:\n%s", c.Body)
		}
		e.f.ClosePull(t, "acme/infra", pr.Number)
		if c := e.waitComments(t, pr, 4)[3]; !strings.Contains(c.Body, "cleaned up after this pull request") {
			t.Errorf("clean-up of a pull request a poll found closed:\n%s", c.Body)
		}
		if locks, err := e.server.Locks(t.Context()); err != nil || len(locks) != 0 {
			t.Errorf("locks after the close: %+v, %v", locks, err)
		}
	})
}

// A push plans the new head; a draft plans nothing until it is ready.
func TestPollPushAndDraft(t *testing.T) {
	t.Parallel()
	onEachForge(t, polling(testOptions{}), func(t *testing.T, f forge, e *testEnv) {
		pr := e.polledPull(t)
		e.f.PushToPull(t, "acme/infra", pr.Number, map[string]string{"main.tf": twoResources})
		if c := e.waitComments(t, pr, 2)[1]; !strings.Contains(c.Body, "Plan: 2 to add") {
			t.Errorf("plan of a push a poll found:\n%s", c.Body)
		}
		draft := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Draft: true, Files: map[string]string{"other/main.tf": oneResource}})
		settle()
		if cs := e.f.Comments("acme/infra", draft.Number); len(cs) != 0 {
			t.Errorf("a draft got comments: %+v", cs)
		}
		ready := "ready_for_review"
		if f.name == "gitlab" {
			ready = "ready"
		}
		e.f.Act(t, ready, draft)
		if c := e.waitComments(t, draft, 1)[0]; !strings.Contains(c.Body, "Plan: 1 to add") {
			t.Errorf("plan of a draft made ready:\n%s", c.Body)
		}
	})
}

// A comment that a webhook brings and a poll finds runs once; so does a
// pull request opened.
func TestPollAndWebhookRunOnce(t *testing.T) {
	t.Parallel()
	onEachForge(t, polling(testOptions{}), func(t *testing.T, f forge, e *testEnv) {
		e.seenTwice(t)
	})
}

// seenTwice creates acme/infra, waits for its first poll, and opens a pull
// request that both webhooks and polls report, then comments a plan on
// it, seen both ways too: it checks that each ran once.
func (e *testEnv) seenTwice(t *testing.T) {
	t.Helper()
	e.f.CreateRepo(t, "acme/infra", nil)
	e.waitPolled(t, "acme/infra")
	pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	e.f.SendPullRequest(t, e.events, "opened", pr)
	e.waitComments(t, pr, 1)
	e.f.SendPullComment(t, e.events, pr, "bob", "atoll plan")
	e.waitComments(t, pr, 2)
	settle()
	if cs := e.f.Comments(pr.Repo, pr.Number); len(cs) != 2 {
		t.Errorf("%d comments after an autoplan and a plan each seen twice, want 2:\n%+v", len(cs), cs)
	}
}

// A comment edited into a command after a poll read it runs nothing, as
// an edited comment delivered by webhook runs nothing.
func TestPollIgnoresEditedComments(t *testing.T) {
	t.Parallel()
	onEachForge(t, polling(testOptions{}), func(t *testing.T, f forge, e *testEnv) {
		pr := e.polledPull(t)
		id := e.f.PostComment(t, pr, "bob", "looks fine to me")
		settle()
		e.f.EditComment(t, "acme/infra", pr.Number, id, "atoll plan")
		settle()
		if cs := e.f.Comments(pr.Repo, pr.Number); len(cs) != 1 {
			t.Errorf("%d comments after a comment was edited into a command, want 1:\n%+v", len(cs), cs)
		}
	})
}

// What happens while the server is down is found when it is back, and
// what it did before is not done again.
func TestPollAcrossARestart(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	dataDir := t.TempDir()
	opts := polling(testOptions{gh: gh, configure: func(c *Config) { c.DataDir = dataDir }})
	first := newTestEnv(t, opts)
	pr := first.polledPull(t)
	first.shutDown(t, 30*time.Second)

	gh.PushToPull(t, "acme/infra", pr.Number, map[string]string{"main.tf": twoResources})
	gh.PostComment(t, pr, "bob", "atoll plan")
	second := newTestEnv(t, opts)
	cs := second.waitComments(t, pr, 3)
	settle()
	if cs = gh.Comments(pr.Repo, pr.Number); len(cs) != 3 {
		t.Fatalf("%d comments, want the first autoplan, one of the push and the answer to the comment:\n%+v", len(cs), cs)
	}
	for i, want := range []string{"Plan: 1 to add", "Plan: 2 to add", "Plan: 2 to add"} {
		if !strings.Contains(cs[i].Body, want) {
			t.Errorf("comment %d lacks %q:\n%s", i, want, cs[i].Body)
		}
	}
}

// While nothing changes, every poll is answered 304.
func TestPollIdleIsNotModified(t *testing.T) {
	t.Parallel()
	onEachForge(t, polling(testOptions{}), func(t *testing.T, f forge, e *testEnv) {
		e.polledPull(t)
		settle()
		before := e.f.APIStats()
		settle()
		after := e.f.APIStats()
		asked, unchanged := after.Requests-before.Requests, after.NotModified-before.NotModified
		if asked < 3 || unchanged != asked {
			t.Errorf("idle polls made %d requests, %d answered 304; want several, all 304", asked, unchanged)
		}
	})
}

// A rate limit nearly spent holds the poller back until its reset; one
// spent is not hammered.
func TestPollWaitsForTheRateLimit(t *testing.T) {
	t.Parallel()
	onEachForge(t, polling(testOptions{}), func(t *testing.T, f forge, e *testEnv) {
		pr := e.polledPull(t)
		settle()
		reset := time.Now().Add(2 * time.Second)
		e.f.SetRateLimit(10, reset)
		time.Sleep(2 * testPollInterval) // a poll sees how little is left
		before := e.f.APIStats()
		time.Sleep(time.Until(reset) - 300*time.Millisecond)
		if n := e.f.APIStats().Requests - before.Requests; n > 2 {
			t.Errorf("%d requests while the rate limit was nearly spent, want a poll's at most", n)
		}
		e.f.WaitFor(t, waitLong, "polls after the reset", func() bool { return e.f.APIStats().Requests > before.Requests+2 })

		// Spent: the poller says it waits for the reset, and does.
		reset = time.Now().Add(2 * time.Second)
		e.f.SetRateLimit(0, reset)
		e.f.PostComment(t, pr, "bob", "atoll plan")
		e.f.WaitFor(t, waitLong, "the poller to say it waits", func() bool {
			until := pollerState(t, e, f.name).PausedUntil
			return until != nil && !until.Before(reset.Truncate(time.Second))
		})
		e.waitComments(t, pr, 2)
		if time.Now().Before(reset.Truncate(time.Second)) {
			t.Error("the comment was answered before the rate limit's reset")
		}
		if n := e.f.APIStats().Limited; n > 3 {
			t.Errorf("%d requests refused for the rate limit; the poller should wait, not retry", n)
		}
	})
}

// pollerState is what e's /healthz says of its poller of forge.
func pollerState(t *testing.T, e *testEnv, forge string) pollStatus {
	t.Helper()
	rec := httptest.NewRecorder()
	e.server.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	var h health
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("healthz: %d %s", rec.Code, rec.Body)
	}
	p, ok := h.Pollers[forge]
	if !ok {
		t.Fatalf("healthz says nothing of the %s poller: %s", forge, rec.Body)
	}
	return p
}

// A late delivery of an earlier state of a pull request plans nothing,
// and leaves the poller nothing to plan again.
func TestPollAndALateWebhook(t *testing.T) {
	t.Parallel()
	onEachForge(t, polling(testOptions{}), func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", nil)
		e.waitPolled(t, "acme/infra")
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
		opened := e.f.Payload(t, f.pullPayload, "opened", pr, "", "")
		e.waitComments(t, pr, 1)
		time.Sleep(time.Second) // GitHub's times are to the second
		e.f.PushToPull(t, "acme/infra", pr.Number, map[string]string{"main.tf": twoResources})
		e.waitComments(t, pr, 2)
		mustStatus(t, e.f.Deliver(t, e.events, f.pullEvent, opened, vcstest.DeliverOptions{}), http.StatusOK, "already received")
		settle()
		if cs := e.f.Comments(pr.Repo, pr.Number); len(cs) != 2 {
			t.Errorf("%d comments after a late delivery of the opening, want the two plans:\n%+v", len(cs), cs)
		}
	})
}

// The allowlist may spell a repository otherwise than the forge: the
// poller uses the forge's name, the one webhooks bring, so what both
// find runs once, and locks are the forge's name's.
func TestPollUsesTheForgesName(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, polling(testOptions{allowlist: "ACME/Infra"}))
	e.seenTwice(t)
	if locks, err := e.server.Locks(t.Context()); err != nil || len(locks) != 1 || locks[0].Key.Repo != "acme/infra" {
		t.Errorf("locks = %+v, %v; want one, under the forge's name", locks, err)
	}
}

// Each forge polls the repositories it has: with GitHub and GitLab on one
// server, neither fails for the other's.
func TestPollBothForges(t *testing.T) {
	t.Parallel()
	gl := newTestGitLab(t)
	e := newTestEnv(t, polling(testOptions{configure: func(c *Config) {
		c.GitLab = gitlab.Config{Token: testGitLabToken, WebhookSecret: testSecret, URL: gl.URL()}
		c.RepoAllowlist, _ = ParseAllowlist("acme/infra,group/sub/infra")
	}}))
	e.gh.CreateRepo(t, "acme/infra", nil)
	gl.CreateRepo(t, "group/sub/infra", nil)
	mr := gl.OpenPull(t, "group/sub/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	gl.PostComment(t, mr, "bob", "atoll plan")
	// The comment came before the first poll: it is not run.
	settle()
	gl.PostComment(t, mr, "bob", "atoll plan")
	gitlabEnv := &testEnv{f: gl, events: e.events, server: e.server}
	gitlabEnv.waitComments(t, mr, 1)
	for _, forge := range []string{"github", "gitlab"} {
		if st := pollerState(t, e, forge); st.LastCycle == nil || st.Error != "" {
			t.Errorf("the %s poller: %+v; want a clean cycle", forge, st)
		}
	}
	// Both forges' cycles and API calls are counted apart.
	m := e.scrape(t)
	for _, forge := range []string{"github", "gitlab"} {
		if n, _ := metricValue(m, "atoll_poll_cycles_total", "forge="+forge, "outcome=ok"); n < 1 {
			t.Errorf("%s poll cycles counted: %v, want at least one", forge, n)
		}
		if n, _ := metricValue(m, "atoll_forge_requests_total", "forge="+forge, "code=2xx"); n < 1 {
			t.Errorf("%s API calls counted: %v, want some", forge, n)
		}
	}
}

// Replicas poll one at a time; when the one polling dies, another takes
// over.
func TestPollReplicasTakeOver(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	gh := newTestGitHub(t)
	opts := polling(testOptions{gh: gh, configure: func(c *Config) { c.Redis = RedisConfig{Addr: srv.Addr} }})
	a, b := newTestEnv(t, opts), newTestEnv(t, opts)
	pr := a.polledPull(t)
	gh.PostComment(t, pr, "bob", "atoll plan")
	a.waitComments(t, pr, 2)
	settle()
	if n := len(gh.Comments(pr.Repo, pr.Number)); n != 2 {
		t.Fatalf("%d comments with two replicas polling, want 2", n)
	}
	var pollingNow, standing *testEnv
	switch polls := [2]bool{pollerState(t, a, "github").Polling, pollerState(t, b, "github").Polling}; polls {
	case [2]bool{true, false}:
		pollingNow, standing = a, b
	case [2]bool{false, true}:
		pollingNow, standing = b, a
	default:
		t.Fatalf("replicas polling: %v, want one", polls)
	}
	pollingNow.shutDown(t, 30*time.Second)
	gh.PostComment(t, pr, "bob", "atoll plan")
	standing.waitComments(t, pr, 3)
	if st := pollerState(t, standing, "github"); !st.Polling || st.LastCycle == nil {
		t.Errorf("the replica left says %+v; want it polling, with a cycle done", st)
	}
}
