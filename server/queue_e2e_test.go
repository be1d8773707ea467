package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/locking/redistest"
	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

// captureEvent delivers payload, as GitHub would, to a stand-in server
// that only parses it, and returns the event: what a server that received
// it would queue.
func captureEvent(t *testing.T, gh *vcstest.GitHub, event string, payload []byte) vcs.Event {
	t.Helper()
	f, err := github.New(github.Config{Token: testToken, WebhookSecret: testSecret, APIURL: gh.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan vcs.Event, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := f.ParseWebhook(r.Header, body)
		if err != nil {
			t.Errorf("parsing the captured webhook: %v", err)
		}
		got <- ev
	}))
	defer hs.Close()
	gh.Deliver(t, hs.URL, event, payload, vcstest.DeliverOptions{})
	return <-got
}

// shutDown stops the server as a SIGTERM would, giving running jobs grace
// to finish.
func (e *testEnv) shutDown(t *testing.T, grace time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), grace)
	defer cancel()
	e.server.Close(ctx)
}

// queueTask records ev as a task in the embedded store under dataDir, as
// a server that received its webhook would. With died, a worker of that
// server then took it, noted the comment it posted if any, and died before
// marking it done.
func queueTask(t *testing.T, dataDir string, ev vcs.Event, died ...deadWorker) {
	t.Helper()
	tasks, err := queue.OpenBolt(filepath.Join(dataDir, "tasks.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer tasks.Close()
	// Recorded as the server records it, though the event was seen
	// before: the task of a run that died before it was done.
	group, body, err := runner.Order{JobID: "before", Forge: "github", Event: ev}.Task()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tasks.Enqueue(t.Context(), group, body); err != nil {
		t.Fatal(err)
	}
	for _, w := range died {
		task, ok, err := tasks.Claim(t.Context(), "dead replica", time.Hour, 0)
		if err != nil || !ok {
			t.Fatalf("Claim = %v, %v", ok, err)
		}
		if w.comment != 0 {
			if err := tasks.Note(t.Context(), task.ID, "dead replica", fmt.Sprint(w.comment)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// pendingTasks counts the tasks not done in the embedded store under
// dataDir, once its server is shut down.
func pendingTasks(t *testing.T, dataDir string) int {
	t.Helper()
	tasks, err := queue.OpenBolt(filepath.Join(dataDir, "tasks.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer tasks.Close()
	n, err := tasks.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// deadWorker is what a worker did with a task before it died.
type deadWorker struct {
	// comment is the one it posted (running, or its answer), or 0.
	comment int64
}

func TestQueuedTasksRunAfterRestart(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	dataDir := t.TempDir()
	// The webhook was answered, and the server stopped before running
	// the job.
	queueTask(t, dataDir, captureEvent(t, gh, "pull_request", gh.Payload(t, "pull_request", "opened", pr, "", "")))

	e := newTestEnv(t, testOptions{gh: gh, configure: func(c *Config) { c.DataDir = dataDir }})
	if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "Plan: 1 to add, 0 to change, 0 to destroy.") {
		t.Errorf("the queued autoplan after a restart:\n%s", c.Body)
	}
	// Once the server stops, letting its job finish, nothing is left.
	e.shutDown(t, waitLong)
	if n := pendingTasks(t, dataDir); n != 0 {
		t.Errorf("%d tasks left after the queued autoplan ran, want 0", n)
	}
}

// slowApply is a configuration whose apply takes a few seconds.
const slowApply = `resource "terraform_data" "slow" {
  input = 1
  provisioner "local-exec" {
    command = "sleep 4"
  }
}
`

func TestInterruptedApplyIsNotRetried(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	dataDir := t.TempDir()
	const lockTTL = 2 * time.Second
	noRequirements := func(c *Config) {
		c.DataDir = dataDir
		c.ApplyRequirements = workflows.Requirements{}
		c.LockTTL = lockTTL
	}
	first := newTestEnv(t, testOptions{gh: gh, configure: noRequirements})
	pr := first.planned(t, map[string]string{"main.tf": slowApply})
	mustStatus(t, gh.SendPullComment(t, first.events, pr, "bob", "atoll apply"), http.StatusAccepted, "queued")
	gh.WaitFor(t, waitLong, "the apply to start", func() bool {
		return first.status("acme/infra", pr.HeadSHA, "atoll/apply: ./default").State == "pending"
	})
	time.Sleep(500 * time.Millisecond) // into tofu's apply
	// The server stops in the middle of the apply, with no time to wait.
	first.shutDown(t, 100*time.Millisecond)
	cs := gh.Comments("acme/infra", pr.Number)
	running := cs[len(cs)-1]
	if !strings.HasPrefix(running.Body, "⏳") {
		t.Fatalf("after the shutdown, the apply's comment: %+v", running)
	}

	second := newTestEnv(t, testOptions{gh: gh, configure: noRequirements})
	gh.WaitFor(t, waitLong, "the restarted job to answer", func() bool {
		cs := gh.Comments("acme/infra", pr.Number)
		return !strings.HasPrefix(cs[len(cs)-1].Body, "⏳")
	})
	cs = gh.Comments("acme/infra", pr.Number)
	c := cs[len(cs)-1]
	if c.ID != running.ID {
		t.Errorf("the answer is a new comment, not the interrupted run's edited: %+v", cs)
	}
	for _, want := range []string{"**atoll was interrupted while applying**", "- `.` in workspace `default`", "whether that went through is **unknown**"} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("the answer to an interrupted apply lacks %q:\n%s", want, c.Body)
		}
	}
	if st := second.status("acme/infra", pr.HeadSHA, "atoll/apply: ./default"); st.State != "failure" || st.Description != "interrupted: outcome unknown" {
		t.Errorf("apply status: %+v", st)
	}
	// What may be half applied stays locked, past the lock TTL, until
	// someone unlocks it.
	time.Sleep(lockTTL + lockTTL/2)
	if locks, err := second.server.Locks(t.Context()); err != nil || len(locks) != 1 || locks[0].Pull != pr.Number || !locks[0].Expires.IsZero() {
		t.Errorf("locks after an interrupted apply = %+v, %v; want #%d's, without expiry", locks, err, pr.Number)
	}
	// The plan is not applied again, by the task or by a new command.
	if c := second.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "This pull request has no plan waiting to be applied.") {
		t.Errorf("apply after an interrupted apply:\n%s", c.Body)
	}
	for _, c := range gh.Comments("acme/infra", pr.Number) {
		if strings.Contains(c.Body, "Apply complete!") {
			t.Errorf("an interrupted apply ran again:\n%s", c.Body)
		}
	}
}

func TestHealthzFollowsRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.Redis = RedisConfig{Addr: srv.Addr} }})
	health := func() int {
		resp, err := http.Get(e.base() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := health(); code != http.StatusOK {
		t.Fatalf("healthz with Redis up: %d", code)
	}
	srv.Stop()
	if code := health(); code != http.StatusServiceUnavailable {
		t.Errorf("healthz with Redis down: %d, want 503", code)
	}
	// A webhook meanwhile is refused, so that GitHub redelivers it later.
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	if d := e.gh.SendPullRequest(t, e.events, "opened", pr); d.Status != http.StatusServiceUnavailable {
		t.Errorf("webhook with Redis down: %d %s", d.Status, d.Body)
	}
	srv.Restart()
	e.gh.WaitFor(t, waitLong, "healthz to recover", func() bool { return health() == http.StatusOK })
	mustStatus(t, e.gh.SendPullRequest(t, e.events, "opened", pr), http.StatusAccepted, "queued")
	if c := e.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "Plan: 1 to add") {
		t.Errorf("plan once Redis is back:\n%s", c.Body)
	}
}

// slowHooks is a server config whose pre-workflow hook takes a while, so
// that a test can act in the middle of a job.
func slowHooks(t *testing.T, seconds int) workflows.ServerConfig {
	t.Helper()
	cfg, err := workflows.ParseServerConfig("repos.yaml", []byte(fmt.Sprintf("repos:\n- id: /.*/\n  pre_workflow_hooks:\n  - run: sleep %d\n", seconds)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// waitRunning waits until the pull request has a running comment.
func waitRunning(t *testing.T, gh *vcstest.GitHub, pr vcstest.Pull) {
	t.Helper()
	gh.WaitFor(t, waitLong, "a running comment", func() bool {
		cs := gh.Comments(pr.Repo, pr.Number)
		return len(cs) > 0 && strings.HasPrefix(cs[0].Body, "⏳")
	})
}

func TestShutdownHandsBackRunningJobs(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	dataDir := t.TempDir()
	first := newTestEnv(t, testOptions{gh: gh, configure: func(c *Config) {
		c.DataDir = dataDir
		c.RepoConfig = slowHooks(t, 5)
	}})
	first.gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	mustStatus(t, gh.SendPullComment(t, first.events, pr, "alice", "atoll plan"), http.StatusAccepted, "queued")
	waitRunning(t, gh, pr)
	// The shutdown's grace ends before the job does: the job stops,
	// reports nothing, and its task stays queued.
	first.shutDown(t, 200*time.Millisecond)
	if cs := gh.Comments("acme/infra", pr.Number); len(cs) != 1 || !strings.HasPrefix(cs[0].Body, "⏳") {
		t.Fatalf("after the shutdown: %+v", cs)
	}

	second := newTestEnv(t, testOptions{gh: gh, configure: func(c *Config) { c.DataDir = dataDir }})
	cs := second.waitComments(t, pr, 1)
	if len(cs) != 1 || !strings.Contains(cs[0].Body, "Plan: 1 to add, 0 to change, 0 to destroy.") {
		t.Errorf("after the restart, want the running comment edited into the plan: %+v", cs)
	}
}

func TestRedisRestartMidJob(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.Redis = RedisConfig{Addr: srv.Addr}
		c.RepoConfig = slowHooks(t, 2)
	}})
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	// Another pull request holds a project's lock from before the restart.
	held := locking.Lock{Key: locking.Key{Repo: "acme/infra", Dir: "other", Workspace: "default"}, Pull: 99, User: "carol", Time: time.Now().UTC().Truncate(time.Second)}
	if _, ok, err := locking.NewRedis(srv.Client(t), redisPrefix).TryLock(t.Context(), held); err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	mustStatus(t, e.gh.SendPullComment(t, e.events, pr, "alice", "atoll plan"), http.StatusAccepted, "queued")
	waitRunning(t, e.gh, pr)
	srv.Restart()
	cs := e.waitComments(t, pr, 1)
	if len(cs) != 1 || !strings.Contains(cs[0].Body, "Plan: 1 to add") {
		t.Errorf("a plan across a Redis restart: %+v", cs)
	}
	locks, err := e.server.Locks(t.Context())
	pulls := map[int]bool{}
	for _, l := range locks {
		pulls[l.Pull] = true
	}
	if err != nil || len(locks) != 2 || !pulls[pr.Number] || !pulls[held.Pull] {
		t.Errorf("locks after the Redis restart = %+v, %v; want the plan's and #%d's from before", locks, err, held.Pull)
	}
	e.shutDown(t, waitLong)
	tasks, err := queue.NewRedis(t.Context(), srv.Client(t), redisPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := tasks.Pending(t.Context()); err != nil || n != 0 {
		t.Errorf("%d tasks left (%v) after the plan ran across a Redis restart, want 0", n, err)
	}
}

func TestRerunDoesNotPlanTwice(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	dataDir := t.TempDir()
	server := customWorkflows(t)
	configure := func(c *Config) {
		c.DataDir = dataDir
		c.RepoConfig = server
	}
	first := newTestEnv(t, testOptions{gh: gh, configure: configure})
	gh.CreateRepo(t, "acme/infra", map[string]string{"atoll.yaml": `version: 3
projects:
- dir: a
- dir: b
  workflow: slow
workflows:
  slow:
    plan:
      steps: [{run: sleep 3}, init, plan]
`})
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"a/main.tf": oneResource, "b/main.tf": twoResources}})
	mustStatus(t, gh.SendPullComment(t, first.events, pr, "alice", "atoll plan"), http.StatusAccepted, "queued")
	// a is planned; b is in its slow step when the server stops.
	store := plans.NewLocal(filepath.Join(dataDir, "plans"))
	gh.WaitFor(t, waitLong, "a's plan", func() bool {
		recs, err := store.Records(t.Context(), plans.Pull{Forge: "github", Repo: "acme/infra", Number: pr.Number})
		return err == nil && len(recs) == 1 && recs[0].Dir == "a" && recs[0].State == plans.Planned
	})
	first.shutDown(t, 100*time.Millisecond)

	newTestEnv(t, testOptions{gh: gh, configure: configure})
	cs := first.waitComments(t, pr, 1)
	if len(cs) != 1 {
		t.Fatalf("want the one running comment edited into the result: %+v", cs)
	}
	for _, want := range []string{
		"2 of 2 projects succeeded",
		"| `a` | `default` | ✅ plan succeeded | +1 ~0 -0 |",
		"| `b` | `default` | ✅ plan succeeded | +2 ~0 -0 |",
		"Planned before atoll was interrupted, so not planned again",
	} {
		if !strings.Contains(cs[0].Body, want) {
			t.Errorf("the rerun's result lacks %q:\n%s", want, cs[0].Body)
		}
	}
	if n := strings.Count(cs[0].Body, "Planned before atoll was interrupted"); n != 1 {
		t.Errorf("%d projects reused, want a alone:\n%s", n, cs[0].Body)
	}
}

func TestRedisLostMidJob(t *testing.T) {
	t.Parallel()
	e, srv, pr := slowOnRedis(t)
	mustStatus(t, e.gh.SendPullComment(t, e.events, pr, "alice", "atoll plan"), http.StatusAccepted, "queued")
	waitRunning(t, e.gh, pr)
	time.Sleep(300 * time.Millisecond) // for the job to note its comment on the task
	srv.Stop()
	// The job cannot keep its claim: it stops, and says why.
	e.gh.WaitFor(t, waitLong, "the job to say it paused", func() bool {
		cs := e.gh.Comments(pr.Repo, pr.Number)
		return len(cs) == 1 && strings.HasPrefix(cs[0].Body, "⏸️ **atoll lost its job store while running this**")
	})
	srv.Restart()
	e.gh.WaitFor(t, waitLong, "the plan once Redis is back", func() bool {
		cs := e.gh.Comments(pr.Repo, pr.Number)
		return len(cs) > 0 && strings.Contains(cs[len(cs)-1].Body, "Plan: 1 to add")
	})
	if cs := e.gh.Comments(pr.Repo, pr.Number); len(cs) != 1 {
		t.Errorf("want the paused comment edited into the result, got %d comments: %+v", len(cs), cs)
	}
}

// A job that answered and died before its task was marked done: run
// again, it must not answer twice (a second comment, or its answer
// overwritten by one that knows less).
func TestAnsweredTaskIsNotRunAgain(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	dataDir := t.TempDir()
	configure := func(c *Config) { c.DataDir = dataDir }
	first := newTestEnv(t, testOptions{gh: gh, configure: configure})
	pr := first.planned(t, map[string]string{"main.tf": oneResource})
	unlocked := first.say(t, pr, "bob", "atoll unlock")
	first.shutDown(t, 30*time.Second)
	answers := gh.Comments(pr.Repo, pr.Number)
	// The autoplan and the unlock each answered, and their workers died
	// before marking their tasks done.
	for _, ev := range []struct {
		event, action, body string
		answer              int64
	}{
		{"pull_request", "opened", "", answers[0].ID},
		{"issue_comment", "created", "atoll unlock", unlocked.ID},
	} {
		queueTask(t, dataDir, captureEvent(t, gh, ev.event, gh.Payload(t, ev.event, ev.action, pr, "bob", ev.body)), deadWorker{comment: ev.answer})
		again := newTestEnv(t, testOptions{gh: gh, configure: configure})
		// The pull request's tasks take turns: once the barrier is
		// answered, the task before it is done.
		if got := again.barrier(t, pr); !reflect.DeepEqual(got, answers) {
			t.Errorf("after an answered task ran again, the comments are\n%+v\nwant them as they were:\n%+v", got, answers)
		}
		again.shutDown(t, 30*time.Second)
		if n := pendingTasks(t, dataDir); n != 0 {
			t.Errorf("%d tasks left after an answered task ran again, want 0", n)
		}
		answers = gh.Comments(pr.Repo, pr.Number) // the barrier's too
	}
}

func TestApplyThatNeverBeganRunsAfterRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// running is set when the worker posted its running comment.
		running bool
	}{
		{name: "before it posted anything"},
		{name: "after it posted its running comment", running: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gh, dataDir, configure, first, pr := plannedOnAServer(t)
			// A worker took `atoll apply`, and died before it applied.
			var died deadWorker
			if tc.running {
				forge, err := github.New(github.Config{Token: testToken, APIURL: gh.APIURL()})
				if err != nil {
					t.Fatal(err)
				}
				if died.comment, err = forge.Comment(t.Context(), vcs.Repo{FullName: pr.Repo}, pr.Number, report.Running("apply", workflows.Command{})); err != nil {
					t.Fatal(err)
				}
			}
			first.shutDown(t, 30*time.Second)
			queueTask(t, dataDir, captureEvent(t, gh, "issue_comment", gh.Payload(t, "issue_comment", "created", pr, "bob", "atoll apply")), died)

			second := newTestEnv(t, testOptions{gh: gh, configure: configure})
			c := second.waitComments(t, pr, 2)[1]
			if !strings.Contains(c.Body, "Apply complete! Resources: 1 added") {
				t.Errorf("an apply that never began, after a restart:\n%s", c.Body)
			}
			if tc.running && c.ID != died.comment {
				t.Errorf("the apply answered in comment %d, not in the running comment %d", c.ID, died.comment)
			}
		})
	}
}

// Once the store is closed for a shutdown, a webhook that comes late is
// told so, and can be delivered again to another replica.
func TestWebhookAfterShutdownIsRefused(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	e.shutDown(t, 10*time.Second)
	mustStatus(t, e.gh.SendPullComment(t, e.events, pr, "alice", "atoll plan"), http.StatusServiceUnavailable, "shutting down")
}

// plannedOnAServer starts a server on a fake GitHub and a data directory
// that a later server may take over (configured by configure), and
// returns them with a pull request it planned.
func plannedOnAServer(t *testing.T) (*vcstest.GitHub, string, func(*Config), *testEnv, vcstest.Pull) {
	t.Helper()
	gh := newTestGitHub(t)
	dataDir := t.TempDir()
	configure := func(c *Config) {
		c.DataDir = dataDir
		c.ApplyRequirements = workflows.Requirements{}
	}
	first := newTestEnv(t, testOptions{gh: gh, configure: configure})
	return gh, dataDir, configure, first, first.planned(t, map[string]string{"main.tf": oneResource})
}

// slowOnRedis starts a server on a Redis the test may stop, whose jobs
// take a few seconds in a hook, and opens a pull request on it.
func slowOnRedis(t *testing.T) (*testEnv, *redistest.Server, vcstest.Pull) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.Redis = RedisConfig{Addr: srv.Addr}
		c.RepoConfig = slowHooks(t, 4)
		c.ClaimTTL = 2 * time.Second
	}})
	e.gh.CreateRepo(t, "acme/infra", nil)
	return e, srv, e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
}
