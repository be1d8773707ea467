package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// scrape reads the server's /metrics as Prometheus does, with its text
// parser, and returns the families by name.
func (e *testEnv) scrape(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	return scrapeURL(t, e.base()+"/metrics")
}

// scrapeURL reads the metrics at url, as scrape does.
func scrapeURL(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// series is the series of family name whose labels include labels
// ("k=v" each), or nil.
func series(families map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	for _, m := range families[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			match = match && have[k] == v
		}
		if match {
			return m
		}
	}
	return nil
}

// metricValue is the value of the series of family name whose labels
// include labels ("k=v" each), and whether there is one: a histogram's
// is its count of observations.
func metricValue(families map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	m := series(families, name, labels...)
	switch {
	case m == nil:
		return 0, false
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount()), true
	}
	return 0, false
}

// TestMetrics follows a pull request's plan and a refused apply into
// /metrics: webhooks by outcome, jobs by command and outcome with their
// durations, the lock held, the queue emptied, and the forge's API calls
// and rate limit.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "will not apply yet") {
		t.Fatalf("apply before approval:\n%s", c.Body)
	}
	// Refused: a bad signature. Ignored: an event atoll does not act on,
	// under names the sender makes up, which all count as one series.
	wrong := "wrong"
	mustStatus(t, e.gh.Deliver(t, e.events, "issue_comment", e.gh.Payload(t, "issue_comment", "created", pr, "bob", "atoll plan"), vcstest.DeliverOptions{Secret: &wrong}), http.StatusUnauthorized, "")
	for i := range 3 {
		e.gh.Deliver(t, e.events, fmt.Sprintf("made-up-%d", i), []byte(`{}`), vcstest.DeliverOptions{})
	}

	var m map[string]*dto.MetricFamily
	// The job is counted once its answer is out, and its task leaves the
	// queue a moment later: wait for both.
	e.gh.WaitFor(t, waitLong, "the refused apply to be counted and done", func() bool {
		m = e.scrape(t)
		_, counted := metricValue(m, "atoll_jobs_total", "command=apply", "outcome=refused")
		queued, _ := metricValue(m, "atoll_queue_tasks")
		return counted && queued == 0
	})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"atoll_webhooks_total", []string{"forge=github", "event=pull_request", "outcome=queued"}, 1},
		{"atoll_webhooks_total", []string{"forge=github", "event=issue_comment", "outcome=queued"}, 1},
		{"atoll_webhooks_total", []string{"forge=github", "event=issue_comment", "outcome=refused"}, 1},
		{"atoll_webhooks_total", []string{"forge=github", "event=other", "outcome=ignored"}, 3},
		{"atoll_jobs_total", []string{"command=autoplan", "outcome=succeeded"}, 1},
		{"atoll_jobs_total", []string{"command=apply", "outcome=refused"}, 1},
		{"atoll_job_duration_seconds", []string{"command=autoplan"}, 1}, // observations
		{"atoll_locks_held", nil, 1},
		{"atoll_lock_waiters", nil, 0},
		{"atoll_queue_tasks", nil, 0},
		{"atoll_queue_oldest_task_age_seconds", nil, 0},
	} {
		if got, ok := metricValue(m, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present: %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if n := len(m["atoll_webhooks_total"].GetMetric()); n != 4 {
		t.Errorf("%d webhook series, want 4: made-up event names must not add series", n)
	}
	if got, ok := metricValue(m, "atoll_forge_requests_total", "forge=github", "code=2xx"); !ok || got < 5 {
		t.Errorf("GitHub API calls that succeeded = %v, want several", got)
	}
	if got, ok := metricValue(m, "atoll_forge_rate_limit_remaining", "forge=github", "resource=core"); !ok || got <= 0 {
		t.Errorf("GitHub's core rate limit left = %v (present: %v), want the fake's count", got, ok)
	}
	if _, ok := metricValue(m, "go_goroutines"); !ok {
		t.Error("no Go runtime metrics")
	}
	// Where the autoplan's time went: every phase of its path, and the
	// forge's API across them; together no more than the job took.
	split := phaseSplit(m, "autoplan")
	var sum float64
	for _, phase := range []string{"queued", "pull", "checkout", "config", "lock", "init", "plan", "store", "report", "forge"} {
		if split[phase] <= 0 {
			t.Errorf("autoplan phase %s: %v seconds, want some", phase, split[phase])
		}
		if phase != "forge" && phase != "queued" {
			sum += split[phase]
		}
	}
	if took := histogramSum(m, "atoll_job_duration_seconds", "command=autoplan"); sum > took {
		t.Errorf("autoplan phases add up to %vs, more than the job's %vs", sum, took)
	}
}

// phaseSplit is the seconds jobs of command spent in each phase, from
// atoll_job_phase_seconds_total.
func phaseSplit(families map[string]*dto.MetricFamily, command string) map[string]float64 {
	split := map[string]float64{}
	for _, m := range families["atoll_job_phase_seconds_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["command"] == command {
			split[labels["phase"]] = m.GetCounter().GetValue()
		}
	}
	return split
}

// histogramSum is the sum of the observations of the histogram series
// of family name whose labels include labels.
func histogramSum(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	return series(families, name, labels...).GetHistogram().GetSampleSum()
}

// TestMetricsQueue sees a task wait in /metrics while no worker runs it.
func TestMetricsQueue(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{idle: true})
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	mustStatus(t, e.gh.SendPullRequest(t, e.events, "opened", pr), http.StatusAccepted, "queued")
	time.Sleep(50 * time.Millisecond)
	m := e.scrape(t)
	if got, _ := metricValue(m, "atoll_queue_tasks"); got != 1 {
		t.Errorf("atoll_queue_tasks = %v, want 1", got)
	}
	if got, _ := metricValue(m, "atoll_queue_oldest_task_age_seconds"); got < 0.05 {
		t.Errorf("atoll_queue_oldest_task_age_seconds = %v, want at least the 50ms it waited", got)
	}
}
