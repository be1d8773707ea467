package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking/redistest"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// nowhere is the target of deliveries when the App's webhook URL reaches
// nothing: the fake logs them as failed.
const nowhere = ""

// inboxEnv is a server of the fake's App that reads its delivery log
// every interval, with the data directory dataDir ("" for a new one).
func inboxEnv(t *testing.T, gh *vcstest.GitHub, app *vcstest.App, dataDir string, interval time.Duration) *testEnv {
	return appEnv(t, gh, app, func(c *Config) {
		c.InboxInterval = interval
		if dataDir != "" {
			c.DataDir = dataDir
		}
	})
}

// waitInbox waits until e's inbox has read the log once since since.
func (e *testEnv) waitInbox(t testing.TB, since time.Time) {
	t.Helper()
	e.f.WaitFor(t, waitLong, "the inbox to read the log", func() bool {
		for _, p := range e.server.pollers {
			if st := p.state(); p.name == "github-inbox" && st.LastCycle != nil && st.LastCycle.After(since) {
				return true
			}
		}
		return false
	})
}

// startedInbox is a server of a new fake's App, installed on acme, whose
// inbox reads the log every 200 ms and has started: it takes what is
// delivered from now on.
func startedInbox(t *testing.T) (*testEnv, *vcstest.GitHub) {
	t.Helper()
	gh := newTestGitHub(t)
	app := gh.EnableApp(t, vcstest.AppOptions{})
	gh.Install(t, "acme")
	e := inboxEnv(t, gh, app, "", 200*time.Millisecond)
	e.waitInbox(t, time.Now())
	return e, gh
}

// answeredOnce waits for the inbox of reader to read the log again, then
// checks that each of pulls holds n comments: read again and again, a
// delivery runs once.
func answeredOnce(t *testing.T, reader *testEnv, gh *vcstest.GitHub, n int, pulls ...vcstest.Pull) {
	t.Helper()
	reader.waitInbox(t, time.Now().Add(time.Second))
	for _, pr := range pulls {
		if got := len(gh.Comments(pr.Repo, pr.Number)); got != n {
			t.Errorf("#%d has %d comments after more reads of the log, want %d", pr.Number, got, n)
		}
	}
}

// pullsOfTheirOwn opens n pull requests of acme/infra, each changing a
// project of its own: none holds another's lock.
func pullsOfTheirOwn(t *testing.T, gh *vcstest.GitHub, n int) []vcstest.Pull {
	t.Helper()
	gh.CreateRepo(t, "acme/infra", nil)
	var pulls []vcstest.Pull
	for i := range n {
		pulls = append(pulls, gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{fmt.Sprintf("p%d/main.tf", i): oneResource}}))
	}
	return pulls
}

// plannedEach checks that e answered each of pulls with a plan.
func (e *testEnv) plannedEach(t *testing.T, pulls []vcstest.Pull) {
	t.Helper()
	for _, pr := range pulls {
		if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "Plan: 1 to add") {
			t.Errorf("#%d's plan:\n%s", pr.Number, c.Body)
		}
	}
}

// TestInboxAlone: with no webhook reaching atoll, the App's delivery log
// brings the pull request's opening and a comment, each planned once.
func TestInboxAlone(t *testing.T) {
	t.Parallel()
	e, gh := startedInbox(t)
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	if d := gh.SendPullRequest(t, nowhere, "opened", pr); d.Status != 0 {
		t.Fatalf("a delivery to nowhere was answered %d", d.Status)
	}
	if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "Plan: 1 to add") {
		t.Errorf("the autoplan the inbox brought:\n%s", c.Body)
	}
	gh.SendPullComment(t, nowhere, pr, "alice", "atoll plan")
	if c := e.waitComments(t, pr, 2)[1]; !strings.Contains(c.Body, "Plan: 1 to add") {
		t.Errorf("the plan the inbox brought:\n%s", c.Body)
	}
	answeredOnce(t, e, gh, 2, pr)
}

// TestInboxAfterRestart: comments made while atoll is down are planned
// once it is back, each once.
func TestInboxAfterRestart(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	app := gh.EnableApp(t, vcstest.AppOptions{})
	gh.Install(t, "acme")
	dataDir := t.TempDir()
	first := inboxEnv(t, gh, app, dataDir, 200*time.Millisecond)
	first.waitInbox(t, time.Now())
	pulls := pullsOfTheirOwn(t, gh, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	first.server.Close(ctx)
	cancel()
	for _, pr := range pulls {
		gh.SendPullComment(t, nowhere, pr, "alice", "atoll plan")
	}

	second := inboxEnv(t, gh, app, dataDir, 200*time.Millisecond)
	second.plannedEach(t, pulls)
	answeredOnce(t, second, gh, 1, pulls...)
}

// TestInboxWithWebhooks: events that reach atoll by webhook are not taken
// again from the log; one that failed to is.
func TestInboxWithWebhooks(t *testing.T) {
	t.Parallel()
	e, gh := startedInbox(t)
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	mustStatus(t, gh.SendPullRequest(t, e.events, "opened", pr), http.StatusAccepted, "queued")
	e.waitComments(t, pr, 1)
	e.waitInbox(t, time.Now().Add(time.Second))
	if n := gh.GitHubRequests("/api/v3/app/hook/deliveries/"); n != 0 {
		t.Errorf("the inbox read %d deliveries, want none: the webhook took the only one", n)
	}
	// A webhook atoll refused (a wrong signature) is in the log, failed.
	wrong := "not-the-secret"
	comment := gh.Payload(t, "issue_comment", "created", pr, "alice", "atoll plan")
	mustStatus(t, gh.Deliver(t, e.events, "issue_comment", comment, vcstest.DeliverOptions{Secret: &wrong}), http.StatusUnauthorized, "")
	if c := e.waitComments(t, pr, 2)[1]; !strings.Contains(c.Body, "Plan: 1 to add") {
		t.Errorf("the plan of the refused webhook, from the log:\n%s", c.Body)
	}
	answeredOnce(t, e, gh, 2, pr)

	// A proxy that answers for atoll and forwards nothing: the delivery
	// is in the log as answered 200, but never reached atoll.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer proxy.Close()
	mustStatus(t, gh.SendPullComment(t, proxy.URL, pr, "alice", "atoll plan"), http.StatusOK, "ok")
	if c := e.waitComments(t, pr, 3)[2]; !strings.Contains(c.Body, "Plan: 1 to add") {
		t.Errorf("the plan of a delivery a proxy answered:\n%s", c.Body)
	}
	answeredOnce(t, e, gh, 3, pr)
}

// TestInboxReplicas: of two replicas sharing Redis, one reads the inbox,
// and what it brings runs once.
func TestInboxReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	gh := newTestGitHub(t)
	app := gh.EnableApp(t, vcstest.AppOptions{})
	gh.Install(t, "acme")
	shared := func(c *Config) {
		c.GitHub.Token, c.GitHub.AppID, c.GitHub.AppKey = "", app.ID, app.KeyPEM
		c.InboxInterval = 200 * time.Millisecond
		c.Redis = RedisConfig{Addr: srv.Addr}
	}
	a := newTestEnv(t, testOptions{gh: gh, configure: shared})
	b := newTestEnv(t, testOptions{gh: gh, configure: shared})
	var reading *testEnv
	gh.WaitFor(t, waitLong, "a replica to read the inbox", func() bool {
		for _, e := range []*testEnv{a, b} {
			if st := e.server.pollers[0].state(); st.Polling && st.LastCycle != nil {
				reading = e
			}
		}
		return reading != nil
	})
	if a.server.pollers[0].state().Polling && b.server.pollers[0].state().Polling {
		t.Error("both replicas read the inbox")
	}
	pulls := pullsOfTheirOwn(t, gh, 3)
	for _, pr := range pulls {
		gh.SendPullComment(t, nowhere, pr, "alice", "atoll plan")
	}
	a.plannedEach(t, pulls)
	answeredOnce(t, reading, gh, 1, pulls...)
}

// TestInboxWaitsForTheRateLimit: refused for the rate limit, the inbox
// waits for its reset, says so in /healthz, and reads on after it.
func TestInboxWaitsForTheRateLimit(t *testing.T) {
	t.Parallel()
	e, gh := startedInbox(t)
	pulls := pullsOfTheirOwn(t, gh, 1)
	gh.SetRateLimit(0, time.Now().Add(2*time.Second))
	inbox := e.server.pollers[0]
	gh.WaitFor(t, waitLong, "the inbox to pause", func() bool { return inbox.state().PausedUntil != nil })
	gh.SendPullComment(t, nowhere, pulls[0], "alice", "atoll plan")
	e.plannedEach(t, pulls)
	if st := inbox.state(); st.PausedUntil != nil {
		t.Errorf("the inbox still paused after it read on: %+v", st)
	}
}

// TestInboxRefusesUnsignedWebhooks: with the inbox on and no webhook
// secret, a webhook is refused, not taken unsigned: the inbox brings its
// event.
func TestInboxRefusesUnsignedWebhooks(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	app := gh.EnableApp(t, vcstest.AppOptions{})
	gh.Install(t, "acme")
	e := appEnv(t, gh, app, func(c *Config) {
		c.GitHub.WebhookSecret = ""
		c.InboxInterval = 200 * time.Millisecond
	})
	e.waitInbox(t, time.Now())
	pulls := pullsOfTheirOwn(t, gh, 1)
	unsigned := ""
	payload := gh.Payload(t, "issue_comment", "created", pulls[0], "alice", "atoll plan")
	mustStatus(t, gh.Deliver(t, e.events, "issue_comment", payload, vcstest.DeliverOptions{Secret: &unsigned}), http.StatusUnauthorized, "")
	e.plannedEach(t, pulls)
	answeredOnce(t, e, gh, 1, pulls...)
}
