package server

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atoll-iac/atoll/vcs"
)

// Polling is the intake for servers a forge cannot reach: a poller asks
// the forge what changed in the repositories the allowlist names, and
// hands what it finds to admit as the forge's webhook would have (see
// pollrepo.go). What an event reports is queued once (runner.Enqueue),
// so a poller and a webhook that both see a comment run it once. With
// replicas, the one that holds the forge's poll lease polls.

// reposEvery is how often the repositories the forge shows are matched
// against the allowlist again.
const reposEvery = 5 * time.Minute

// poller polls one forge. Its fields are the run goroutine's, but for
// those under mu.
type poller struct {
	s     *Server
	forge vcs.Forge
	// name is what the lease and /healthz call it: the forge's name, or,
	// for a GitHub App's inbox (inbox.go), "github-inbox".
	name string
	// poll asks the forge once, and says what failed, if anything:
	// pollRepos, or the inbox's cycle.
	poll     func(ctx context.Context) error
	watch    vcs.Watcher
	interval time.Duration
	log      *slog.Logger
	// owner is this process's name for the poll lease.
	owner   string
	holding bool
	renewed time.Time // when the lease was last taken or renewed

	repos     []string
	reposAt   time.Time
	reposWait time.Duration // until they are matched again

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
	// PausedUntil is set while the forge's rate limit holds polling back.
	PausedUntil *time.Time `json:"paused_until,omitempty"`
}

func newPoller(s *Server, forge vcs.Forge, watch vcs.Watcher, interval time.Duration) *poller {
	p := newLoop(s, forge, forge.Name(), "poller", watch, interval)
	p.poll = p.pollRepos
	return p
}

// newLoop is a poller of forge called name that does its work (poll,
// which the caller sets; kind names it in the log) every interval while
// it holds its lease; watch lists the forge's repositories, when set.
func newLoop(s *Server, forge vcs.Forge, name, kind string, watch vcs.Watcher, interval time.Duration) *poller {
	return &poller{s: s, forge: forge, name: name, watch: watch, interval: interval,
		log: s.log.With("forge", forge.Name(), kind, true), owner: newJobID(), failing: map[string]string{}}
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

func (p *poller) lease() string { return "poll/" + p.name }

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
			p.heldCycle(ctx)
			wait = p.interval
		}
		if !p.sleep(ctx, jitter(wait)) {
			return
		}
	}
}

// hold takes or renews the poll lease and reports whether this process
// holds it. A lease renewed less than a quarter of its TTL ago is held;
// one the store cannot be asked about is held as it was.
func (p *poller) hold(ctx context.Context) bool {
	if p.holding && time.Since(p.renewed) < p.leaseTTL()/4 {
		return true
	}
	take := p.s.locker.Acquire
	if p.holding {
		take = p.s.locker.Renew
	}
	held, err := take(ctx, p.lease(), p.owner, p.leaseTTL())
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("cannot reach the store for the poll lease", "err", err)
		}
		// Held until it lapses, for all this process knows.
		held = p.holding && time.Since(p.renewed) < p.leaseTTL()
	} else if held {
		p.renewed = time.Now()
	}
	p.setHolding(held)
	return held
}

func (p *poller) setHolding(held bool) {
	if held != p.holding {
		p.log.Info("poll lease", "held", held)
	}
	p.holding = held
	p.mu.Lock()
	p.status.Polling = held
	p.mu.Unlock()
}

// heldCycle polls each repository once, renewing the lease on the way
// however long one poll takes: should the lease be lost, the cycle stops.
func (p *poller) heldCycle(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lost := make(chan bool, 1)
	go func() {
		renewed := time.Now()
		for {
			select {
			case <-ctx.Done():
				lost <- false
				return
			case <-time.After(p.leaseTTL() / 3):
			}
			held, err := p.s.locker.Renew(ctx, p.lease(), p.owner, p.leaseTTL())
			switch {
			case err == nil && held:
				renewed = time.Now()
			case err == nil || time.Since(renewed) > p.leaseTTL():
				cancel()
				lost <- true
				return
			}
		}
	}()
	p.cycle(ctx)
	cancel()
	if <-lost {
		p.setHolding(false)
		return
	}
	p.renewed = time.Time{} // renewed along the way; the next hold renews again
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

// cycle polls once, and says how it went in the poller's status.
func (p *poller) cycle(ctx context.Context) {
	failed := p.poll(ctx)
	if ctx.Err() != nil {
		return
	}
	p.s.metrics.pollCycle(p.name, failed)
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

// pollRepos polls each repository once, and returns the first error.
func (p *poller) pollRepos(ctx context.Context) error {
	repos, err := p.repositories(ctx)
	failed := err
	for _, repo := range repos {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err := p.pollRepo(ctx, repo)
		p.logState(repo, err)
		if failed == nil {
			failed = err
		}
		if retry, ok := vcs.AsRateLimit(err); ok {
			p.pause(ctx, retry, "the forge refused a poll for its rate limit")
			continue
		}
		if rl := p.watch.RateLimit(); rl.Limit > 0 && rl.Remaining < rl.Limit/10 {
			// What is left is kept for jobs.
			p.pause(ctx, rl.Reset, "the rate limit is nearly spent")
		}
	}
	return failed
}

// pause waits until a little after until, if it is to come; the lease is
// renewed meanwhile by heldCycle.
func (p *poller) pause(ctx context.Context, until time.Time, why string) {
	d := time.Until(until)
	if d <= 0 {
		return
	}
	until = time.Now().Add(jitter(d + time.Second)).UTC()
	p.log.Warn("polling paused", "why", why, "until", until.Format(time.RFC3339))
	p.mu.Lock()
	p.status.PausedUntil = &until
	p.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(until)):
	}
	p.mu.Lock()
	p.status.PausedUntil = nil
	p.mu.Unlock()
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

// repositories are those the forge shows its token that the allowlist
// names, under the forge's own names. They are matched again every
// reposEvery; while a name the allowlist spells out is not among them,
// sooner, from the next cycle on and twice as long each time, so that a
// repository created after the server started is polled soon. A name
// the forge does not show is another forge's, or one the token cannot
// see: it is said once.
func (p *poller) repositories(ctx context.Context) ([]string, error) {
	if !p.reposAt.IsZero() && time.Since(p.reposAt) < p.reposWait {
		return p.repos, nil
	}
	seen, err := p.watch.Repos(ctx)
	if err != nil {
		return p.repos, err
	}
	first := p.reposAt.IsZero()
	p.repos = slices.DeleteFunc(seen, func(r string) bool { return !p.s.allow.Allows(r) })
	p.reposAt = time.Now()
	names, _ := p.s.allow.names()
	missing := false
	for _, name := range names {
		if slices.ContainsFunc(p.repos, func(r string) bool { return strings.EqualFold(r, name) }) {
			continue
		}
		missing = true
		if first {
			p.log.Info("not polling a repository the allowlist names: this forge's token does not see it", "repo", name)
		}
	}
	switch {
	case !missing:
		p.reposWait = reposEvery
	case first:
		p.reposWait = p.interval / 2
	default:
		p.reposWait = min(2*p.reposWait, reposEvery)
	}
	return p.repos, nil
}
