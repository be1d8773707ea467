package server

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// BenchmarkPollIdle measures one poll over 20 repositories of 10 open
// pull requests each, when nothing changed, on each forge: the requests
// it makes (requests/cycle) and those of them the forge's rate limit
// counts (counted/cycle).
func BenchmarkPollIdle(b *testing.B) {
	for _, f := range forges {
		b.Run(f.name, func(b *testing.B) {
			var repos []string
			for i := range 20 {
				repos = append(repos, fmt.Sprintf("acme/infra-%02d", i))
			}
			e := f.env(b, testOptions{idle: true, configure: func(c *Config) { c.PollInterval = time.Hour }})
			for _, r := range repos {
				e.f.CreateRepo(b, r, nil)
				for j := range 10 {
					e.f.OpenPull(b, r, vcstest.PullSpec{Files: map[string]string{fmt.Sprintf("p%d/main.tf", j): oneResource}})
				}
			}
			e.f.SetRateLimit(5000, time.Now().Add(time.Hour)) // GitLab counts only once a limit is set
			p := e.server.pollers[0]
			// Baselines, then the first reads of each list, then the reads
			// from the cursors those moved.
			for range 3 {
				if !p.hold(b.Context()) {
					b.Fatal("no poll lease")
				}
				p.cycle(b.Context())
			}
			if s := p.state(); s.LastCycle == nil {
				b.Fatalf("polls failed: %s", s.Error)
			}
			before := e.f.APIStats()
			for b.Loop() {
				p.cycle(b.Context())
			}
			after := e.f.APIStats()
			requests := after.Requests - before.Requests
			counted := requests
			if f.name == "github" { // GitHub does not count a 304
				counted -= after.NotModified - before.NotModified
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/cycle")
			b.ReportMetric(float64(counted)/float64(b.N), "counted/cycle")
		})
	}
}

// BenchmarkPollDelay measures, at a 5 s poll interval, how long after a
// comment is written atoll marks it seen (reaction-s) and answers it
// (plan-s), as medians over the iterations, on each forge.
func BenchmarkPollDelay(b *testing.B) {
	for _, f := range forges {
		b.Run(f.name, func(b *testing.B) {
			e := f.env(b, polling(testOptions{configure: func(c *Config) { c.PollInterval = 5 * time.Second }}))
			e.f.CreateRepo(b, "acme/infra", nil)
			e.waitPolled(b, "acme/infra")
			pr := e.f.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
			e.waitComments(b, pr, 1)
			var seen, answered []time.Duration
			for b.Loop() {
				// A comment comes at any time between two polls.
				b.StopTimer()
				time.Sleep(rand.N(5 * time.Second))
				b.StartTimer()
				n := len(e.f.Comments(pr.Repo, pr.Number))
				start := time.Now()
				id := e.f.PostComment(b, pr, "alice", "atoll plan")
				e.f.WaitFor(b, waitLong, "a reaction", func() bool { return len(e.reactions(pr, id)) > 0 })
				seen = append(seen, time.Since(start))
				e.waitComments(b, pr, n+1)
				answered = append(answered, time.Since(start))
			}
			b.ReportMetric(median(seen).Seconds(), "reaction-s")
			b.ReportMetric(median(answered).Seconds(), "plan-s")
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
