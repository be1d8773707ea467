package server

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// BenchmarkInboxIdle measures what reading a GitHub App's delivery log
// costs while nothing is delivered: the API requests of one read
// (requests/cycle), and so per minute at the default 5 s interval
// (requests/min).
func BenchmarkInboxIdle(b *testing.B) {
	gh := newTestGitHub(b)
	app := gh.EnableApp(b, vcstest.AppOptions{})
	gh.Install(b, "acme")
	gh.CreateRepo(b, "acme/infra", nil)
	pr := gh.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	for range 50 { // a log with something in it
		gh.SendPullComment(b, nowhere, pr, "alice", "a comment that asks for nothing")
	}
	e := newTestEnv(b, testOptions{gh: gh, idle: true, configure: func(c *Config) {
		c.GitHub.Token, c.GitHub.AppID, c.GitHub.AppKey = "", app.ID, app.KeyPEM
		c.InboxInterval = time.Hour
	}})
	p := e.server.pollers[0]
	for range 2 { // the start, then a first read from it
		if !p.hold(b.Context()) {
			b.Fatal("no inbox lease")
		}
		p.cycle(b.Context())
	}
	if s := p.state(); s.LastCycle == nil {
		b.Fatalf("the inbox failed: %s", s.Error)
	}
	before := gh.APIStats()
	for b.Loop() {
		p.cycle(b.Context())
	}
	requests := float64(gh.APIStats().Requests-before.Requests) / float64(b.N)
	b.ReportMetric(requests, "requests/cycle")
	b.ReportMetric(requests*60/5, "requests/min")
}

// BenchmarkInboxDelay measures, at the default 5 s interval, how long
// after a comment whose webhook reached nothing atoll answers it with a
// plan (plan-s, the median).
func BenchmarkInboxDelay(b *testing.B) {
	gh := newTestGitHub(b)
	app := gh.EnableApp(b, vcstest.AppOptions{})
	gh.Install(b, "acme")
	e := newTestEnv(b, testOptions{gh: gh, configure: func(c *Config) {
		c.GitHub.Token, c.GitHub.AppID, c.GitHub.AppKey = "", app.ID, app.KeyPEM
		c.InboxInterval = 5 * time.Second
	}})
	e.waitInbox(b, time.Now())
	gh.CreateRepo(b, "acme/infra", nil)
	pr := gh.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	var answered []time.Duration
	for b.Loop() {
		// A comment comes at any time between two reads.
		b.StopTimer()
		time.Sleep(rand.N(5 * time.Second))
		b.StartTimer()
		n := len(gh.Comments(pr.Repo, pr.Number))
		start := time.Now()
		gh.SendPullComment(b, nowhere, pr, "alice", "atoll plan")
		e.waitComments(b, pr, n+1)
		answered = append(answered, time.Since(start))
	}
	b.ReportMetric(median(answered).Seconds(), "plan-s")
}
