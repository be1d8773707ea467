package vcstest

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
)

// rateStyle is GitHub's primary rate limit for a user's token: 5,000
// requests an hour for the REST API ("core") and, counted here as
// requests rather than points, for GraphQL, each reported in
// X-RateLimit-* headers. A 304 does not count. Spent, GitHub answers 403
// with X-RateLimit-Remaining: 0, which go-github turns into a
// *github.RateLimitError.
func (g *GitHub) rateStyle() rateStyle {
	return rateStyle{
		limit:  5000,
		window: time.Hour,
		main:   "core",
		resource: func(r *http.Request) string {
			if r.URL.Path == "/api/graphql" {
				return "graphql"
			}
			return "core"
		},
		free304: true,
		headers: gitHubRateHeaders,
		refuse: func(w http.ResponseWriter, resource string, q quota) {
			gitHubRateHeaders(w.Header(), resource, q)
			writeJSON(w, http.StatusForbidden, apiErrorBody{
				Message:          fmt.Sprintf("API rate limit exceeded for user ID %d.", userID(g.bot)),
				DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits",
			})
		},
	}
}

func gitHubRateHeaders(h http.Header, resource string, q quota) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(q.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(q.remaining()))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(q.reset.Unix(), 10))
	h.Set("X-RateLimit-Used", strconv.Itoa(min(q.used, q.limit)))
	h.Set("X-RateLimit-Resource", resource)
}

// rateStyle is GitLab.com's limit on a user's authenticated API
// requests: 2,000 a minute, reported in RateLimit-* headers; a request
// refused counts as observed, and so does a 304. Spent, GitLab answers
// 429 "Retry later" with Retry-After. Until SetRateLimit, the fake is a
// self-managed GitLab with no limit set: no limit and no headers, which
// go-gitlab would read as a cue to throttle itself.
func (g *GitLab) rateStyle() rateStyle {
	return rateStyle{
		limit:        2000,
		window:       time.Minute,
		resource:     func(*http.Request) string { return "" },
		weakETag:     true,
		countRefused: true,
		offUntilSet:  true,
		headers:      gitLabRateHeaders,
		refuse: func(w http.ResponseWriter, _ string, q quota) {
			h := w.Header()
			gitLabRateHeaders(h, "", q)
			h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(time.Until(q.reset).Seconds())))))
			h.Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, "Retry later\n") // the client hung up
		},
	}
}

func gitLabRateHeaders(h http.Header, _ string, q quota) {
	h.Set("RateLimit-Limit", strconv.Itoa(q.limit))
	h.Set("RateLimit-Observed", strconv.Itoa(q.used))
	h.Set("RateLimit-Remaining", strconv.Itoa(q.remaining()))
	h.Set("RateLimit-Reset", strconv.FormatInt(q.reset.Unix(), 10))
	h.Set("RateLimit-ResetTime", q.reset.UTC().Format(http.TimeFormat))
}

// SetRateLimit starts a window of the REST API's rate limit ("core") in
// which remaining requests are left until reset, rounded up to a whole
// second as GitHub reports it. Each request then uses one, but a 304;
// when none remain, requests are refused until reset, and at reset a new
// hour's window starts with the full 5,000.
func (g *GitHub) SetRateLimit(remaining int, reset time.Time) { g.meter.set(remaining, reset) }

// APIStats counts the authenticated API requests answered so far.
func (g *GitHub) APIStats() APIStats { return g.meter.snapshot() }

// SetRateLimit turns the rate limit on, starting a window in which
// remaining requests are left until reset, rounded up to a whole second
// as GitLab reports it. Each request then uses one, a 304 included; when none remain,
// requests are refused until reset, and at reset a new minute's window
// starts with the full 2,000.
func (g *GitLab) SetRateLimit(remaining int, reset time.Time) { g.meter.set(remaining, reset) }

// APIStats counts the authenticated API requests answered so far.
func (g *GitLab) APIStats() APIStats { return g.meter.snapshot() }
