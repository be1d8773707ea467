package server

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/tool"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/gitlab"
	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

const (
	testSecret      = "webhook-s3cret"
	testToken       = "ghp_testtoken0123456789"
	testGitLabToken = "glpat-testtoken012345678"
	waitLong        = 90 * time.Second
)

// testTool finds the tofu binary the end-to-end tests run: $ATOLL_TEST_TF_BIN,
// else tofu on PATH. Without one the tests fail, saying how to get it.
func testTool(t testing.TB) tool.Tool {
	t.Helper()
	bin := os.Getenv("ATOLL_TEST_TF_BIN")
	if bin == "" {
		bin = "tofu"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("end-to-end tests need OpenTofu: %v. Build it with scripts/install-tofu (see README), which prints its directory, and put that on PATH or set ATOLL_TEST_TF_BIN", err)
	}
	return tool.Tool{Distribution: workflows.OpenTofu, Path: path}
}

// testEnv is a running atoll server wired to a fake forge.
type testEnv struct {
	// f is the fake forge the server serves: gh, or the fake GitLab.
	f fakeForge
	// gh is the fake GitHub; nil for a server of GitLab alone.
	gh     *vcstest.GitHub
	events string // the server's webhook URL
	server *Server
}

// fakeForge is what tests drive either fake forge through: the fake
// GitHub's and the fake GitLab's helpers mirror each other.
type fakeForge interface {
	CreateRepo(t vcstest.T, fullName string, files map[string]string)
	PushToMain(t vcstest.T, repo string, files map[string]string) string
	OpenPull(t vcstest.T, repo string, spec vcstest.PullSpec) vcstest.Pull
	PushToPull(t vcstest.T, repo string, number int, files map[string]string) vcstest.Pull
	ClosePull(t vcstest.T, repo string, number int) vcstest.Pull
	Comments(repo string, number int) []vcstest.Comment
	Issues(repo string) []vcstest.Issue
	AllComments() []vcstest.Comment
	Statuses(repo, sha string) []vcstest.Status
	StatusHistory(repo, sha, context string) []string
	SetPermission(repo, user, level string)
	Review(t vcstest.T, repo string, number int, user, state string)
	WaitFor(t vcstest.T, timeout time.Duration, what string, cond func() bool)
	SendPullRequest(t vcstest.T, target, action string, p vcstest.Pull) vcstest.Delivery
	SendPullComment(t vcstest.T, target string, p vcstest.Pull, author, body string) vcstest.Delivery
	Deliver(t vcstest.T, target, event string, payload []byte, o vcstest.DeliverOptions) vcstest.Delivery
	Payload(t vcstest.T, event, action string, p vcstest.Pull, author, body string) []byte
	// What a poller finds without a webhook.
	Act(t vcstest.T, action string, p vcstest.Pull) vcstest.Pull
	PostComment(t vcstest.T, p vcstest.Pull, author, body string) int64
	EditComment(t vcstest.T, repo string, number int, id int64, body string)
	APIStats() vcstest.APIStats
	SetRateLimit(remaining int, reset time.Time)
}

type testOptions struct {
	allowlist string // "*" when empty
	// configure changes the server's configuration before it starts.
	configure func(*Config)
	// gh and gl are the fake GitHub and GitLab to use, when a test shares
	// one between servers; a new one when nil.
	gh *vcstest.GitHub
	gl *vcstest.GitLab
	// idle leaves the server's workers unstarted: it answers webhooks
	// and queues their jobs, which another replica runs, or this one once
	// the test calls Start.
	idle bool
}

// newTestGitHub returns a fake GitHub that test servers accept.
func newTestGitHub(t testing.TB) *vcstest.GitHub {
	return vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: testToken, WebhookSecret: testSecret})
}

func newTestEnv(t testing.TB, opts testOptions) *testEnv {
	t.Helper()
	gh := opts.gh
	if gh == nil {
		gh = newTestGitHub(t)
	}
	e := startServer(t, gh, opts, func(c *Config) {
		c.GitHub = github.Config{Token: testToken, WebhookSecret: testSecret, APIURL: gh.APIURL()}
	})
	e.gh = gh
	return e
}

// newGitLabEnv is newTestEnv for a server of GitLab alone, on a fake
// GitLab.
func newGitLabEnv(t testing.TB, opts testOptions) *testEnv {
	t.Helper()
	gl := opts.gl
	if gl == nil {
		gl = newTestGitLab(t)
	}
	return startServer(t, gl, opts, func(c *Config) {
		c.GitLab = gitlab.Config{Token: testGitLabToken, WebhookSecret: testSecret, URL: gl.URL()}
	})
}

// newTestGitLab returns a fake GitLab that test servers accept.
func newTestGitLab(t testing.TB) *vcstest.GitLab {
	return vcstest.NewGitLab(t, vcstest.GitLabOptions{Token: testGitLabToken, WebhookSecret: testSecret})
}

// startServer starts a server serving f, configured by forge, then by
// opts.configure.
func startServer(t testing.TB, f fakeForge, opts testOptions, forge func(*Config)) *testEnv {
	t.Helper()
	allow, err := ParseAllowlist(cmp.Or(opts.allowlist, "*"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		DataDir:       t.TempDir(),
		RepoAllowlist: allow,
		Tool:          testTool(t),
		Env:           os.Environ(),
		// One worker: jobs run in the order their webhooks came, which lets
		// a test use a later job as a barrier for earlier ones.
		Parallelism: 1,
		Logger:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		// The server's default.
		Policy: runner.Policy{ApplyRequirements: workflows.Requirements{Approved: true}},
	}
	forge(&cfg)
	if opts.configure != nil {
		opts.configure(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !opts.idle {
		s.Start()
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.Close(ctx)
		assertNoCommandsSaid(t, f)
	})
	return &testEnv{f: f, events: hs.URL + "/events", server: s}
}

// assertNoCommandsSaid fails t if a comment atoll posted reads as a
// command: atoll would answer itself.
func assertNoCommandsSaid(t testing.TB, f fakeForge) {
	for _, c := range f.AllComments() {
		if _, isCmd, _ := workflows.ParseComment(c.Body, nil); isCmd {
			t.Errorf("atoll's comment %d reads as a command:\n%s", c.ID, c.Body)
		}
	}
}

// testWriter sends server logs to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// waitComments waits until the pull request has n comments, none of them
// still saying a command runs, and returns them.
func (e *testEnv) waitComments(t testing.TB, p vcstest.Pull, n int) []vcstest.Comment {
	t.Helper()
	e.f.WaitFor(t, waitLong, fmt.Sprintf("%d finished comments on #%d", n, p.Number), func() bool {
		cs := e.f.Comments(p.Repo, p.Number)
		return len(cs) >= n && !slices.ContainsFunc(cs, func(c vcstest.Comment) bool { return strings.HasPrefix(c.Body, "⏳") })
	})
	return e.f.Comments(p.Repo, p.Number)
}

// status returns the commit status of one context, or the zero Status.
func (e *testEnv) status(repo, sha, context string) vcstest.Status {
	for _, st := range e.f.Statuses(repo, sha) {
		if st.Context == context {
			return st
		}
	}
	return vcstest.Status{}
}

// barrier sends `atoll help` on p and waits for its answer: with one worker,
// every job queued before it has then finished. It returns the comments
// before the answer.
func (e *testEnv) barrier(t testing.TB, p vcstest.Pull) []vcstest.Comment {
	t.Helper()
	n := len(e.f.Comments(p.Repo, p.Number))
	d := e.f.SendPullComment(t, e.events, p, "octocat", "atoll help")
	if d.Status != http.StatusAccepted {
		t.Fatalf("barrier not queued: %d %s", d.Status, d.Body)
	}
	e.f.WaitFor(t, waitLong, "the answer to atoll help", func() bool {
		cs := e.f.Comments(p.Repo, p.Number)
		return len(cs) > n && cs[len(cs)-1].Body == workflows.Usage
	})
	cs := e.f.Comments(p.Repo, p.Number)
	return cs[:len(cs)-1]
}

func mustStatus(t testing.TB, d vcstest.Delivery, code int, body string) {
	t.Helper()
	if d.Status != code || !strings.Contains(d.Body, body) {
		t.Fatalf("webhook answered %d %q, want %d containing %q", d.Status, d.Body, code, body)
	}
}

const (
	oneResource = `resource "terraform_data" "web" {
  input = "v1"
}
`
	twoResources = oneResource + `
resource "terraform_data" "db" {
  input = "v1"
}
`
)

func TestAutoplanOnOpened(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	e.gh.CreateRepo(t, "acme/infra", map[string]string{"README.md": "hi", "docs/x.md": "x"})
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"infra/main.tf": oneResource, "docs/x.md": "y"}})

	mustStatus(t, e.gh.SendPullRequest(t, e.events, "opened", pr), http.StatusAccepted, "queued")
	c := e.waitComments(t, pr, 1)[0]
	for _, want := range []string{"plan succeeded: `infra` in workspace `default`", "\nPlan: 1 to add, 0 to change, 0 to destroy.\n", "<details><summary>Full output</summary>", `terraform_data.web will be created`, "To apply: `atoll apply -d infra`"} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("plan comment lacks %q:\n%s", want, c.Body)
		}
	}
	if c.Author != e.gh.BotLogin() {
		t.Errorf("comment by %s", c.Author)
	}
	if got := e.gh.StatusHistory("acme/infra", pr.HeadSHA, "atoll/plan: infra/default"); strings.Join(got, ",") != "pending,success" {
		t.Errorf("status history = %v, want pending,success", got)
	}
	if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan: infra/default"); st.Description != "Plan: 1 to add, 0 to change, 0 to destroy." {
		t.Errorf("project status = %+v", st)
	}
	if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan"); st.State != "success" || st.Description != "1/1 projects planned" {
		t.Errorf("aggregate plan status = %+v", st)
	}
	if st := e.status("acme/infra", pr.HeadSHA, "atoll/apply"); st.State != "pending" || st.Description != "0/1 projects applied" {
		t.Errorf("aggregate apply status = %+v", st)
	}
	if e.gh.GitRequests() == 0 {
		t.Error("the checkout made no authenticated git request")
	}
}

func TestCommentPlanDirAndWorkspace(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", map[string]string{"stacks/a/main.tf": oneResource, "stacks/b/main.tf": twoResources})
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"README.md": "only docs"}})

		mustStatus(t, e.f.SendPullComment(t, e.events, pr, "bob", "atoll plan -d stacks/b -w staging"), http.StatusAccepted, "queued")
		c := e.waitComments(t, pr, 1)[0]
		for _, want := range []string{"plan succeeded: `stacks/b` in workspace `staging`", "Plan: 2 to add, 0 to change, 0 to destroy.", "atoll plan -d stacks/b -w staging"} {
			if !strings.Contains(c.Body, want) {
				t.Errorf("comment lacks %q:\n%s", want, c.Body)
			}
		}
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan: stacks/b/staging"); st.State != "success" {
			t.Errorf("status = %+v", st)
		}

		// A plain `atoll plan` on a pull request that changes no configuration
		// says so instead of planning nothing silently.
		e.f.SendPullComment(t, e.events, pr, "bob", "atoll plan")
		if c := e.waitComments(t, pr, 2)[1]; !strings.Contains(c.Body, "This pull request changes no project, so there is nothing to plan.") {
			t.Errorf("plan without projects answered:\n%s", c.Body)
		}
		e.f.SendPullComment(t, e.events, pr, "bob", "atoll plan -d nowhere")
		if c := e.waitComments(t, pr, 3)[2]; !strings.Contains(c.Body, "no `.tf` or `.tofu` files in `nowhere`") {
			t.Errorf("plan of a missing dir answered:\n%s", c.Body)
		}
	})
}

func TestRefusedWebhooksRunNothing(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{allowlist: "acme/*"})
	e.gh.CreateRepo(t, "acme/infra", nil)
	e.gh.CreateRepo(t, "evil/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	evil := e.gh.OpenPull(t, "evil/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	wrong := "not-the-secret"
	empty := ""
	payload := e.gh.Payload(t, "issue_comment", "created", pr, "mallory", "atoll plan")

	mustStatus(t, e.gh.Deliver(t, e.events, "issue_comment", payload, vcstest.DeliverOptions{Secret: &wrong}), http.StatusUnauthorized, "invalid signature")
	mustStatus(t, e.gh.Deliver(t, e.events, "issue_comment", payload, vcstest.DeliverOptions{Secret: &empty}), http.StatusUnauthorized, "invalid signature")
	mustStatus(t, e.gh.SendIssueComment(t, e.events, "acme/infra", 99, "alice", "atoll plan"), http.StatusOK, "ignored: comment on an issue")
	mustStatus(t, e.gh.SendCommentEdited(t, e.events, pr, "alice", "atoll plan"), http.StatusOK, "ignored: issue_comment action \"edited\"")
	mustStatus(t, e.gh.SendPullComment(t, e.events, pr, "alice", "LGTM, thanks"), http.StatusOK, "ignored: comment is not an atoll command")
	mustStatus(t, e.gh.SendPullRequest(t, e.events, "labeled", pr), http.StatusOK, "ignored")
	mustStatus(t, e.gh.SendPullRequest(t, e.events, "opened", evil), http.StatusOK, "ignored: repository not in the allowlist")
	mustStatus(t, e.gh.Deliver(t, e.events, "push", []byte(`{"ref":"refs/heads/main"}`), vcstest.DeliverOptions{}), http.StatusOK, `ignored: event "push"`)
	mustStatus(t, e.gh.Deliver(t, e.events, "issue_comment", []byte(`{"action":"created","issue":`), vcstest.DeliverOptions{}), http.StatusBadRequest, "malformed")
	// atoll's own comments never run anything.
	mustStatus(t, e.gh.SendPullComment(t, e.events, pr, e.gh.BotLogin(), "atoll plan"), http.StatusAccepted, "queued")

	if got := e.barrier(t, pr); len(got) != 0 {
		t.Errorf("refused webhooks left comments: %+v", got)
	}
	if st := e.gh.Statuses("acme/infra", pr.HeadSHA); len(st) != 0 {
		t.Errorf("refused webhooks set statuses: %+v", st)
	}
	if cs := e.gh.Comments("evil/infra", evil.Number); len(cs) != 0 {
		t.Errorf("repository outside the allowlist got comments: %+v", cs)
	}
}

func TestOversizedAndUnknownWebhooks(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		big := strings.NewReader(strings.Repeat(" ", 26<<20))
		req, _ := http.NewRequest(http.MethodPost, e.events, big)
		req.Header.Set(f.eventHeader, f.commentEvent)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("26 MB body: %d, want 413", resp.StatusCode)
		}
		resp, err = http.Post(e.events, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("webhook from no forge: %d %s, want 400", resp.StatusCode, body)
		}
		resp, err = http.Get(e.base() + "/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("healthz: %v %v", resp, err)
		}
	})
}

func TestPlanFailureIsReportedAndServerGoesOn(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", nil)
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{
			"broken/main.tf":  "resource \"terraform_data\" \"x\" {\n",
			"needvar/main.tf": "variable \"region\" {\n  type = string\n}\noutput \"r\" {\n  value = var.region\n}\n",
		}})
		e.f.SendPullRequest(t, e.events, "opened", pr)
		c := e.waitComments(t, pr, 1)[0]
		for _, want := range []string{"0 of 2 projects succeeded", "plan failed: `broken` in workspace `default`", "Error: Unclosed configuration block", "plan failed: `needvar` in workspace `default`", "Error: No value for required variable"} {
			if !strings.Contains(c.Body, want) {
				t.Errorf("comment lacks %q:\n%s", want, c.Body)
			}
		}
		for _, dir := range []string{"broken", "needvar"} {
			if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan: "+dir+"/default"); st.State != f.failure || !strings.Contains(st.Description, "plan failed: Error:") {
				t.Errorf("status %+v, want a failure quoting the error", st)
			}
		}
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan"); st.State != f.failure || st.Description != "0/2 projects planned" {
			t.Errorf("aggregate status %+v", st)
		}
		// The server still serves: a fix gets planned.
		pr = e.f.PushToPull(t, "acme/infra", pr.Number, map[string]string{"broken/main.tf": oneResource, "needvar/main.tf": oneResource})
		e.f.SendPullRequest(t, e.events, "synchronize", pr)
		if c := e.waitComments(t, pr, 2)[1]; !strings.Contains(c.Body, "2 of 2 projects succeeded") {
			t.Errorf("plan after the fix:\n%s", c.Body)
		}
	})
}

func TestLockConflictBetweenPulls(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", map[string]string{"infra/main.tf": oneResource})
		first := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"infra/main.tf": twoResources}})
		second := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "bob", Files: map[string]string{"infra/extra.tf": "locals {\n  a = 1\n}\n"}})

		e.f.SendPullRequest(t, e.events, "opened", first)
		if c := e.waitComments(t, first, 1)[0]; !strings.Contains(c.Body, "plan succeeded") {
			t.Fatalf("first plan:\n%s", c.Body)
		}
		e.f.SendPullRequest(t, e.events, "opened", second)
		c := e.waitComments(t, second, 1)[0]
		for _, want := range []string{"locked by " + f.refMark + "1", "Nothing ran", "@alice", "comment `atoll plan -d infra`"} {
			if !strings.Contains(c.Body, want) {
				t.Errorf("conflict comment lacks %q:\n%s", want, c.Body)
			}
		}
		if st := e.status("acme/infra", second.HeadSHA, "atoll/plan: infra/default"); st.State != f.failure || st.Description != "locked by "+f.refMark+"1" {
			t.Errorf("second PR status = %+v", st)
		}
		if st := e.status("acme/infra", second.HeadSHA, "atoll/plan"); st.State != f.failure || st.Description != "0/1 projects planned" {
			t.Errorf("second PR aggregate = %+v", st)
		}
		// The holder re-plans under the lock it keeps.
		e.f.SendPullComment(t, e.events, first, "alice", "atoll plan -d infra")
		if c := e.waitComments(t, first, 2)[1]; !strings.Contains(c.Body, "plan succeeded") {
			t.Errorf("holder's re-plan:\n%s", c.Body)
		}
		locks, err := e.server.Locks(context.Background())
		if err != nil || len(locks) != 1 || locks[0].Pull != first.Number || locks[0].User != "alice" {
			t.Errorf("locks = %+v, %v; want one held by #1 for alice", locks, err)
		}

		// Closing the first pull request lets go of its lock, and says so; the
		// second then plans with the command the conflict comment gave.
		e.f.SendPullRequest(t, e.events, "closed", first)
		if c := e.waitComments(t, first, 3)[2]; !strings.Contains(c.Body, "cleaned up after this pull request") || !strings.Contains(c.Body, "Locks released:\n- `infra` in workspace `default`") {
			t.Errorf("release comment:\n%s", c.Body)
		}
		e.f.SendPullComment(t, e.events, second, "bob", "atoll plan -d infra")
		if c := e.waitComments(t, second, 2)[1]; !strings.Contains(c.Body, "plan succeeded") {
			t.Errorf("second PR after the first closed:\n%s", c.Body)
		}
	})
}

func TestForgedCloseKeepsLocks(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	e.gh.SendPullRequest(t, e.events, "opened", pr)
	e.waitComments(t, pr, 1)
	// A closed event for a pull request that GitHub says is still open.
	payload := e.gh.Payload(t, "pull_request", "closed", pr, "", "")
	mustStatus(t, e.gh.Deliver(t, e.events, "pull_request", payload, vcstest.DeliverOptions{}), http.StatusAccepted, "queued")
	if got := e.barrier(t, pr); len(got) != 1 {
		t.Errorf("forged close commented: %+v", got[1:])
	}
	if locks, err := e.server.Locks(context.Background()); err != nil || len(locks) != 1 {
		t.Errorf("locks after a forged close: %+v, %v", locks, err)
	}
}

func TestPayloadCloneURLIsNotTrusted(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	payload := string(e.gh.Payload(t, "pull_request", "opened", pr, "", ""))
	forged := strings.ReplaceAll(payload, `"clone_url":"`+e.gh.CloneURL("acme/infra")+`"`, `"clone_url":"--upload-pack=touch /tmp/atoll-pwned;"`)
	if forged == payload {
		t.Fatal("test payload has no clone_url to forge")
	}
	mustStatus(t, e.gh.Deliver(t, e.events, "pull_request", []byte(forged), vcstest.DeliverOptions{}), http.StatusAccepted, "queued")
	if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "plan succeeded") {
		t.Errorf("plan with a forged clone URL in the payload:\n%s", c.Body)
	}
}

func TestStaleEventIsDropped(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", nil)
		old := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
		head := e.f.PushToPull(t, "acme/infra", old.Number, map[string]string{"main.tf": twoResources})
		mustStatus(t, e.f.SendPullRequest(t, e.events, "opened", old), http.StatusAccepted, "queued")
		mustStatus(t, e.f.SendPullRequest(t, e.events, "synchronize", head), http.StatusAccepted, "queued")
		cs := e.barrier(t, head)
		if len(cs) != 1 || !strings.Contains(cs[0].Body, "Plan: 2 to add") {
			t.Errorf("want one plan, of the head; got %d comments: %+v", len(cs), cs)
		}
		if st := e.f.Statuses("acme/infra", old.HeadSHA); len(st) != 0 {
			t.Errorf("the superseded commit got statuses: %+v", st)
		}
	})
}

func TestDuplicateDeliveryRunsOnce(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	payload := e.gh.Payload(t, "pull_request", "opened", pr, "", "")
	o := vcstest.DeliverOptions{DeliveryID: "5f3c3a10-0000-4000-8000-000000000001"}
	mustStatus(t, e.gh.Deliver(t, e.events, "pull_request", payload, o), http.StatusAccepted, "queued")
	mustStatus(t, e.gh.Deliver(t, e.events, "pull_request", payload, o), http.StatusOK, "ignored: already received")
	if got := e.barrier(t, pr); len(got) != 1 {
		t.Errorf("%d plan comments after a redelivery, want 1", len(got))
	}
	if h := e.gh.StatusHistory("acme/infra", pr.HeadSHA, "atoll/plan: ./default"); len(h) != 2 {
		t.Errorf("status history %v, want one pending and one result", h)
	}
}

func TestLongOutputIsSplit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	e.gh.CreateRepo(t, "acme/infra", nil)
	many := `resource "terraform_data" "n" {
  count = 400
  input = "a value long enough to make every planned resource take a few lines of output"
}
`
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"big/main.tf": many}})
	e.gh.SendPullRequest(t, e.events, "opened", pr)
	cs := e.barrier(t, pr)
	if len(cs) < 2 {
		t.Fatalf("got %d comments, want the plan split over several", len(cs))
	}
	if !strings.Contains(cs[0].Body, "Plan: 400 to add, 0 to change, 0 to destroy.") || !strings.Contains(cs[0].Body, fmt.Sprintf("comments 2 to %d", len(cs))) {
		t.Errorf("first comment lacks the summary or the count:\n%s", cs[0].Body)
	}
	var all strings.Builder
	for i, c := range cs {
		if len(c.Body) > 65536 {
			t.Errorf("comment %d is %d bytes", i+1, len(c.Body))
		}
		if i > 0 && !strings.Contains(c.Body, fmt.Sprintf("(%d/%d)", i+1, len(cs))) {
			t.Errorf("comment %d is not numbered", i+1)
		}
		all.WriteString(c.Body)
	}
	for _, want := range []string{`terraform_data.n[0] will be created`, `terraform_data.n[399] will be created`} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("split comments lost %q", want)
		}
	}
}

func TestHelpAndBadCommands(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", nil)
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
		e.f.SendPullComment(t, e.events, pr, "alice", "atoll help")
		if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "| `atoll plan -d DIR` |") {
			t.Errorf("help:\n%s", c.Body)
		}
		for i, body := range []string{"atoll plan --target=x", "atoll plan -d ../../etc", "atoll frobnicate", "atoll plan -w '$(reboot)'"} {
			mustStatus(t, e.f.SendPullComment(t, e.events, pr, "alice", body), http.StatusAccepted, "queued")
			c := e.waitComments(t, pr, i+2)[i+1]
			if !strings.Contains(c.Body, "atoll could not read that command") || !strings.Contains(c.Body, "| `atoll help` |") {
				t.Errorf("reply to %q:\n%s", body, c.Body)
			}
		}
		if st := e.f.Statuses("acme/infra", pr.HeadSHA); len(st) != 0 {
			t.Errorf("bad commands set statuses: %+v", st)
		}
	})
}

func TestDraftWaitsForReady(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", nil)
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Draft: true, Files: map[string]string{"main.tf": oneResource}})
		mustStatus(t, e.f.SendPullRequest(t, e.events, "opened", pr), http.StatusOK, "ignored: draft")
		mustStatus(t, e.f.SendPullRequest(t, e.events, "ready_for_review", pr), http.StatusAccepted, "queued")
		if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "plan succeeded") {
			t.Errorf("plan once ready:\n%s", c.Body)
		}
	})
}
