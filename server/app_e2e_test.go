package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// appEnv is a server that acts as the fake's GitHub App, configured by
// configure too when it is not nil.
func appEnv(t *testing.T, gh *vcstest.GitHub, app *vcstest.App, configure func(*Config)) *testEnv {
	return newTestEnv(t, testOptions{gh: gh, configure: func(c *Config) {
		c.GitHub.Token, c.GitHub.AppID, c.GitHub.AppKey = "", app.ID, app.KeyPEM
		if configure != nil {
			configure(c)
		}
	}})
}

// TestGitHubApp plans pull requests of two organizations that installed
// the App, each with its installation's token, as the App's bot; a
// comment of the bot's is not taken for a command.
func TestGitHubApp(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	app := gh.EnableApp(t, vcstest.AppOptions{})
	acme, globex := gh.Install(t, "acme"), gh.Install(t, "globex")
	e := appEnv(t, gh, app, nil)
	for _, repo := range []string{"acme/infra", "globex/network"} {
		gh.CreateRepo(t, repo, nil)
		pr := gh.OpenPull(t, repo, vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
		mustStatus(t, gh.SendPullRequest(t, e.events, "opened", pr), http.StatusAccepted, "queued")
		c := e.waitComments(t, pr, 1)[0]
		if !strings.Contains(c.Body, "Plan: 1 to add") || c.Author != app.BotLogin() {
			t.Errorf("%s's plan, by %s:\n%s", repo, c.Author, c.Body)
		}
		if st := e.status(repo, pr.HeadSHA, "atoll/plan"); st.State != "success" {
			t.Errorf("%s's plan status: %+v", repo, st)
		}
		// The plan is a check run too: started, then completed with it.
		runs := gh.CheckRuns(repo, pr.HeadSHA)
		if len(runs) != 1 {
			t.Fatalf("%s's check runs: %+v, want one", repo, runs)
		}
		r := runs[0]
		if r.Name != "atoll/plan: ./default" || r.Status != "completed" || r.Conclusion != "success" || r.App != app.Slug || r.Updates != 1 ||
			r.Title != "Plan: 1 to add, 0 to change, 0 to destroy." || !strings.Contains(r.Summary, "`+1 ~0 -0`") ||
			!strings.Contains(r.Text, "terraform_data.web will be created") {
			t.Errorf("%s's check run: %+v", repo, r)
		}
	}
	minted := map[int64]int{}
	for _, m := range gh.TokensMinted() {
		minted[m.Installation]++
	}
	if len(minted) != 2 || minted[acme] != 1 || minted[globex] != 1 {
		t.Errorf("tokens minted by installation: %v; want one each for %d and %d", minted, acme, globex)
	}

	// The bot's own comment, even one that reads as a command, runs
	// nothing.
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": twoResources}})
	mustStatus(t, gh.SendPullComment(t, e.events, pr, app.BotLogin(), "atoll plan"), http.StatusAccepted, "queued")
	e.barrier(t, pr)
	for _, c := range gh.Comments("acme/infra", pr.Number) {
		if strings.Contains(c.Body, "Plan: 2 to add") {
			t.Errorf("the bot's own command ran:\n%s", c.Body)
		}
	}
}

// TestGitHubAppTokenRenewal: a job that outlives its installation's
// token goes on with a new one.
func TestGitHubAppTokenRenewal(t *testing.T) {
	t.Parallel()
	server := customWorkflows(t)
	gh := newTestGitHub(t)
	const ttl = 2 * time.Second
	app := gh.EnableApp(t, vcstest.AppOptions{TokenTTL: ttl})
	gh.Install(t, "acme")
	e := appEnv(t, gh, app, func(c *Config) { c.RepoConfig = server })
	gh.CreateRepo(t, "acme/infra", map[string]string{"atoll.yaml": `version: 3
projects:
- dir: .
  workflow: slow
workflows:
  slow:
    plan:
      steps: [init, {run: sleep 3}, plan]
`})
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	mustStatus(t, gh.SendPullComment(t, e.events, pr, "alice", "atoll plan"), http.StatusAccepted, "queued")
	if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "Plan: 1 to add") {
		t.Fatalf("the plan:\n%s", c.Body)
	}
	minted := gh.TokensMinted()
	if len(minted) < 2 {
		t.Fatalf("tokens minted: %d, want a new one once the first neared its end", len(minted))
	}
	for _, m := range minted[1:] {
		if !m.Expires.After(minted[0].Expires) {
			t.Errorf("token renewed to expire at %v, not after the first's %v", m.Expires, minted[0].Expires)
		}
	}
}
