package server

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

const apiToken = "api-s3cret-api-s3cret"

// apiEnv is a server of the fake forge new makes, with the API (token
// apiToken) and the web UI (ops / s3cret-pass) on, for repositories of
// acme only.
func apiEnv(t *testing.T, new func(testing.TB, testOptions) *testEnv) *testEnv {
	return new(t, testOptions{allowlist: "acme/*,acme/sub/*", configure: func(c *Config) {
		c.APISecret = apiToken
		c.Web = WebConfig{Username: "ops", Password: "s3cret-pass"}
	}})
}

// runJob asks the API for a run (POST path with body), and returns the
// job's record and output as GET /api/jobs/{id} gives them once it has
// ended, and the commit the run was on.
func (e *testEnv) runJob(t *testing.T, path, body string) (job map[string]any, sha string) {
	t.Helper()
	code, v := e.apiDo(t, http.MethodPost, path, apiToken, body)
	queued, _ := v.(map[string]any)
	id, _ := queued["job"].(string)
	if code != http.StatusAccepted || id == "" {
		t.Fatalf("POST %s %s: %d %s, want 202 and a job", path, body, code, toJSON(v))
	}
	sha, _ = queued["sha"].(string)
	e.f.WaitFor(t, waitLong, "job "+id+" to end", func() bool {
		code, v := e.apiDo(t, http.MethodGet, "/api/jobs/"+id, apiToken, "")
		job, _ = v.(map[string]any)
		switch job["state"] {
		case "succeeded", "failed", "refused", "error":
			return code == http.StatusOK
		}
		return false
	})
	return job, sha
}

// TestAPIPlanAndApply plans, then plans and applies, projects of a branch
// through the API, with no pull request: the jobs' records say what ran
// and how, their output is the tool's, and nothing is said on the forge
// nor kept locked after.
func TestAPIPlanAndApply(t *testing.T) {
	t.Parallel()
	e := apiEnv(t, newTestEnv)
	e.f.CreateRepo(t, "acme/infra", map[string]string{"stacks/app/main.tf": oneResource, "stacks/db/main.tf": twoResources})
	main := e.f.PushToMain(t, "acme/infra", map[string]string{"README.md": "infra\n"})

	job, sha := e.runJob(t, "/api/plan", `{"repo":"acme/infra","ref":"main","projects":[{"dir":"stacks/app"}]}`)
	out, _ := job["output"].(string)
	if sha != main || job["state"] != "succeeded" || job["command"] != "plan" || job["ref"] != "main" || job["user"] != "api" || job["pull"] != nil ||
		toJSON(job["projects"]) != `["stacks/app"]` {
		t.Errorf("plan's record (sha %s, main %s): %s", sha, main, toJSON(job))
	}
	for _, want := range []string{"Plan: 1 to add, 0 to change, 0 to destroy.", "atoll plan: 1 of 1 projects succeeded", "- stacks/app in workspace default: plan succeeded: Plan: 1 to add"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan's output lacks %q:\n%s", want, out)
		}
	}

	job, _ = e.runJob(t, "/api/apply", `{"repo":"acme/infra","projects":[{"dir":"stacks/db","workspace":"default"},{"dir":"stacks/app"}]}`)
	out, _ = job["output"].(string)
	if job["state"] != "succeeded" || job["command"] != "apply" || job["ref"] != "main" {
		t.Errorf("apply's record: %s", toJSON(job))
	}
	for _, want := range []string{"Plan: 2 to add", "Apply complete! Resources: 2 added", "Apply complete! Resources: 1 added", "atoll apply: 2 of 2 projects succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply's output lacks %q:\n%s", want, out)
		}
	}

	applied := job["id"].(string)
	// Naming none, a run plans every project.
	job, _ = e.runJob(t, "/api/plan", `{"repo":"acme/infra"}`)
	out, _ = job["output"].(string)
	if job["state"] != "succeeded" || toJSON(job["projects"]) != `["stacks/app","stacks/db"]` || !strings.Contains(out, "atoll plan: 2 of 2 projects succeeded") {
		t.Errorf("a plan of every project: %s", toJSON(job))
	}
	if code, v := e.apiDo(t, http.MethodGet, "/api/locks", apiToken, ""); code != http.StatusOK || toJSON(v) != "[]" {
		t.Errorf("locks after the runs: %d %s, want none", code, toJSON(v))
	}
	if c := e.f.AllComments(); len(c) != 0 {
		t.Errorf("the runs commented: %v", c)
	}
	if st := e.f.Statuses("acme/infra", main); len(st) != 0 {
		t.Errorf("the runs set statuses on %s: %v", main, st)
	}
	// The web UI shows the runs on their ref.
	if code, page := e.webGet(t, "/", "ops", "s3cret-pass"); code != http.StatusOK || strings.Count(page, "<td><code>main</code></td>") != 3 || strings.Contains(page, ">#0<") {
		t.Errorf("GET /: %d, want the three runs on main:\n%s", code, page)
	}
	if code, page := e.webGet(t, "/jobs/"+applied, "ops", "s3cret-pass"); code != http.StatusOK || !strings.Contains(page, "<h1>apply on acme/infra at <code>main</code></h1>") {
		t.Errorf("GET the apply's page: %d\n%s", code, page)
	}
}

// TestAPIPlanOnGitLab plans a project of a commit of a GitLab project
// through the API.
func TestAPIPlanOnGitLab(t *testing.T) {
	t.Parallel()
	e := apiEnv(t, newGitLabEnv)
	e.f.CreateRepo(t, "acme/sub/infra", map[string]string{"main.tf": oneResource})
	first := e.f.PushToMain(t, "acme/sub/infra", map[string]string{"README.md": "infra\n"})
	e.f.PushToMain(t, "acme/sub/infra", map[string]string{"main.tf": twoResources})

	job, sha := e.runJob(t, "/api/plan", `{"forge":"gitlab","repo":"acme/sub/infra","ref":"`+first+`","projects":[{"dir":"."}]}`)
	out, _ := job["output"].(string)
	if sha != first || job["state"] != "succeeded" || job["ref"] != first || !strings.Contains(out, "Plan: 1 to add") {
		t.Errorf("plan of %s: %s", first, toJSON(job))
	}
}

// TestAPIRunRespectsPullLocks: a run does not plan a project a pull
// request holds, says so, and leaves the pull request its lock; a
// project the config does not know ends the run refused.
func TestAPIRunRespectsPullLocks(t *testing.T) {
	t.Parallel()
	e := apiEnv(t, newTestEnv)
	e.planned(t, map[string]string{"main.tf": oneResource})
	e.f.PushToMain(t, "acme/infra", map[string]string{"main.tf": oneResource})

	job, _ := e.runJob(t, "/api/apply", `{"repo":"acme/infra","projects":[{"dir":"."}]}`)
	out, _ := job["output"].(string)
	if job["state"] != "failed" || !strings.Contains(out, "- . in workspace default: locked by #1") || strings.Contains(out, "Apply complete") {
		t.Errorf("a run on a project a pull request holds: %s", toJSON(job))
	}
	code, v := e.apiDo(t, http.MethodGet, "/api/locks", apiToken, "")
	if locks := toJSON(v); code != http.StatusOK || !strings.Contains(locks, `"pull":1`) {
		t.Errorf("locks after the run: %d %s, want #1's", code, locks)
	}

	job, _ = e.runJob(t, "/api/plan", `{"repo":"acme/infra","projects":[{"name":"nope"}]}`)
	if out, _ := job["output"].(string); job["state"] != "refused" || !strings.Contains(out, "There is no project named `nope`") {
		t.Errorf("a run of a project no config names: %s", toJSON(job))
	}
}

// TestAPIRunBadRequests: what the API refuses to run, and how it says so.
func TestAPIRunBadRequests(t *testing.T) {
	t.Parallel()
	e := apiEnv(t, newTestEnv)
	e.f.CreateRepo(t, "acme/infra", map[string]string{"main.tf": oneResource})
	const dot = `"projects":[{"dir":"."}]`
	for _, c := range []struct {
		path, token, body string
		want              int
	}{
		{"/api/plan", "", `{"repo":"acme/infra",` + dot + `}`, http.StatusUnauthorized},
		{"/api/apply", "wrong-token", `{"repo":"acme/infra",` + dot + `}`, http.StatusUnauthorized},
		{"/api/plan", apiToken, `{`, http.StatusBadRequest},
		{"/api/plan", apiToken, `{"repo":"acme/infra",` + dot + `,"pull":1}`, http.StatusBadRequest},
		{"/api/plan", apiToken, `{"repo":"acme/infra","projects":[{"dir":"../etc"}]}`, http.StatusBadRequest},
		{"/api/plan", apiToken, `{"repo":"acme/infra","projects":[{"dir":"/etc"}]}`, http.StatusBadRequest},
		{"/api/plan", apiToken, `{"repo":"acme/infra","projects":[{"dir":".","workspace":"../x"}]}`, http.StatusBadRequest},
		{"/api/plan", apiToken, `{"repo":"acme/infra","projects":[{"name":"app","dir":"."}]}`, http.StatusBadRequest},
		{"/api/plan", apiToken, `{"repo":"acme/infra","ref":"-x",` + dot + `}`, http.StatusBadRequest},
		{"/api/plan", apiToken, `{"repo":"acme/infra","ref":"a..b",` + dot + `}`, http.StatusBadRequest},
		{"/api/plan", apiToken, `{"repo":"acme infra",` + dot + `}`, http.StatusBadRequest},
		{"/api/plan", apiToken, `{"repo":"acme/..",` + dot + `}`, http.StatusBadRequest},
		{"/api/plan", apiToken, `{"repo":"acme/infra","projects":[{"dir":"a\nb"}]}`, http.StatusBadRequest},
		{"/api/plan", apiToken, `{"repo":"acme/infra","projects":[{}]}`, http.StatusBadRequest},
		{"/api/apply", apiToken, `{"repo":"acme/infra"}`, http.StatusBadRequest},
		{"/api/apply", apiToken, `{"repo":"acme/infra","projects":[]}`, http.StatusBadRequest},
		{"/api/plan", apiToken, `{"forge":"gitlab","repo":"acme/infra",` + dot + `}`, http.StatusBadRequest},
		{"/api/plan", apiToken, `{"repo":"other/infra",` + dot + `}`, http.StatusForbidden},
		{"/api/plan", apiToken, `{"repo":"acme/infra","ref":"nope",` + dot + `}`, http.StatusNotFound},
		{"/api/apply", apiToken, `{"repo":"acme/missing",` + dot + `}`, http.StatusNotFound},
	} {
		if code, v := e.apiDo(t, http.MethodPost, c.path, c.token, c.body); code != c.want || !strings.Contains(toJSON(v), `"error"`) {
			t.Errorf("POST %s %s: %d %s, want %d and an error", c.path, c.body, code, toJSON(v), c.want)
		}
	}
	if jobs, err := e.server.records.List(t.Context(), "", 10); err != nil || len(jobs) != 0 {
		t.Errorf("jobs after refused requests: %v, %v; want none", jobs, err)
	}
}

// apiJobOn waits for job id to end on e's server, and returns it.
func (e *testEnv) apiJobOn(t *testing.T, id string) map[string]any {
	t.Helper()
	var job map[string]any
	e.f.WaitFor(t, waitLong, "job "+id+" to end", func() bool {
		_, v := e.apiDo(t, http.MethodGet, "/api/jobs/"+id, apiToken, "")
		job, _ = v.(map[string]any)
		switch job["state"] {
		case "succeeded", "failed", "refused", "error":
			return true
		}
		return false
	})
	return job
}

// apiStart asks for a run and returns its job id, without waiting.
func (e *testEnv) apiStart(t *testing.T, path, body string) string {
	t.Helper()
	code, v := e.apiDo(t, http.MethodPost, path, apiToken, body)
	id, _ := v.(map[string]any)["job"].(string)
	if code != http.StatusAccepted || id == "" {
		t.Fatalf("POST %s %s: %d %s", path, body, code, toJSON(v))
	}
	return id
}

// waitOutput waits until job id's output on e's server holds s.
func (e *testEnv) waitOutput(t *testing.T, id, s string) {
	t.Helper()
	e.f.WaitFor(t, waitLong, "job "+id+"'s output to say "+s, func() bool {
		_, v := e.apiDo(t, http.MethodGet, "/api/jobs/"+id, apiToken, "")
		out, _ := v.(map[string]any)["output"].(string)
		return strings.Contains(out, s)
	})
}

// TestAPIApplyInterruptedIsNotRetried: an apply asked for through the
// API that stops midway (its server stopped) is not applied again when
// its task runs again: its log says the outcome is unknown, and the
// lock stays, refusing the API's runs, until an operator unlocks it.
func TestAPIApplyInterruptedIsNotRetried(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	dataDir := t.TempDir()
	opts := testOptions{gh: gh, allowlist: "acme/*", configure: func(c *Config) {
		c.DataDir = dataDir
		c.APISecret = apiToken
	}}
	first := newTestEnv(t, opts)
	gh.CreateRepo(t, "acme/infra", map[string]string{"main.tf": slowApply})
	id := first.apiStart(t, "/api/apply", `{"repo":"acme/infra","projects":[{"dir":"."}]}`)
	first.waitOutput(t, id, "$ tofu apply")
	time.Sleep(500 * time.Millisecond) // into tofu's apply
	first.shutDown(t, 100*time.Millisecond)

	second := newTestEnv(t, opts)
	job := second.apiJobOn(t, id)
	out, _ := job["output"].(string)
	if job["state"] != "refused" || !strings.Contains(out, "atoll was interrupted while applying `.` (job "+id+")") || strings.Contains(out, "Apply complete!") {
		t.Errorf("the interrupted apply, run again: %s", toJSON(job))
	}
	code, v := second.apiDo(t, http.MethodGet, "/api/locks", apiToken, "")
	if locks := toJSON(v); code != http.StatusOK || !strings.Contains(locks, `"dir":"."`) || strings.Contains(locks, `"pull"`) && !strings.Contains(locks, `"pull":0`) {
		t.Errorf("locks after the interrupted run: %d %s, want the run's, kept", code, locks)
	}
	job, _ = second.runJob(t, "/api/plan", `{"repo":"acme/infra","projects":[{"dir":"."}]}`)
	if out, _ := job["output"].(string); job["state"] != "refused" || !strings.Contains(out, "Nothing ran: atoll was interrupted while applying `.` (job "+id+")") {
		t.Errorf("a plan while an apply's outcome is unknown: %s", toJSON(job))
	}

	// An operator checked, and unlocks.
	code, v = second.apiDo(t, http.MethodPost, "/api/unlock", apiToken, `{"forge":"github","repo":"acme/infra","pull":0}`)
	unlock, _ := v.(map[string]any)["job"].(string)
	if code != http.StatusAccepted || unlock == "" {
		t.Fatalf("POST /api/unlock of the API's runs: %d %s", code, toJSON(v))
	}
	if job := second.apiJobOn(t, unlock); job["state"] != "succeeded" || job["command"] != "unlock" || !strings.Contains(job["output"].(string), "Locks released:\n- `.` in workspace `default`") {
		t.Errorf("the unlock: %s", toJSON(job))
	}
	if code, v := second.apiDo(t, http.MethodGet, "/api/locks", apiToken, ""); code != http.StatusOK || toJSON(v) != "[]" {
		t.Errorf("locks after the unlock: %d %s, want none", code, toJSON(v))
	}
	if job, _ := second.runJob(t, "/api/plan", `{"repo":"acme/infra","projects":[{"dir":"."}]}`); job["state"] != "succeeded" {
		t.Errorf("a plan after the unlock: %s", toJSON(job))
	}
}

// TestAPIApplyRerunKeepsWhatItApplied: an apply of two projects stopped
// after the first was applied, while the second planned, applies only
// the second when it runs again.
func TestAPIApplyRerunKeepsWhatItApplied(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	server := customWorkflows(t)
	dataDir := t.TempDir()
	opts := testOptions{gh: gh, allowlist: "acme/*", configure: func(c *Config) {
		c.DataDir = dataDir
		c.APISecret = apiToken
		c.RepoConfig = server
	}}
	first := newTestEnv(t, opts)
	gh.CreateRepo(t, "acme/infra", map[string]string{"a/main.tf": oneResource, "b/main.tf": oneResource, "atoll.yaml": `version: 3
projects:
- dir: b
  workflow: slow
  depends_on: [a]
- name: a
  dir: a
workflows:
  slow:
    plan:
      steps: [{run: sleep 4}, init, plan]
`})
	id := first.apiStart(t, "/api/apply", `{"repo":"acme/infra","projects":[{"dir":"b"},{"name":"a"}]}`)
	first.waitOutput(t, id, "a │ Apply complete!")
	time.Sleep(time.Second) // into b's plan
	first.shutDown(t, 100*time.Millisecond)

	second := newTestEnv(t, opts)
	job := second.apiJobOn(t, id)
	out, _ := job["output"].(string)
	if job["state"] != "succeeded" || strings.Count(out, "a │ $ tofu apply") != 1 || strings.Count(out, "b │ $ tofu apply") != 1 ||
		!strings.Contains(out, "- a (a) in workspace default: apply succeeded: Apply complete!") {
		t.Errorf("the apply, run again after its first project was applied: %s", toJSON(job))
	}
}
