package server

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking/redistest"
	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

// twoReplicas starts two servers sharing one fake GitHub and one Redis,
// each with its own data directory, as replicas behind one webhook URL.
// With bIdle, b runs no jobs until the test starts it.
func twoReplicas(t *testing.T, bIdle bool, configure ...func(*Config)) (a, b *testEnv) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	gh := newTestGitHub(t)
	shared := func(c *Config) {
		c.Redis = RedisConfig{Addr: srv.Addr}
		for _, f := range configure {
			f(c)
		}
	}
	return newTestEnv(t, testOptions{gh: gh, configure: shared}), newTestEnv(t, testOptions{gh: gh, configure: shared, idle: bIdle})
}

func TestReplicasRunADeliveryOnce(t *testing.T) {
	t.Parallel()
	a, b := twoReplicas(t, false)
	a.gh.CreateRepo(t, "acme/infra", nil)
	pr := a.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	// GitHub retries a delivery it thinks failed; a load balancer may
	// hand each attempt to another replica.
	payload := a.gh.Payload(t, "pull_request", "opened", pr, "", "")
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i, target := range []string{a.events, b.events} {
		wg.Go(func() {
			statuses[i] = a.gh.Deliver(t, target, "pull_request", payload, vcstest.DeliverOptions{DeliveryID: "11111111-2222-3333-4444-555555555555"}).Status
		})
	}
	wg.Wait()
	if slices.Sort(statuses); !slices.Equal(statuses, []int{http.StatusOK, http.StatusAccepted}) {
		t.Errorf("answers %v: want one 202 (queued) and one 200 (a repeat)", statuses)
	}
	a.waitComments(t, pr, 1)
	a.barrier(t, pr)
	if n := len(a.commentsContaining(pr, "Plan: 1 to add")); n != 1 {
		t.Errorf("%d plan comments for one delivery sent to two replicas, want 1", n)
	}
}

func TestReplicasShareLocks(t *testing.T) {
	t.Parallel()
	a, b := twoReplicas(t, false)
	a.gh.CreateRepo(t, "acme/infra", nil)
	first := a.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	second := a.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": twoResources}})
	mustStatus(t, a.gh.SendPullRequest(t, a.events, "opened", first), http.StatusAccepted, "queued")
	if c := a.waitComments(t, first, 1)[0]; !strings.Contains(c.Body, "plan succeeded") {
		t.Fatalf("plan on replica a:\n%s", c.Body)
	}
	mustStatus(t, b.gh.SendPullRequest(t, b.events, "opened", second), http.StatusAccepted, "queued")
	if c := b.waitComments(t, second, 1)[0]; !strings.Contains(c.Body, "locked by #1") {
		t.Errorf("replica b planned a project replica a's pull request holds:\n%s", c.Body)
	}
}

func TestPlanOnOneReplicaApplyOnAnother(t *testing.T) {
	t.Parallel()
	a, b := twoReplicas(t, true, func(c *Config) { c.ApplyRequirements = workflows.Requirements{} })
	a.gh.CreateRepo(t, "acme/infra", map[string]string{"atoll.yaml": "version: 3\nprojects:\n- dir: app\n  workspace: staging\n"})
	pr := a.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"app/main.tf": oneResource}})
	// Replica a alone runs, and plans.
	mustStatus(t, a.gh.SendPullRequest(t, a.events, "opened", pr), http.StatusAccepted, "queued")
	if c := a.waitComments(t, pr, 1)[0]; !strings.Contains(c.Body, "plan succeeded") {
		t.Fatalf("plan on replica a:\\n%s", c.Body)
	}
	// Replica a goes away; b comes back, takes the apply and applies the
	// plan a made, in a checkout of its own.
	a.shutDown(t, waitLong)
	b.server.Start()
	mustStatus(t, b.gh.SendPullComment(t, b.events, pr, "bob", "atoll apply"), http.StatusAccepted, "queued")
	c := b.waitComments(t, pr, 2)[1]
	if !strings.Contains(c.Body, "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.") {
		t.Errorf("apply on replica b of a plan made on a:\\n%s", c.Body)
	}
	if st := b.status("acme/infra", pr.HeadSHA, "atoll/apply"); st.State != "success" {
		t.Errorf("aggregate apply status: %+v", st)
	}
}

func TestReplicasHideEachOthersPlans(t *testing.T) {
	t.Parallel()
	a, b := twoReplicas(t, true, func(c *Config) { c.HidePrevPlanComments = true })
	a.gh.CreateRepo(t, "acme/infra", nil)
	pr := a.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	// Each replica in turn takes the plans alone.
	a.say(t, pr, "alice", "atoll plan")
	a.shutDown(t, waitLong)
	b.server.Start()
	b.say(t, pr, "alice", "atoll plan")
	a.gh.WaitFor(t, waitLong, "replica a's plan comment hidden by replica b", func() bool {
		return a.gh.Comments(pr.Repo, pr.Number)[0].Minimized
	})
	if cs := a.gh.Comments(pr.Repo, pr.Number); cs[1].Minimized {
		t.Error("the latest plan comment was hidden")
	}
}

// A replica that shuts down hands its running job back at once: another
// takes it over without waiting for the claim to lapse.
func TestShutdownHandsJobsToAnotherReplica(t *testing.T) {
	t.Parallel()
	a, b := twoReplicas(t, true, func(c *Config) {
		// Far longer than the test may wait: only a handed-back task is
		// taken over within it.
		c.ClaimTTL = time.Hour
		c.RepoConfig = slowHooks(t, 4)
	})
	a.gh.CreateRepo(t, "acme/infra", nil)
	pr := a.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	mustStatus(t, a.gh.SendPullComment(t, a.events, pr, "alice", "atoll plan"), http.StatusAccepted, "queued")
	waitRunning(t, a.gh, pr)
	b.server.Start()
	// Replica a stops, its grace shorter than the job.
	a.shutDown(t, 200*time.Millisecond)
	b.gh.WaitFor(t, waitLong, "replica b to finish the job", func() bool {
		cs := b.gh.Comments(pr.Repo, pr.Number)
		return len(cs) == 1 && strings.Contains(cs[0].Body, "Plan: 1 to add")
	})
}
