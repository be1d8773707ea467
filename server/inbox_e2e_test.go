package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

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

// TestInboxAlone: with no webhook reaching atoll, the App's delivery log
// brings the pull request's opening and a comment, each planned once.
func TestInboxAlone(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	app := gh.EnableApp(t, vcstest.AppOptions{})
	gh.Install(t, "acme")
	e := inboxEnv(t, gh, app, "", 200*time.Millisecond)
	e.waitInbox(t, time.Now()) // it starts from now
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
	// Read again and again, they run once.
	e.waitInbox(t, time.Now().Add(time.Second))
	if n := len(gh.Comments("acme/infra", pr.Number)); n != 2 {
		t.Errorf("%d comments after more reads of the log, want 2", n)
	}
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
	gh.CreateRepo(t, "acme/infra", nil)
	var pulls []vcstest.Pull
	for i := range 3 { // each its own project: none holds another's lock
		pulls = append(pulls, gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{fmt.Sprintf("p%d/main.tf", i): oneResource}}))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	first.server.Close(ctx)
	cancel()
	for _, pr := range pulls {
		gh.SendPullComment(t, nowhere, pr, "alice", "atoll plan")
	}

	second := inboxEnv(t, gh, app, dataDir, 200*time.Millisecond)
	for _, pr := range pulls {
		if c := second.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "Plan: 1 to add") {
			t.Errorf("#%d's plan after the restart:\n%s", pr.Number, c.Body)
		}
	}
	second.waitInbox(t, time.Now().Add(time.Second))
	for _, pr := range pulls {
		if n := len(gh.Comments("acme/infra", pr.Number)); n != 1 {
			t.Errorf("#%d has %d comments, want one plan", pr.Number, n)
		}
	}
}

// TestInboxWithWebhooks: events that reach atoll by webhook are not taken
// again from the log; one that failed to is.
func TestInboxWithWebhooks(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	app := gh.EnableApp(t, vcstest.AppOptions{})
	gh.Install(t, "acme")
	e := inboxEnv(t, gh, app, "", 200*time.Millisecond)
	e.waitInbox(t, time.Now())
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	mustStatus(t, gh.SendPullRequest(t, e.events, "opened", pr), http.StatusAccepted, "queued")
	e.waitComments(t, pr, 1)
	// A webhook atoll refused (a wrong signature) is in the log, failed.
	wrong := "not-the-secret"
	comment := gh.Payload(t, "issue_comment", "created", pr, "alice", "atoll plan")
	mustStatus(t, gh.Deliver(t, e.events, "issue_comment", comment, vcstest.DeliverOptions{Secret: &wrong}), http.StatusUnauthorized, "")
	if c := e.waitComments(t, pr, 2)[1]; !strings.Contains(c.Body, "Plan: 1 to add") {
		t.Errorf("the plan of the refused webhook, from the log:\n%s", c.Body)
	}
	e.waitInbox(t, time.Now().Add(time.Second))
	if n := len(gh.Comments("acme/infra", pr.Number)); n != 2 {
		t.Errorf("%d comments, want the autoplan and the plan, once each", n)
	}
}
