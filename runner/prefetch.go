package runner

import (
	"context"
	"sync"
	"time"

	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// prefetchTimeout bounds one prefetch.
const prefetchTimeout = 2 * time.Minute

// prefetcher fetches the commits of pull requests waiting in the queue
// into their repositories' object stores while the workers run other
// jobs, the commits of one repository in one fetch: a burst of pull
// requests then finds its commits there when their turns come. Nothing
// depends on it; a restart loses only time.
type prefetcher struct {
	mu sync.Mutex
	// pending are the checkouts to prefetch, by forge and repository.
	pending map[[2]string][]workspace.CheckoutSpec
	// running is set while a goroutine drains pending; stopped once
	// Close began.
	running, stopped bool
	ctx              context.Context
	cancel           context.CancelFunc
	wg               sync.WaitGroup
}

// Prefetch starts fetching the commit that o's job will check out, when
// o plans a pull request's head: at once, alongside the jobs that run.
func (r *Runner) Prefetch(o Order) {
	ev := o.Event
	switch {
	case o.Run != nil, ev.Type != vcs.PullOpened && ev.Type != vcs.PullUpdated && ev.Type != vcs.PullReady,
		ev.Pull.Draft, ev.Pull.Fork && !r.policy.AllowForkPRs:
		return
	}
	if r.forge(o.Forge) == nil {
		return
	}
	spec := workspace.CheckoutSpec{Forge: o.Forge, Repo: ev.Repo.FullName, CloneURL: ev.Repo.CloneURL,
		Pull: ev.Pull.Number, Workspace: workflows.DefaultWorkspace, SHA: ev.Pull.HeadSHA}
	p := &r.prefetch
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	if p.pending == nil {
		p.pending = map[[2]string][]workspace.CheckoutSpec{}
		p.ctx, p.cancel = context.WithCancel(context.Background())
	}
	key := [2]string{o.Forge, spec.Repo}
	p.pending[key] = append(p.pending[key], spec)
	if !p.running {
		p.running = true
		p.wg.Go(r.drainPrefetch)
	}
}

// drainPrefetch prefetches what is pending until nothing is.
func (r *Runner) drainPrefetch() {
	p := &r.prefetch
	for {
		p.mu.Lock()
		var specs []workspace.CheckoutSpec
		for key, s := range p.pending {
			specs = s
			delete(p.pending, key)
			break
		}
		if specs == nil || p.stopped {
			p.running = false
			p.mu.Unlock()
			return
		}
		ctx := p.ctx
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(ctx, prefetchTimeout)
		auth, err := r.forge(specs[0].Forge).CloneAuth(ctx, specs[0].Repo)
		if err == nil {
			specs[0].Auth = auth
			err = r.workspaces.Prefetch(ctx, specs)
		}
		cancel()
		if err != nil {
			r.log.Debug("prefetching pull requests' commits", "repo", specs[0].Repo, "count", len(specs), "err", err)
		}
	}
}

// Close stops prefetching, and waits for a fetch under way to stop.
func (r *Runner) Close() {
	p := &r.prefetch
	p.mu.Lock()
	p.stopped = true
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
