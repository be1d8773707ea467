package runner

import (
	"context"
	"maps"
	"sync"
	"time"
)

// A job's phases say where its time went, for its Observer: each part
// of the job, timed where it runs, adds to its phase. The phases of a
// job's path follow each other (the wait in the queue, then the checks
// of the pull request, the checkout, ...), but those of projects that
// run at once add up, and PhaseForge, the time in the forge's API, is
// counted by the forge client's transport across the others.
const (
	// PhaseQueued is the time from the task's recording to the job's start.
	PhaseQueued = "queued"
	// PhasePull is reading the pull request, and whether its commenter
	// may run the command, from the forge.
	PhasePull = "pull"
	// PhaseCheckout is the git work: fetch, checkout, clean.
	PhaseCheckout = "checkout"
	// PhaseConfig is reading the repository's config and choosing the
	// projects.
	PhaseConfig = "config"
	// PhaseLock is taking the projects' locks.
	PhaseLock = "lock"
	// PhaseStore is keeping plan files and records.
	PhaseStore = "store"
	// PhaseReport is telling the forge: statuses, check runs, comments.
	PhaseReport = "report"
	// PhaseForge is the time in requests to the forge's API, whichever
	// phase made them.
	PhaseForge = "forge"
)

// A tool step's phase is its name in the workflow: init, plan, show,
// apply, run, ...

// phases adds up a job's time by phase; safe for concurrent use.
type phases struct {
	mu    sync.Mutex
	spent map[string]time.Duration
}

type phasesKey struct{}

// withPhases returns ctx carrying p, for Spend.
func withPhases(ctx context.Context, p *phases) context.Context {
	return context.WithValue(ctx, phasesKey{}, p)
}

// Spend adds d to phase of the job ctx is for, if any: how a forge
// client's transport counts a job's time in the forge's API
// (PhaseForge).
func Spend(ctx context.Context, phase string, d time.Duration) {
	if p, ok := ctx.Value(phasesKey{}).(*phases); ok {
		p.add(phase, d)
	}
}

func (p *phases) add(phase string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.spent == nil {
		p.spent = map[string]time.Duration{}
	}
	p.spent[phase] += d
}

// start times phase from now until the call of the function it returns.
func (p *phases) start(phase string) (end func()) {
	t := time.Now()
	return func() { p.add(phase, time.Since(t)) }
}

// all returns a copy of the time spent in each phase.
func (p *phases) all() map[string]time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.spent)
}
