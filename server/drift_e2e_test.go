package server

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
)

// TestDriftCheck, on each forge: a repository whose code is not applied
// has drifted: the scheduled check says so in the default branch's
// status, in GET /api/drift and in an issue; once it is applied, the
// next check finds it in sync, and closes the issue.
func TestDriftCheck(t *testing.T) {
	for _, f := range forges {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			testDriftCheck(t, f)
		})
	}
}

func testDriftCheck(t *testing.T, f forge) {
	opts := testOptions{configure: func(c *Config) {
		c.APISecret = apiToken
		c.DriftInterval = 2 * time.Second
		c.Web = WebConfig{Username: "ops", Password: "s3cret-pass"}
	}}
	var fake fakeForge
	if f.name == "github" {
		opts.gh = newTestGitHub(t)
		fake = opts.gh
	} else {
		opts.gl = newTestGitLab(t)
		fake = opts.gl
	}
	// There before the server starts: it lists the repositories at once,
	// then every few minutes.
	fake.CreateRepo(t, "acme/infra", map[string]string{"main.tf": oneResource})
	main := fake.PushToMain(t, "acme/infra", map[string]string{"README.md": "infra\n"})
	e := f.env(t, opts)
	// report waits for a check, other than job notJob, that finds the
	// project in state want.
	report := func(want, notJob string) runner.DriftReport {
		t.Helper()
		var r runner.DriftReport
		e.f.WaitFor(t, waitLong, "a drift check that finds the project "+want, func() bool {
			var ok bool
			r, ok, _ = e.server.drift.LastDrift(t.Context(), f.name, "acme/infra")
			return ok && r.Job != notJob && len(r.Projects) == 1 && r.Projects[0].State == want
		})
		return r
	}
	r := report(runner.Drifted, "")
	if r.SHA != main || r.Ref != "main" || !strings.Contains(r.Projects[0].Summary, "Plan: 1 to add") {
		t.Errorf("drift report: %+v", r)
	}
	if st := e.status("acme/infra", main, "atoll/drift"); st.State != f.failure || st.Description != "1 of 1 projects drifted" {
		t.Errorf("drift status: %+v", st)
	}
	if code, v := e.apiDo(t, http.MethodGet, "/api/drift?repo=acme/infra", apiToken, ""); code != http.StatusOK || !strings.Contains(toJSON(v), `"state":"drifted"`) {
		t.Errorf("GET /api/drift: %d %s", code, toJSON(v))
	}
	drifted := func() float64 {
		v, _ := metricValue(e.scrape(t), "atoll_project_drifted", "forge="+f.name, "repo=acme/infra", "dir=.", "workspace=default")
		return v
	}
	if v := drifted(); v != 1 {
		t.Errorf("atoll_project_drifted = %v, want 1", v)
	}
	if code, v := e.apiDo(t, http.MethodGet, "/api/drift", apiToken, ""); code != http.StatusOK || !strings.Contains(toJSON(v), `"repo":"acme/infra"`) {
		t.Errorf("GET /api/drift, every repository: %d %s", code, toJSON(v))
	}
	if code, page := e.webGet(t, "/", "ops", "s3cret-pass"); code != http.StatusOK || !strings.Contains(page, "<h2>Drift</h2>") ||
		!strings.Contains(page, `<span class="state failed">1 of 1</span>`) || !strings.Contains(page, "<code>.</code>") {
		t.Errorf("the overview's drift:\n%s", page)
	}
	// One issue lists what drifted, kept over the next checks.
	issues := e.f.Issues("acme/infra")
	if len(issues) != 1 || !issues[0].Open || issues[0].Title != "Drift: 1 project of main no longer matches the code" ||
		!slices.Contains(issues[0].Labels, "atoll-drift") || !strings.Contains(issues[0].Body, "| `.` | `default` | Plan: 1 to add, 0 to change, 0 to destroy. |") {
		t.Errorf("drift issues: %+v", issues)
	}
	if r.Issue != issues[0].Number {
		t.Errorf("the report keeps issue %d, want %d", r.Issue, issues[0].Number)
	}
	report(runner.Drifted, r.Job) // a second check
	if n := len(e.f.Issues("acme/infra")); n != 1 {
		t.Errorf("%d drift issues after a second check, want the same one", n)
	}

	// Applied (through the API, on the same branch), it is in sync.
	if job, _ := e.runJob(t, "/api/apply", `{"repo":"acme/infra","projects":[{"dir":"."}]}`); job["state"] != "succeeded" {
		t.Fatalf("apply: %s", toJSON(job))
	}
	report(runner.InSync, "")
	if v := drifted(); v != 0 {
		t.Errorf("atoll_project_drifted = %v once in sync, want 0", v)
	}
	e.f.WaitFor(t, waitLong, "the drift status to pass", func() bool {
		return e.status("acme/infra", main, "atoll/drift").State == "success"
	})
	e.f.WaitFor(t, waitLong, "the drift issue to close", func() bool {
		is := e.f.Issues("acme/infra")
		return len(is) == 1 && !is[0].Open
	})
	if c := e.f.Issues("acme/infra")[0].Comments; len(c) != 1 || !strings.Contains(c[0], "No project drifts any more") {
		t.Errorf("the closed drift issue's comments: %q", c)
	}
	for _, c := range []struct {
		path string
		want int
	}{{"/api/drift?repo=acme/other", http.StatusNotFound}, {"/api/drift?repo=acme/infra&forge=bitbucket", http.StatusNotFound}} {
		if code, _ := e.apiDo(t, http.MethodGet, c.path, apiToken, ""); code != c.want {
			t.Errorf("GET %s: %d, want %d", c.path, code, c.want)
		}
	}
}

// TestDriftSkipsWhatAPullRequestHolds: a drift check never plans a
// project a pull request holds: it says so, as unknown, and leaves the
// pull request its lock.
func TestDriftSkipsWhatAPullRequestHolds(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	e.gh.PushToMain(t, "acme/infra", map[string]string{"main.tf": oneResource})
	f := e.server.forges[0]
	ref, err := f.(vcs.RefResolver).ResolveRef(t.Context(), "acme/infra", "")
	if err != nil {
		t.Fatal(err)
	}
	e.server.jobs.RunRef(t.Context(), "drift-1", f, ref, runner.RefRun{Command: "drift"}, "drift")
	r, ok, err := e.server.drift.LastDrift(t.Context(), "github", "acme/infra")
	if err != nil || !ok || len(r.Projects) != 1 || r.Projects[0].State != runner.Unknown || r.Projects[0].Summary != "locked by #1" {
		t.Fatalf("drift report: %+v, %v, %v", r, ok, err)
	}
	if st := e.status("acme/infra", ref.SHA, "atoll/drift"); st.State != "failure" || st.Description != "1 of 1 projects could not be checked" {
		t.Errorf("drift status: %+v", st)
	}
	if locks, err := e.server.Locks(t.Context()); err != nil || len(locks) != 1 || locks[0].Pull != pr.Number {
		t.Errorf("locks after the check: %+v, %v; want #%d's", locks, err, pr.Number)
	}
}

// TestDriftChecksDoNotPileUp: while a repository's drift check waits in
// the queue, the scheduler queues no other.
func TestDriftChecksDoNotPileUp(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	gh.CreateRepo(t, "acme/infra", map[string]string{"main.tf": oneResource})
	e := newTestEnv(t, testOptions{gh: gh, idle: true, configure: func(c *Config) { c.DriftInterval = 20 * time.Millisecond }})
	p := e.server.pollers[0]
	if !p.hold(t.Context()) {
		t.Fatal("no scheduler lease")
	}
	for range 4 { // due at once, then every 20 ms
		p.cycle(t.Context())
		time.Sleep(30 * time.Millisecond)
	}
	if st := p.state(); st.Error != "" {
		t.Fatalf("scheduler: %s", st.Error)
	}
	if n, err := e.server.tasks.Pending(t.Context()); err != nil || n != 1 {
		t.Errorf("%d tasks queued by 4 rounds while none runs (%v), want 1", n, err)
	}
}
