package server

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/vcs"
)

// Polling is the intake for servers a forge cannot reach: a poller asks
// the forge what changed in the repositories the allowlist names, and
// hands what it finds to admit as the forge's webhook would have. What
// an event reports is queued once (see runner.Enqueue), so a poller and
// a webhook that both see a comment run it once. With replicas, the one
// that holds the forge's poll lease polls.

const (
	// pollOverlap is how far before its cursor a poll reads: what the
	// forge shows a little late is still read, and what was read before
	// is recognized.
	pollOverlap = time.Minute
	// reposEvery is how often the allowlist's globs are matched against
	// the repositories the forge shows.
	reposEvery = 5 * time.Minute
	// cursorWindow is how long a repository's cursor is kept unused.
	cursorWindow = 90 * 24 * time.Hour
)

// poller polls one forge.
type poller struct {
	s        *Server
	forge    vcs.Forge
	watch    vcs.Watcher
	interval time.Duration
	log      *slog.Logger
	// owner is this process's name for the poll lease.
	owner   string
	holding bool
	renewed time.Time // when the lease was last taken or renewed

	repos   []string
	reposAt time.Time

	mu     sync.Mutex
	status pollStatus
	// failing is the error each failing repository last logged.
	failing map[string]string
}

// pollStatus is what /healthz says of a poller.
type pollStatus struct {
	// Polling is false while another replica holds the lease.
	Polling bool `json:"polling"`
	// LastCycle is when the last cycle over every repository ended
	// without error.
	LastCycle *time.Time `json:"last_cycle"`
	// Error is why the last cycle did not, if it did not.
	Error string `json:"error,omitempty"`
}

func newPoller(s *Server, forge vcs.Forge, watch vcs.Watcher, interval time.Duration) *poller {
	return &poller{s: s, forge: forge, watch: watch, interval: interval,
		log: s.log.With("forge", forge.Name(), "poller", true), owner: newJobID(), failing: map[string]string{}}
}

// state is the poller's status now.
func (p *poller) state() pollStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// leaseTTL is how long the poll lease outlives its last renewal: a
// replica that stands by tries for it every half interval, so another
// takes over within two intervals of the poller's death.
func (p *poller) leaseTTL() time.Duration { return p.interval*3/2 + time.Second }

func (p *poller) lease() string { return "poll/" + p.forge.Name() }

// run polls every interval while it holds the lease, until ctx ends.
func (p *poller) run(ctx context.Context) {
	defer func() {
		if p.holding {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			p.s.locker.Release(ctx, p.lease(), p.owner)
		}
	}()
	for {
		wait := p.interval / 2
		if p.hold(ctx) {
			p.cycle(ctx)
			wait = p.interval
		}
		if !p.sleep(ctx, jitter(wait)) {
			return
		}
	}
}

// hold takes or renews the poll lease and reports whether this process
// holds it. A lease renewed less than a quarter of its TTL ago is held.
func (p *poller) hold(ctx context.Context) bool {
	if p.holding && time.Since(p.renewed) < p.leaseTTL()/4 {
		return true
	}
	var held bool
	var err error
	if p.holding {
		held, err = p.s.locker.Renew(ctx, p.lease(), p.owner, p.leaseTTL())
	} else {
		held, err = p.s.locker.Acquire(ctx, p.lease(), p.owner, p.leaseTTL())
	}
	if err != nil && ctx.Err() == nil {
		p.log.Warn("cannot reach the store for the poll lease", "err", err)
	}
	if held != p.holding {
		p.log.Info("poll lease", "held", held)
	}
	p.holding = held
	if held {
		p.renewed = time.Now()
	}
	p.mu.Lock()
	p.status.Polling = held
	p.mu.Unlock()
	return held
}

// sleep waits d, renewing the lease it holds on the way, and reports
// false when ctx ended first.
func (p *poller) sleep(ctx context.Context, d time.Duration) bool {
	for end := time.Now().Add(d); ; {
		step := min(time.Until(end), p.leaseTTL()/3)
		if step <= 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(step):
		}
		if p.holding && time.Until(end) > 0 && !p.hold(ctx) {
			return true
		}
	}
}

// jitter is d stretched by up to a tenth, so that replicas and forges'
// rate-limit resets do not line up.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

// cycle polls each repository once.
func (p *poller) cycle(ctx context.Context) {
	repos, err := p.repositories(ctx)
	var failed error
	for _, repo := range repos {
		if ctx.Err() != nil || !p.hold(ctx) {
			return
		}
		err := p.pollRepo(ctx, repo)
		p.logState(repo, err)
		failed = firstErr(failed, err)
		if retry, ok := vcs.AsRateLimit(err); ok {
			p.pause(ctx, retry, "the forge refused a poll for its rate limit")
			continue
		}
		if rl := p.watch.RateLimit(); rl.Limit > 0 && rl.Remaining < rl.Limit/10 {
			// What is left is kept for jobs.
			p.pause(ctx, rl.Reset, "the rate limit is nearly spent")
		}
	}
	failed = firstErr(err, failed)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status.Error = ""
	if failed != nil {
		p.status.Error = failed.Error()
		return
	}
	now := time.Now().UTC()
	p.status.LastCycle = &now
}

// firstErr is the first error of a and b.
func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// pause waits until a little after until, if it is to come.
func (p *poller) pause(ctx context.Context, until time.Time, why string) {
	d := time.Until(until)
	if d <= 0 {
		return
	}
	p.log.Warn("polling paused", "why", why, "until", until.UTC().Format(time.RFC3339))
	p.sleep(ctx, jitter(d+time.Second))
}

// logState logs a repository's poll when it fails in a new way or
// recovers, not every cycle.
func (p *poller) logState(repo string, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	p.mu.Lock()
	was := p.failing[repo]
	if msg == "" {
		delete(p.failing, repo)
	} else {
		p.failing[repo] = msg
	}
	p.mu.Unlock()
	switch {
	case msg == was:
	case msg == "":
		p.log.Info("polling works again", "repo", repo)
	default:
		p.log.Error("cannot poll", "repo", repo, "err", err)
	}
}

// repositories are those the allowlist names: its plain names, and the
// repositories the forge shows that its globs match, looked up again
// every reposEvery.
func (p *poller) repositories(ctx context.Context) ([]string, error) {
	names, globs := p.s.allow.names()
	if !globs {
		return names, nil
	}
	if p.reposAt.IsZero() || time.Since(p.reposAt) > reposEvery {
		seen, err := p.watch.Repos(ctx)
		if err != nil {
			return append(names, p.repos...), err
		}
		p.repos = slices.DeleteFunc(seen, func(r string) bool { return !p.s.allow.Allows(r) })
		p.reposAt = time.Now()
	}
	for _, r := range p.repos {
		if !slices.Contains(names, r) {
			names = append(names, r)
		}
	}
	return names, nil
}

// pollRepo reads what changed in repo since its cursor, and admits what
// a webhook would have reported. A repository polled for the first time
// only has its open pull requests noted, as the state to compare with.
func (p *poller) pollRepo(ctx context.Context, repo string) error {
	key := "poll/" + p.forge.Name() + "/" + repo
	cursor, err := p.s.tasks.Marked(ctx, key)
	if err != nil {
		return err
	}
	since, err := time.Parse(time.RFC3339Nano, cursor)
	if err != nil {
		start := time.Now().Add(-pollOverlap)
		if err := p.baseline(ctx, repo); err != nil {
			return err
		}
		return p.setCursor(ctx, key, start)
	}
	from := since.Add(-pollOverlap)
	ch, err := p.watch.Changes(ctx, repo, from)
	if err != nil {
		return err
	}
	for _, pull := range ch.Pulls {
		if err := p.pullChanged(ctx, pull); err != nil {
			return err
		}
	}
	for _, c := range ch.Comments {
		if err := p.commented(ctx, repo, from, c); err != nil {
			return err
		}
	}
	if ch.Latest.After(since) {
		return p.setCursor(ctx, key, ch.Latest)
	}
	return nil
}

// commented admits a comment written at or after from that was not seen
// before. One seen before, or written before from, has been edited: a
// webhook would say "edited", which runs nothing.
func (p *poller) commented(ctx context.Context, repo string, from time.Time, c vcs.PullComment) error {
	if c.Created.Before(from) {
		return nil
	}
	seen, err := p.s.tasks.Marked(ctx, runner.CommentKey(p.forge.Name(), repo, c.ID))
	if err != nil || seen != "" {
		return err
	}
	ev := vcs.Event{Type: vcs.CommentCreated, DeliveryID: "poll", Repo: vcs.Repo{FullName: repo},
		Pull: vcs.PullRequest{Repo: vcs.Repo{FullName: repo}, Number: c.Pull}, Comment: c.Comment}
	_, err = p.s.admit(ctx, p.forge, ev)
	return err
}

func (p *poller) setCursor(ctx context.Context, key string, t time.Time) error {
	return p.s.tasks.SetMark(ctx, queue.Mark{Key: key, Value: t.UTC().Format(time.RFC3339Nano), TTL: cursorWindow})
}

// baseline notes the state of repo's open pull requests that no event
// reported yet, so that the next change to one is told from no change;
// one whose head moved since an event reported it is planned.
func (p *poller) baseline(ctx context.Context, repo string) error {
	pulls, err := p.watch.OpenPulls(ctx, repo)
	if err != nil {
		return err
	}
	for _, pull := range pulls {
		prev, err := p.s.tasks.Marked(ctx, runner.PullKey(p.forge.Name(), repo, pull.Number))
		if err != nil {
			return err
		}
		if prev != "" || pull.Draft {
			if err := p.pullChanged(ctx, pull); err != nil {
				return err
			}
			continue
		}
		m := queue.Mark{Key: runner.PullKey(p.forge.Name(), repo, pull.Number), Value: runner.PullState(pull), TTL: runner.PullWindow}
		if err := p.s.tasks.SetMark(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// pullChanged admits the event that took pull from the state its
// events last reported to the one it is in: opened (or reopened),
// pushed to, or closed. A draft reports nothing until it is ready.
func (p *poller) pullChanged(ctx context.Context, pull vcs.PullRequest) error {
	if pull.Open && pull.Draft {
		return nil
	}
	prev, err := p.s.tasks.Marked(ctx, runner.PullKey(p.forge.Name(), pull.Repo.FullName, pull.Number))
	if err != nil || prev == runner.PullState(pull) {
		return err
	}
	ev := vcs.Event{Type: vcs.PullUpdated, DeliveryID: "poll", Repo: pull.Repo, Pull: pull}
	switch {
	case !pull.Open:
		ev.Type = vcs.PullClosed
	case prev == "" || prev == runner.ClosedPull:
		ev.Type = vcs.PullOpened
	}
	_, err = p.s.admit(ctx, p.forge, ev)
	return err
}
