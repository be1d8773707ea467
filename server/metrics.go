package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/queue"
)

// metrics are what GET /metrics shows, in Prometheus's text format, every
// name prefixed atoll_: counters the server's parts add to as they work,
// and gauges read from the stores when scraped. Labels take values from
// short fixed lists only (forge, event, command, outcome), never from
// what a request says freely or a repository's name: a sender cannot
// make the series grow.
type metrics struct {
	reg        *prometheus.Registry
	webhooks   *prometheus.CounterVec
	jobs       *prometheus.CounterVec
	jobSeconds *prometheus.HistogramVec
	jobPhases  *prometheus.CounterVec
	forgeCalls *prometheus.CounterVec
	rateLeft   *prometheus.GaugeVec
	pollCycles *prometheus.CounterVec
	drifted    *prometheus.GaugeVec
}

// newMetrics registers the server's metrics, and the Go runtime's and
// the process's, reading the queue's and the locks' gauges from tasks
// and locker when scraped.
func newMetrics(log *slog.Logger, tasks queue.Store, locker locking.Locker) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atoll_webhooks_total",
			Help: "Webhooks answered, by forge, event and outcome: queued, ignored, refused (4xx) or unavailable (5xx).",
		}, []string{"forge", "event", "outcome"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atoll_jobs_total",
			Help: "Jobs ended, by command (autoplan, close, plan, apply, …) and outcome: succeeded, failed, refused, error or interrupted.",
		}, []string{"command", "outcome"}),
		jobPhases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atoll_job_phase_seconds_total",
			Help: "Seconds jobs spent in each phase, by command and phase: queued, pull, checkout, config, lock, a tool step's name (init, plan, apply, ...), store, report; forge is the time in the forge's API, across the others.",
		}, []string{"command", "phase"}),
		jobSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "atoll_job_duration_seconds",
			Help:    "How long jobs ran, by command.",
			Buckets: []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"command"}),
		forgeCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atoll_forge_requests_total",
			Help: "Requests to the forges' APIs, by forge and status code class (2xx, 3xx, 4xx, 5xx), or error when no answer came.",
		}, []string{"forge", "code"}),
		rateLeft: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "atoll_forge_rate_limit_remaining",
			Help: "Requests left in the forge's rate limit, as its last answer said, by forge and resource (GitHub's core, graphql, …).",
		}, []string{"forge", "resource"}),
		pollCycles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atoll_poll_cycles_total",
			Help: "Polling cycles ended, by forge and outcome: ok or error.",
		}, []string{"forge", "outcome"}),
		drifted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "atoll_project_drifted",
			Help: "1 when the last drift check this replica ran found the project drifted, 0 when in sync, by forge, repository, directory and workspace.",
		}, []string{"forge", "repo", "dir", "workspace"}),
	}
	m.reg.MustRegister(m.webhooks, m.jobs, m.jobSeconds, m.jobPhases, m.forgeCalls, m.rateLeft, m.pollCycles, m.drifted,
		&storeCollector{log: log, tasks: tasks, locker: locker},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler serves the metrics.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// JobDone implements runner.Observer.
func (m *metrics) JobDone(e runner.JobEnd) {
	m.jobs.WithLabelValues(e.Command, e.Outcome).Inc()
	m.jobSeconds.WithLabelValues(e.Command).Observe(e.Took.Seconds())
	// Phases are the runner's few and the workflows' step kinds.
	for phase, d := range e.Phases {
		m.jobPhases.WithLabelValues(e.Command, phase).Add(d.Seconds())
	}
}

// drift notes what drift check r found of each project; one it could
// not check has no value until a check does.
func (m *metrics) drift(r runner.DriftReport) {
	// Projects gone since the last check go from the gauge too.
	m.drifted.DeletePartialMatch(prometheus.Labels{"forge": r.Forge, "repo": r.Repo})
	for _, p := range r.Projects {
		g := m.drifted.WithLabelValues(r.Forge, r.Repo, p.Dir, p.Workspace)
		switch p.State {
		case runner.Drifted:
			g.Set(1)
		case runner.InSync:
			g.Set(0)
		}
	}
}

// pollCycle counts a poller's cycle.
func (m *metrics) pollCycle(forge string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.pollCycles.WithLabelValues(forge, outcome).Inc()
}

// webhookEvents are the event names the webhook counter tells apart, by
// the header that carries them; others count as "other". GitLab's are
// written as GitHub's are.
var webhookEvents = map[string]map[string]string{
	"X-GitHub-Event": {
		"pull_request": "pull_request", "issue_comment": "issue_comment", "ping": "ping",
		"push": "push", "pull_request_review": "pull_request_review",
	},
	"X-Gitlab-Event": {
		"Merge Request Hook": "merge_request", "Note Hook": "note", "Push Hook": "push",
		"System Hook": "system",
	},
}

// countWebhooks wraps the webhook handler: each answer is counted by the
// forge that sent it (none when no configured forge did), its event and
// the outcome its status says.
func (s *Server) countWebhooks(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next(rec, r)
		forge := "none"
		if f := s.forgeFor(r.Header); f != nil {
			forge = f.Name()
		}
		event := "other"
		for header, names := range webhookEvents {
			if name, ok := names[r.Header.Get(header)]; ok {
				event = name
			}
		}
		outcome := "ignored"
		switch {
		case rec.status == http.StatusAccepted:
			outcome = "queued"
		case rec.status >= 500:
			outcome = "unavailable"
		case rec.status >= 400:
			outcome = "refused"
		}
		s.metrics.webhooks.WithLabelValues(forge, event, outcome).Inc()
	}
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// meteredTransport counts a forge's API requests by the class of their
// status, and keeps the rate limit its answers report.
type meteredTransport struct {
	forge string
	next  http.RoundTripper
	m     *metrics
}

func (t *meteredTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	runner.Spend(req.Context(), runner.PhaseForge, time.Since(start))
	if err != nil {
		t.m.forgeCalls.WithLabelValues(t.forge, "error").Inc()
		return resp, err
	}
	t.m.forgeCalls.WithLabelValues(t.forge, strconv.Itoa(resp.StatusCode/100)+"xx").Inc()
	// GitHub: X-RateLimit-Remaining and -Resource; GitLab: RateLimit-
	// Remaining, on GitLab.com and where an instance turns it on.
	left := resp.Header.Get("X-RateLimit-Remaining")
	if left == "" {
		left = resp.Header.Get("RateLimit-Remaining")
	}
	if n, err := strconv.Atoi(left); err == nil {
		resource := strings.ToLower(resp.Header.Get("X-RateLimit-Resource"))
		if resource == "" || len(resource) > 32 {
			resource = "core"
		}
		t.m.rateLeft.WithLabelValues(t.forge, resource).Set(float64(n))
	}
	return resp, nil
}

// meter returns client, or a client that gives up after 30 seconds when
// it is nil, with its requests counted as forge's.
func (m *metrics) meter(forge string, client *http.Client) *http.Client {
	c := &http.Client{Timeout: 30 * time.Second}
	if client != nil {
		c2 := *client
		c = &c2
	}
	next := c.Transport
	if next == nil {
		// A job writes to the forge a few requests at once: keep as
		// many connections to it, not net/http's two, to reuse them.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		next = t
	}
	c.Transport = &meteredTransport{forge: forge, next: next, m: m}
	return c
}

// storeCollector reads, when scraped, what the stores hold: the tasks
// waiting or running, the age of the oldest, and the locks held.
type storeCollector struct {
	log    *slog.Logger
	tasks  queue.Store
	locker locking.Locker
}

var (
	queueTasksDesc = prometheus.NewDesc("atoll_queue_tasks",
		"Tasks recorded and not done: waiting or running.", nil, nil)
	queueOldestDesc = prometheus.NewDesc("atoll_queue_oldest_task_age_seconds",
		"How long ago the oldest task not done was recorded; 0 when there is none.", nil, nil)
	locksHeldDesc = prometheus.NewDesc("atoll_locks_held",
		"Project locks held.", nil, nil)
	lockWaitersDesc = prometheus.NewDesc("atoll_lock_waiters",
		"Pull requests waiting in line for project locks, counted once per lock.", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueTasksDesc
	ch <- queueOldestDesc
	ch <- locksHeldDesc
	ch <- lockWaitersDesc
}

// Collect reads the stores within a few seconds; a value that cannot be
// read is left out of the scrape, and logged.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if n, err := c.tasks.Pending(ctx); err != nil {
		c.log.Warn("metrics: counting the queue's tasks", "err", err)
	} else {
		ch <- prometheus.MustNewConstMetric(queueTasksDesc, prometheus.GaugeValue, float64(n))
	}
	if oldest, ok, err := c.tasks.Oldest(ctx); err != nil {
		c.log.Warn("metrics: reading the queue's oldest task", "err", err)
	} else {
		age := 0.0
		if ok {
			age = max(time.Since(oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(queueOldestDesc, prometheus.GaugeValue, age)
	}
	if locks, err := c.locker.List(ctx); err != nil {
		c.log.Warn("metrics: listing the locks", "err", err)
	} else {
		ch <- prometheus.MustNewConstMetric(locksHeldDesc, prometheus.GaugeValue, float64(len(locks)))
	}
	if lines, err := c.locker.Lines(ctx); err != nil {
		c.log.Warn("metrics: listing the lock lines", "err", err)
	} else {
		n := 0
		for _, l := range lines {
			n += len(l.Waiting)
		}
		ch <- prometheus.MustNewConstMetric(lockWaitersDesc, prometheus.GaugeValue, float64(n))
	}
}
