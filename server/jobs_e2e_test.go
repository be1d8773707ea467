package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/runner/joblog"
)

// webEnv is a server with the web UI (ops / s3cret-pass) and the API
// (token api-s3cret) on.
func webEnv(t *testing.T) *testEnv {
	return newTestEnv(t, testOptions{configure: func(c *Config) {
		c.Web = WebConfig{Username: "ops", Password: "s3cret-pass"}
		c.APISecret = "api-s3cret"
	}})
}

// endedJobs returns the jobs e's server recorded, newest first, once there
// are n and all have ended.
func (e *testEnv) endedJobs(t *testing.T, n int) []joblog.Record {
	t.Helper()
	var jobs []joblog.Record
	e.f.WaitFor(t, waitLong, "the jobs to be recorded as ended", func() bool {
		var err error
		jobs, err = e.server.records.List(t.Context(), "", 10)
		if err != nil || len(jobs) < n {
			return false
		}
		for _, j := range jobs {
			if !j.State.Ended() {
				return false
			}
		}
		return true
	})
	return jobs
}

// A job is recorded from its queueing to its end, with its output as
// the steps printed it, and shown on its page.
func TestJobRecordAndPage(t *testing.T) {
	t.Parallel()
	e := webEnv(t)
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	jobs := e.endedJobs(t, 1)
	j := jobs[0]
	if j.Command != "autoplan" || j.State != joblog.Succeeded || j.Repo != "acme/infra" || j.Pull != pr.Number || j.User != "alice" || j.Started.IsZero() || j.Ended.IsZero() || !slices.Equal(j.Projects, []string{"."}) || j.Took() <= 0 {
		t.Errorf("the autoplan's record: %+v", j)
	}
	out, _, err := e.server.records.Output(t.Context(), j.ID, 0, joblog.MaxOutput)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"$ tofu init", "\n$ tofu plan", "\nPlan: 1 to add, 0 to change, 0 to destroy."} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the job's output lacks %q:\n%s", want, out)
		}
	}
	code, page := e.webGet(t, "/jobs/"+j.ID, "ops", "s3cret-pass")
	if code != http.StatusOK || !strings.Contains(page, "Plan: 1 to add") || !strings.Contains(page, `data-ended="true"`) {
		t.Errorf("GET /jobs/%s: %d\n%s", j.ID, code, page)
	}
	if code, page := e.webGet(t, "/", "ops", "s3cret-pass"); code != http.StatusOK || !strings.Contains(page, `<a href="/jobs/`+j.ID+`">autoplan</a>`) {
		t.Errorf("the overview does not list the job: %d\n%s", code, page)
	}
	if code, _ := e.webGet(t, "/jobs/nosuchjob", "ops", "s3cret-pass"); code != http.StatusNotFound {
		t.Errorf("GET /jobs/nosuchjob: %d, want 404", code)
	}
	if code, _ := e.webGet(t, "/jobs/"+j.ID, "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /jobs/%s without credentials: %d, want 401", j.ID, code)
	}

	// The live tail of an ended job sends its output, then its end.
	req, _ := http.NewRequest(http.MethodGet, e.base()+"/jobs/"+j.ID+"/events?offset=0", nil)
	req.SetBasicAuth("ops", "s3cret-pass")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("the tail's content type is %q", ct)
	}
	var data strings.Builder
	var ended string
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "output":
			data.WriteString(strings.TrimPrefix(line, "data: ") + "\n")
		case strings.HasPrefix(line, "data: ") && event == "end":
			ended = strings.TrimPrefix(line, "data: ")
		}
	}
	if ended != "succeeded" || !strings.Contains(data.String(), "Plan: 1 to add") {
		t.Errorf("the tail ended %q after:\n%s", ended, data.String())
	}
}

// apiDo calls the API with token ("" for none) and returns the status
// and the decoded JSON body.
func (e *testEnv) apiDo(t testing.TB, method, path, token, body string) (int, any) {
	t.Helper()
	req, err := http.NewRequest(method, e.base()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Errorf("%s %s answered %d with no JSON: %q", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, v
}

// The API answers only with its token, in JSON, errors included: locks,
// jobs with their output, and an unlock.
func TestAPI(t *testing.T) {
	t.Parallel()
	e := webEnv(t)
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	job := e.endedJobs(t, 1)[0]

	for _, token := range []string{"", "wrong", "api-s3cre"} {
		if code, body := e.apiDo(t, http.MethodGet, "/api/locks", token, ""); code != http.StatusUnauthorized || !strings.Contains(toJSON(body), "error") {
			t.Errorf("GET /api/locks with token %q: %d %v, want 401 and an error", token, code, body)
		}
	}
	code, body := e.apiDo(t, http.MethodGet, "/api/locks", "api-s3cret", "")
	if got := toJSON(body); code != http.StatusOK || !strings.Contains(got, `"repo":"acme/infra"`) || !strings.Contains(got, `"pull":1`) || !strings.Contains(got, `"dir":"."`) {
		t.Errorf("GET /api/locks: %d %s", code, got)
	}
	if code, body := e.apiDo(t, http.MethodGet, "/api/locks?repo=acme/other", "api-s3cret", ""); code != http.StatusOK || toJSON(body) != "[]" {
		t.Errorf("GET /api/locks of another repository: %d %s, want []", code, toJSON(body))
	}
	code, body = e.apiDo(t, http.MethodGet, "/api/jobs", "api-s3cret", "")
	if got := toJSON(body); code != http.StatusOK || !strings.Contains(got, `"id":"`+job.ID+`"`) || !strings.Contains(got, `"state":"succeeded"`) || !strings.Contains(got, `"projects":["."]`) || !strings.Contains(got, `"seconds":`) || strings.Contains(got, `"output"`) {
		t.Errorf("GET /api/jobs: %d %s", code, got)
	}
	code, body = e.apiDo(t, http.MethodGet, "/api/jobs/"+job.ID, "api-s3cret", "")
	if got := toJSON(body); code != http.StatusOK || !strings.Contains(got, "Plan: 1 to add") {
		t.Errorf("GET /api/jobs/%s: %d %s", job.ID, code, got)
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodGet, "/api/jobs/nosuchjob", "", http.StatusNotFound},
		{http.MethodGet, "/api/jobs?limit=0", "", http.StatusBadRequest},
		{http.MethodGet, "/api/nothing", "", http.StatusNotFound},
		{http.MethodPost, "/api/unlock", "{", http.StatusBadRequest},
		{http.MethodPost, "/api/unlock", `{"forge":"github","repo":"acme/infra"}`, http.StatusBadRequest},
		{http.MethodPost, "/api/unlock", `{"forge":"github","repo":"acme/infra","pull":1,"extra":true}`, http.StatusBadRequest},
		{http.MethodPost, "/api/unlock", `{"forge":"github","repo":"acme/infra","pull":2}`, http.StatusNotFound},
	} {
		if code, body := e.apiDo(t, c.method, c.path, "api-s3cret", c.body); code != c.want || !strings.Contains(toJSON(body), `"error"`) {
			t.Errorf("%s %s %s: %d %s, want %d and an error", c.method, c.path, c.body, code, toJSON(body), c.want)
		}
	}

	n := len(e.f.Comments(pr.Repo, pr.Number))
	code, body = e.apiDo(t, http.MethodPost, "/api/unlock", "api-s3cret", `{"forge":"github","repo":"acme/infra","pull":1}`)
	if code != http.StatusAccepted || !strings.Contains(toJSON(body), `"job"`) {
		t.Fatalf("POST /api/unlock: %d %s", code, toJSON(body))
	}
	if c := e.waitComments(t, pr, n+1)[n]; !strings.Contains(c.Body, "as `api` asked through atoll's API") {
		t.Errorf("the pull request was not told the API unlocked it:\n%s", c.Body)
	}
	jobs := e.endedJobs(t, 2)
	if jobs[0].Command != "unlock" || jobs[0].User != "api" || jobs[0].State != joblog.Succeeded {
		t.Errorf("the newest job is %+v, want the API's unlock", jobs[0])
	}
}

// Without a secret there is no API.
func TestAPIOffByDefault(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	resp, err := http.Get(e.base() + "/api/locks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/locks with no API secret: %d, want 404", resp.StatusCode)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A job's record and output outlive the server that ran it.
func TestJobOutputAfterRestart(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	gh := newTestGitHub(t)
	configure := func(c *Config) {
		c.DataDir = dataDir
		c.APISecret = "api-s3cret-api-s3cret"
	}
	first := newTestEnv(t, testOptions{gh: gh, configure: configure})
	first.planned(t, map[string]string{"main.tf": oneResource})
	job := first.endedJobs(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := first.server.Close(ctx); err != nil {
		t.Fatal(err)
	}

	second := newTestEnv(t, testOptions{gh: gh, configure: configure})
	code, body := second.apiDo(t, http.MethodGet, "/api/jobs/"+job.ID, "api-s3cret-api-s3cret", "")
	if got := toJSON(body); code != http.StatusOK || !strings.Contains(got, `"state":"succeeded"`) || !strings.Contains(got, "Plan: 1 to add") {
		t.Errorf("GET /api/jobs/%s after a restart: %d %s", job.ID, code, got)
	}
}

// Replicas share job records and output: a job one ran, another shows.
func TestJobOutputAcrossReplicas(t *testing.T) {
	t.Parallel()
	a, b := twoReplicas(t, true, func(c *Config) { c.APISecret = "api-s3cret-api-s3cret" })
	a.planned(t, map[string]string{"main.tf": oneResource})
	job := a.endedJobs(t, 1)[0]
	code, body := b.apiDo(t, http.MethodGet, "/api/jobs/"+job.ID, "api-s3cret-api-s3cret", "")
	if got := toJSON(body); code != http.StatusOK || !strings.Contains(got, `"state":"succeeded"`) || !strings.Contains(got, "Plan: 1 to add") {
		t.Errorf("GET /api/jobs/%s from the other replica: %d %s", job.ID, code, got)
	}
}
