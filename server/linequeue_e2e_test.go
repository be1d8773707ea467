package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

// lockQueue turns the lock queue on, as the flag's default does.
func lockQueue(c *Config) { c.LockQueue = true }

// waitBody waits for a comment on p containing want, and returns it.
func (e *testEnv) waitBody(t *testing.T, p vcstest.Pull, want string) vcstest.Comment {
	t.Helper()
	var found vcstest.Comment
	e.f.WaitFor(t, waitLong, fmt.Sprintf("a comment on #%d containing %q", p.Number, want), func() bool {
		for _, c := range e.f.Comments(p.Repo, p.Number) {
			if strings.Contains(c.Body, want) && !strings.HasPrefix(c.Body, "⏳") {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// TestLockQueue: two pull requests that find a project locked wait in
// line, each told its place; as each holder lets go (a close, then an
// unlock), the next in line is planned on its own, and says why; a push
// to one waiting keeps its place.
func TestLockQueue(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{configure: lockQueue}, func(t *testing.T, f forge, e *testEnv) {
		first := e.planned(t, map[string]string{"main.tf": oneResource})
		second := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "bob", Files: map[string]string{"main.tf": twoResources}})
		third := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "carol", Files: map[string]string{"extra.tf": "locals {\n  a = 1\n}\n"}})

		e.f.SendPullRequest(t, e.events, "opened", second)
		c := e.waitComments(t, second, 1)[0]
		for _, want := range []string{"locked by " + f.refMark + "1, 1st in line", "**1st in line**", "plan it here on its own when its turn comes"} {
			if !strings.Contains(c.Body, want) {
				t.Errorf("#2's refusal lacks %q:\n%s", want, c.Body)
			}
		}
		if st := e.status("acme/infra", second.HeadSHA, "atoll/plan: ./default"); st.State != f.failure || st.Description != "locked by "+f.refMark+"1; 1st in line" {
			t.Errorf("#2's status = %+v", st)
		}
		e.f.SendPullRequest(t, e.events, "opened", third)
		if c := e.waitComments(t, third, 1)[0]; !strings.Contains(c.Body, "**2nd in line**") {
			t.Errorf("#3's refusal:\n%s", c.Body)
		}
		if got, ok := metricValue(e.scrape(t), "atoll_lock_waiters"); got != 2 {
			t.Errorf("atoll_lock_waiters = %v (present: %v), want 2", got, ok)
		}
		// A push to #3 plans it again: still locked, still 2nd.
		third = e.f.PushToPull(t, "acme/infra", third.Number, map[string]string{"extra.tf": "locals {\n  a = 2\n}\n"})
		e.f.SendPullRequest(t, e.events, "synchronize", third)
		if c := e.waitComments(t, third, 2)[1]; !strings.Contains(c.Body, "**2nd in line**") {
			t.Errorf("#3's refusal after a push:\n%s", c.Body)
		}

		// #1 merges: its lock goes to #2, whose plan runs on its own.
		e.f.SendPullRequest(t, e.events, "closed", e.f.ClosePull(t, "acme/infra", first.Number))
		c = e.waitBody(t, second, "It is this pull request's turn")
		if !strings.Contains(c.Body, "plan succeeded") || !strings.Contains(c.Body, "Plan: 2 to add") {
			t.Errorf("#2's plan in its turn:\n%s", c.Body)
		}
		if st := e.status("acme/infra", second.HeadSHA, "atoll/plan: ./default"); st.State != "success" {
			t.Errorf("#2's status after its turn = %+v", st)
		}
		locks, err := e.server.Locks(t.Context())
		if err != nil || len(locks) != 1 || locks[0].Pull != second.Number || locks[0].Turn {
			t.Errorf("locks after #2's turn = %+v, %v", locks, err)
		}
		if n := len(e.f.Comments("acme/infra", third.Number)); n != 2 {
			t.Errorf("#3 has %d comments while #2 holds the lock, want its 2 refusals", n)
		}

		// #2 unlocks: #3, at its new head, is next.
		if c := e.say(t, second, "bob", "atoll unlock"); !strings.Contains(c.Body, "Locks released") {
			t.Errorf("#2's unlock:\n%s", c.Body)
		}
		c = e.waitBody(t, third, "It is this pull request's turn")
		if !strings.Contains(c.Body, "plan succeeded") {
			t.Errorf("#3's plan in its turn:\n%s", c.Body)
		}
		if st := e.status("acme/infra", third.HeadSHA, "atoll/plan: ./default"); st.State != "success" {
			t.Errorf("#3's status at its new head = %+v", st)
		}
		lines, err := e.server.locker.Lines(t.Context())
		if err != nil || len(lines) != 0 {
			t.Errorf("lines once everyone had a turn = %+v, %v", lines, err)
		}
	})
}

// TestLockQueueLeaving: a pull request that unlocks, or closes, while it
// waits leaves the line, and the lock skips it.
func TestLockQueueLeaving(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{configure: lockQueue}, func(t *testing.T, f forge, e *testEnv) {
		first := e.planned(t, map[string]string{"main.tf": oneResource})
		var waiting []vcstest.Pull
		for _, author := range []string{"bob", "carol", "dave"} {
			p := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: author, Files: map[string]string{author + ".tf": "locals {\n  a = 1\n}\n"}})
			e.f.SendPullRequest(t, e.events, "opened", p)
			e.waitComments(t, p, 1)
			waiting = append(waiting, p)
		}
		if c := e.say(t, waiting[0], "bob", "atoll unlock"); !strings.Contains(c.Body, "Left the line for the locks of:\n- `.` in workspace `default`") {
			t.Errorf("unlock of a pull request in line:\n%s", c.Body)
		}
		e.f.SendPullRequest(t, e.events, "closed", e.f.ClosePull(t, "acme/infra", waiting[1].Number))
		if c := e.waitBody(t, waiting[1], "cleaned up"); !strings.Contains(c.Body, "Left the line") {
			t.Errorf("close of a pull request in line:\n%s", c.Body)
		}
		e.say(t, first, "alice", "atoll unlock")
		if c := e.waitBody(t, waiting[2], "It is this pull request's turn"); !strings.Contains(c.Body, "plan succeeded") {
			t.Errorf("the last in line's turn:\n%s", c.Body)
		}
		for _, p := range waiting[:2] {
			if cs := e.commentsContaining(p, "It is this pull request's turn"); len(cs) != 0 {
				t.Errorf("#%d, which left the line, was planned in a turn", p.Number)
			}
		}
	})
}

// TestLockQueueLapse: a lock that lapses (--lock-ttl) with a line goes to
// the first in line, without anyone asking.
func TestLockQueueLapse(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{configure: func(c *Config) { lockQueue(c); c.LockTTL = 2 * time.Second }}, func(t *testing.T, f forge, e *testEnv) {
		e.planned(t, map[string]string{"main.tf": oneResource})
		second := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": twoResources}})
		if c := e.say(t, second, "bob", "atoll plan"); !strings.Contains(c.Body, "**1st in line**") {
			t.Fatalf("plan while #1 holds the lock:\n%s", c.Body)
		}
		// #1 is abandoned; its lock lapses and #2 gets it.
		if c := e.waitBody(t, second, "It is this pull request's turn"); !strings.Contains(c.Body, "Plan: 2 to add") {
			t.Errorf("#2's plan once #1's lock lapsed:\n%s", c.Body)
		}
	})
}

// TestLockQueueSurvivesRestart: the line is kept in the store: a server
// started again on the same data directory hands the lock on.
func TestLockQueueSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gh := newTestGitHub(t)
	opts := testOptions{gh: gh, configure: func(c *Config) { lockQueue(c); c.DataDir = dir }}
	e := newTestEnv(t, opts)
	first := e.planned(t, map[string]string{"main.tf": oneResource})
	second := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": twoResources}})
	if c := e.say(t, second, "bob", "atoll plan"); !strings.Contains(c.Body, "**1st in line**") {
		t.Fatalf("plan while #1 holds the lock:\n%s", c.Body)
	}
	e.server.Close(t.Context())

	e = newTestEnv(t, opts)
	gh.SendPullRequest(t, e.events, "closed", gh.ClosePull(t, "acme/infra", first.Number))
	if c := e.waitBody(t, second, "It is this pull request's turn"); !strings.Contains(c.Body, "plan succeeded") {
		t.Errorf("#2's turn after a restart:\n%s", c.Body)
	}
}

// noRepoLocking is a server config whose repos entry turns project locks
// off for acme/infra: two pull requests plan one project at once.
func noRepoLocking(t *testing.T) func(*Config) {
	cfg, err := workflows.ParseServerConfig("repos.yaml", []byte("repos:\n- id: acme/infra\n  repo_locking: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) { c.RepoConfig = cfg }
}

// twoPlans opens two pull requests of one project and waits for both
// plans, then approves both.
func (e *testEnv) twoPlans(t *testing.T) (first, second vcstest.Pull) {
	first = e.planned(t, map[string]string{"main.tf": oneResource})
	second = e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "bob", Files: map[string]string{"main.tf": twoResources}})
	e.f.SendPullRequest(t, e.events, "opened", second)
	if c := e.waitComments(t, second, 1)[0]; !strings.Contains(c.Body, "plan succeeded") {
		t.Fatalf("#2's plan, with locking off:\n%s", c.Body)
	}
	e.f.Review(t, "acme/infra", first.Number, "bob", "APPROVED")
	e.f.Review(t, "acme/infra", second.Number, "alice", "APPROVED")
	return first, second
}

// TestStalePlans: with locking off (repo_locking: false), an apply makes
// the other pull request's plan of the project stale: its statuses fail
// saying why, its plan comment says so at the top, and its apply is
// refused before the tool runs, until it plans again.
func TestStalePlans(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{configure: noRepoLocking(t)}, func(t *testing.T, f forge, e *testEnv) {
		first, second := e.twoPlans(t)
		if locks, err := e.server.Locks(t.Context()); err != nil || len(locks) != 0 {
			t.Errorf("locks with repo_locking: false = %+v, %v", locks, err)
		}
		if c := e.say(t, first, "bob", "atoll apply"); !strings.Contains(c.Body, "Apply complete!") {
			t.Fatalf("#1's apply:\n%s", c.Body)
		}
		want := "state changed by " + f.refMark + "1's apply; plan again"
		e.f.WaitFor(t, waitLong, "#2's plan status to fail", func() bool {
			return e.status("acme/infra", second.HeadSHA, "atoll/plan: ./default").State == f.failure
		})
		if st := e.status("acme/infra", second.HeadSHA, "atoll/plan: ./default"); st.Description != want {
			t.Errorf("#2's plan status = %+v, want %q", st, want)
		}
		if st := e.status("acme/infra", second.HeadSHA, "atoll/plan"); st.State != f.failure || st.Description != "0/1 projects planned" {
			t.Errorf("#2's aggregate = %+v", st)
		}
		if st := e.status("acme/infra", first.HeadSHA, "atoll/plan: ./default"); st.State != "success" {
			t.Errorf("#1's own plan status = %+v", st)
		}
		if body := e.f.Comments("acme/infra", second.Number)[0].Body; !strings.HasPrefix(body, runner.StaleMark) || !strings.Contains(body, "Plan: 2 to add") {
			t.Errorf("#2's plan comment after #1's apply:\n%s", body)
		}
		c := e.say(t, second, "alice", "atoll apply")
		for _, w := range []string{"will not apply plans that another pull request's apply made stale", f.refMark + "1's apply changed its state", "`atoll plan -d .`"} {
			if !strings.Contains(c.Body, w) {
				t.Errorf("#2's apply lacks %q:\n%s", w, c.Body)
			}
		}
		if st := e.status("acme/infra", second.HeadSHA, "atoll/apply: ./default"); st.State != "" {
			t.Errorf("a refused apply set a status: %+v", st)
		}
		// Planned again, it applies. (Each checkout keeps its own local
		// state here, so the new plan is the same as the stale one.)
		if c := e.say(t, second, "alice", "atoll plan"); !strings.Contains(c.Body, "plan succeeded") {
			t.Errorf("#2's plan again:\n%s", c.Body)
		}
		if c := e.say(t, second, "alice", "atoll apply"); !strings.Contains(c.Body, "Apply complete!") {
			t.Errorf("#2's apply of its new plan:\n%s", c.Body)
		}
	})
}

// TestReplanStale: with --replan-stale, a plan made stale is planned again
// on its own, saying why.
func TestReplanStale(t *testing.T) {
	t.Parallel()
	configure := noRepoLocking(t)
	onEachForge(t, testOptions{configure: func(c *Config) { configure(c); c.ReplanStale = true }}, func(t *testing.T, f forge, e *testEnv) {
		first, second := e.twoPlans(t)
		e.say(t, first, "bob", "atoll apply")
		c := e.waitBody(t, second, "apply changed the state of `.` in workspace `default`")
		if !strings.Contains(c.Body, f.refMark+"1's apply") || !strings.Contains(c.Body, "plan succeeded") {
			t.Errorf("#2's plan again:\n%s", c.Body)
		}
		if st := e.status("acme/infra", second.HeadSHA, "atoll/plan: ./default"); st.State != "success" {
			t.Errorf("#2's plan status once planned again = %+v", st)
		}
		if c := e.say(t, second, "alice", "atoll apply"); !strings.Contains(c.Body, "Apply complete!") {
			t.Errorf("#2's apply once planned again:\n%s", c.Body)
		}
	})
}

// TestLockQueueAcrossReplicas: replicas sharing Redis share the line:
// three pull requests contend through two replicas, each told its place
// whichever replica ran its plan, and each gets its turn in order.
func TestLockQueueAcrossReplicas(t *testing.T) {
	t.Parallel()
	a, b := twoReplicas(t, false, lockQueue)
	first := a.planned(t, map[string]string{"main.tf": oneResource})
	second := a.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "bob", Files: map[string]string{"main.tf": twoResources}})
	third := a.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "carol", Files: map[string]string{"extra.tf": "locals {\n  a = 1\n}\n"}})
	if c := b.say(t, second, "bob", "atoll plan"); !strings.Contains(c.Body, "**1st in line**") {
		t.Fatalf("#2's plan through b:\n%s", c.Body)
	}
	if c := a.say(t, third, "carol", "atoll plan"); !strings.Contains(c.Body, "**2nd in line**") {
		t.Fatalf("#3's plan through a:\n%s", c.Body)
	}
	// #1 closes through b; #2's turn, then #3's after #2 unlocks through a.
	a.gh.SendPullRequest(t, b.events, "closed", a.gh.ClosePull(t, "acme/infra", first.Number))
	if c := a.waitBody(t, second, "It is this pull request's turn"); !strings.Contains(c.Body, "Plan: 2 to add") {
		t.Errorf("#2's turn:\n%s", c.Body)
	}
	a.say(t, second, "bob", "atoll unlock")
	if c := a.waitBody(t, third, "It is this pull request's turn"); !strings.Contains(c.Body, "plan succeeded") {
		t.Errorf("#3's turn:\n%s", c.Body)
	}
	for _, p := range []vcstest.Pull{second, third} {
		if n := len(a.commentsContaining(p, "It is this pull request's turn")); n != 1 {
			t.Errorf("#%d was planned in its turn %d times, want once", p.Number, n)
		}
	}
	locks, err := b.server.Locks(t.Context())
	if err != nil || len(locks) != 1 || locks[0].Pull != third.Number {
		t.Errorf("locks at the end = %+v, %v; want #3's", locks, err)
	}
}

// TestLockQueueRefRuns: a run on a ref through the API never waits in
// line (it has no pull request to take a turn), and an apply through the
// API makes the pull requests' plans of its projects stale.
func TestLockQueueRefRuns(t *testing.T) {
	t.Parallel()
	t.Run("queue", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, testOptions{configure: func(c *Config) { lockQueue(c); c.APISecret = apiToken }})
		e.planned(t, map[string]string{"main.tf": oneResource})
		e.f.PushToMain(t, "acme/infra", map[string]string{"main.tf": oneResource})
		job, _ := e.runJob(t, "/api/plan", `{"repo":"acme/infra","projects":[{"dir":"."}]}`)
		if out, _ := job["output"].(string); !strings.Contains(out, "locked by #1") || strings.Contains(out, "in line") {
			t.Errorf("an API plan of a locked project: %s", toJSON(job))
		}
		if lines, err := e.server.locker.Lines(t.Context()); err != nil || len(lines) != 0 {
			t.Errorf("lines after an API run found the project locked = %+v, %v", lines, err)
		}
	})
	t.Run("stale", func(t *testing.T) {
		t.Parallel()
		configure := noRepoLocking(t)
		e := newTestEnv(t, testOptions{configure: func(c *Config) { configure(c); c.APISecret = apiToken }})
		pr := e.planned(t, map[string]string{"main.tf": oneResource})
		e.f.PushToMain(t, "acme/infra", map[string]string{"main.tf": oneResource})
		if job, _ := e.runJob(t, "/api/apply", `{"repo":"acme/infra","projects":[{"dir":"."}]}`); job["state"] != "succeeded" {
			t.Fatalf("API apply: %s", toJSON(job))
		}
		want := "state changed by an apply asked for through atoll's API; plan again"
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan: ./default"); st.State != "failure" || st.Description != want {
			t.Errorf("#1's plan status after an API apply = %+v, want %q", st, want)
		}
	})
}

// TestLockQueueTurnNotTaken: a pull request whose turn comes but whose
// plan stops before it takes the lock (here its config went bad while it
// waited) gives the lock on to the next in line, instead of keeping it.
func TestLockQueueTurnNotTaken(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: lockQueue})
	first := e.planned(t, map[string]string{"main.tf": oneResource})
	var waiting []vcstest.Pull
	for _, author := range []string{"bob", "carol"} {
		p := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: author, Files: map[string]string{"main.tf": twoResources}})
		e.gh.SendPullRequest(t, e.events, "opened", p)
		e.waitComments(t, p, 1)
		waiting = append(waiting, p)
	}
	bad := e.gh.PushToPull(t, "acme/infra", waiting[0].Number, map[string]string{"atoll.yaml": "version: 2\n"})
	e.gh.SendPullRequest(t, e.events, "synchronize", bad)
	if c := e.waitComments(t, bad, 2)[1]; !strings.Contains(c.Body, "version: 3 is required") {
		t.Fatalf("#2's autoplan with a bad config:\n%s", c.Body)
	}
	e.gh.SendPullRequest(t, e.events, "closed", e.gh.ClosePull(t, "acme/infra", first.Number))
	if c := e.waitBody(t, waiting[1], "It is this pull request's turn"); !strings.Contains(c.Body, "plan succeeded") {
		t.Errorf("#3's turn, after #2's was not taken:\n%s", c.Body)
	}
	if cs := e.gh.Comments("acme/infra", bad.Number); !strings.Contains(cs[len(cs)-1].Body, "version: 3 is required") {
		t.Errorf("#2's turn did not say what stopped it:\n%s", cs[len(cs)-1].Body)
	}
	if locks, err := e.server.Locks(t.Context()); err != nil || len(locks) != 1 || locks[0].Pull != waiting[1].Number {
		t.Errorf("locks = %+v, %v; want #3's", locks, err)
	}
}

// TestLockQueueTurnGoneBeforeItsPlan: a pull request that unlocks after
// its turn came, before the turn's plan ran, is not planned, nor put
// back in line, by that plan.
func TestLockQueueTurnGoneBeforeItsPlan(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: lockQueue, idle: true})
	ctx := t.Context()
	e.gh.CreateRepo(t, "acme/infra", nil)
	e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	second := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "bob", Files: map[string]string{"main.tf": twoResources}})
	key := locking.Key{Forge: "github", Repo: "acme/infra", Dir: ".", Workspace: "default"}
	if _, ok, err := e.server.locker.TryLock(ctx, locking.Lock{Key: key, Pull: 1, User: "alice"}); !ok || err != nil {
		t.Fatalf("#1's lock: %v, %v", ok, err)
	}
	if _, place, err := e.server.locker.Wait(ctx, locking.Lock{Key: key, Pull: 2, User: "bob"}); place != 1 || err != nil {
		t.Fatalf("#2 in line: %d, %v", place, err)
	}
	// #1 lets go: the lock is #2's. #2 unlocks, then the turn's plan is
	// queued: the unlock runs first.
	if _, err := e.server.locker.Unlock(ctx, key, 1); err != nil {
		t.Fatal(err)
	}
	if turns, err := e.server.locker.Pass(ctx); err != nil || len(turns) != 1 || turns[0].Pull != 2 {
		t.Fatalf("Pass = %+v, %v", turns, err)
	}
	mustStatus(t, e.gh.SendPullComment(t, e.events, second, "bob", "atoll unlock"), http.StatusAccepted, "queued")
	if err := e.server.jobs.PassTurns(ctx); err != nil {
		t.Fatal(err)
	}
	e.server.Start()
	if c := e.waitComments(t, second, 1)[0]; !strings.Contains(c.Body, "Locks released") {
		t.Fatalf("#2's unlock:\n%s", c.Body)
	}
	if got := e.barrier(t, second); len(got) != 1 {
		t.Errorf("#2 was planned in a turn it had given up:\n%s", got[len(got)-1].Body)
	}
	if locks, err := e.server.Locks(ctx); err != nil || len(locks) != 0 {
		t.Errorf("locks = %+v, %v; want none", locks, err)
	}
	if lines, err := e.server.locker.Lines(ctx); err != nil || len(lines) != 0 {
		t.Errorf("lines = %+v, %v; want none", lines, err)
	}
}
