package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/runner"
)

// TestDriftCheck: a repository whose code is not applied has drifted:
// the scheduled check says so in the default branch's status and in GET
// /api/drift; once it is applied, the next check finds it in sync.
func TestDriftCheck(t *testing.T) {
	t.Parallel()
	gh := newTestGitHub(t)
	gh.CreateRepo(t, "acme/infra", map[string]string{"main.tf": oneResource})
	main := gh.PushToMain(t, "acme/infra", map[string]string{"README.md": "infra\n"})
	e := newTestEnv(t, testOptions{gh: gh, configure: func(c *Config) {
		c.APISecret = apiToken
		c.DriftInterval = 2 * time.Second
	}})
	report := func(want string) runner.DriftReport {
		t.Helper()
		var r runner.DriftReport
		e.gh.WaitFor(t, waitLong, "a drift check that finds the project "+want, func() bool {
			var ok bool
			r, ok, _ = driftReports{e.server.tasks}.report(t.Context(), "github", "acme/infra")
			return ok && len(r.Projects) == 1 && r.Projects[0].State == want
		})
		return r
	}
	r := report(runner.Drifted)
	if r.SHA != main || r.Ref != "main" || !strings.Contains(r.Projects[0].Summary, "Plan: 1 to add") {
		t.Errorf("drift report: %+v", r)
	}
	if st := e.status("acme/infra", main, "atoll/drift"); st.State != "failure" || st.Description != "1 of 1 projects drifted" {
		t.Errorf("drift status: %+v", st)
	}
	if code, v := e.apiDo(t, http.MethodGet, "/api/drift?repo=acme/infra", apiToken, ""); code != http.StatusOK || !strings.Contains(toJSON(v), `"state":"drifted"`) {
		t.Errorf("GET /api/drift: %d %s", code, toJSON(v))
	}

	// Applied (through the API, on the same branch), it is in sync.
	if job, _ := e.runJob(t, "/api/apply", `{"repo":"acme/infra"}`); job["state"] != "succeeded" {
		t.Fatalf("apply: %s", toJSON(job))
	}
	report(runner.InSync)
	e.gh.WaitFor(t, waitLong, "the drift status to pass", func() bool {
		return e.status("acme/infra", main, "atoll/drift").State == "success"
	})
	for _, c := range []struct {
		path string
		want int
	}{{"/api/drift", http.StatusBadRequest}, {"/api/drift?repo=acme/other", http.StatusNotFound}} {
		if code, _ := e.apiDo(t, http.MethodGet, c.path, apiToken, ""); code != c.want {
			t.Errorf("GET %s: %d, want %d", c.path, code, c.want)
		}
	}
}
