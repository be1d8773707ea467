// Package runner is the job layer: what happens to an event once it is a
// task in the queue. A Job value carries one event's work (its id,
// logger, forge, pull request and reply); each command has its file
// (autoplan, plan, apply, unlock, close, version), and the rest is what
// they share: authorization, project selection, waves of projects, steps,
// project locks kept while a command runs. It talks to the forge through
// vcs, runs tools through runner/tool in checkouts from runner/workspace,
// keeps plans in runner/plans and says what happened through
// runner/report.
package runner

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner/joblog"
	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/policy"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/runner/tool"
	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// Policy is what the server allows jobs and asks of pull requests. Its
// zero value requires nothing before an apply, lets everyone with write
// access run commands, refuses forks and extra tool arguments, and keeps
// locks until a pull request is closed.
type Policy struct {
	// ApplyRequirements must hold before an apply runs, unless the server
	// config (RepoConfig) sets others for a repository.
	ApplyRequirements workflows.Requirements
	// RepoConfig is the server-side repo config: what each repository gets
	// and may set in its own config. The zero value allows no overrides
	// and no custom workflows.
	RepoConfig workflows.ServerConfig
	// AllowedCommenters are the users and teams ("org/team") who may run
	// commands; when empty, everyone with write access to the repository.
	AllowedCommenters []string
	// AllowForkPRs lets atoll plan pull requests whose head lives in a
	// fork: their code then runs with the server's credentials.
	AllowForkPRs bool
	// AllowedExtraArgs are prefixes of the tool arguments a comment may add
	// after "--" (as "-target="); none when empty.
	AllowedExtraArgs []string
	// Automerge merges a pull request once all its plans are applied,
	// unless the repository config's automerge says otherwise.
	Automerge bool
	// HidePrevPlanComments collapses a pull request's earlier plan comments
	// when a new plan is commented, where the forge can.
	HidePrevPlanComments bool
	// LockTTL, when set, lets a project lock lapse that long after its
	// pull request's last plan or apply of the project, so that a pull
	// request abandoned without a close event does not hold it forever.
	// Zero keeps locks until the pull request is closed or merged; else
	// at least a second.
	LockTTL time.Duration
	// JobTimeout bounds one job, tool runs included; one hour when zero.
	JobTimeout time.Duration
	// LockQueue puts a pull request whose plan finds a project locked by
	// another in line for the lock: it is planned on its own when its
	// turn comes. Off, the plan is refused and nothing more.
	LockQueue bool
	// ReplanStale plans again, on their own, the other pull requests'
	// plans of a project that an apply made stale. Off, they are only
	// marked stale, and refused if applied.
	ReplanStale bool
}

// Config is what a Runner runs jobs with. Every field but Logger and
// Parallelism is required.
type Config struct {
	Policy
	// Forges are those events come from, told apart by Name.
	Forges     []vcs.Forge
	Locker     locking.Locker
	Plans      plans.Store
	Workspaces *workspace.Workspaces
	// Exec runs tool steps; its Tool is the server's default binary.
	Exec *tool.Runner
	// Tools finds the binary each project's version asks for.
	Tools *tool.Tools
	// Redactor hides secrets in what jobs say.
	Redactor *tool.Redactor
	// Ping checks that the job store answers: a job stopped because its
	// claim could not be kept says it paused only when it does not.
	Ping func(context.Context) error
	// Parallelism bounds the projects running at once across all jobs;
	// 1 when zero.
	Parallelism int
	// Logger receives the jobs' logs; slog.Default() when nil.
	Logger *slog.Logger
	// Observer, when set, hears how each job ended.
	Observer Observer
	// Jobs, when set, keeps a record of each job and its output, for the
	// web UI and the API.
	Jobs joblog.Store
	// Drift, when set, keeps what drift checks found.
	Drift DriftRecorder
	// Policies, when set, checks every plan (runner/policy).
	Policies PolicyChecker
	// Tasks, when set, is the queue the runner adds its own work to: the
	// plan of a pull request whose turn for a lock came, a stale plan's
	// plan again. Without it, that work is not done.
	Tasks queue.Store
}

// PolicyChecker checks a plan's JSON against policy sets.
type PolicyChecker interface {
	Check(ctx context.Context, plan []byte) ([]policy.Result, error)
}

// Observer hears how each job ended, for metrics.
type Observer interface {
	JobDone(JobEnd)
}

// JobEnd is how a job ended.
type JobEnd struct {
	// Command is what the job was asked to do: autoplan, close, or a
	// comment command such as plan or apply; an unreadable comment is
	// "comment".
	Command string
	// Outcome is how it ended: Succeeded, Failed, ...
	Outcome string
	// Took is how long it ran, from its start.
	Took time.Duration
	// Phases is where its time went, by phase (PhaseQueued, ...).
	Phases map[string]time.Duration
}

// How a job ends, for an Observer.
const (
	// Succeeded: the job did all it was asked.
	Succeeded = "succeeded"
	// Failed: a project's plan or apply failed.
	Failed = "failed"
	// Refused: the job was refused (not allowed, requirements unmet, a
	// bad command) and said why.
	Refused = "refused"
	// Errored: atoll hit an internal error.
	Errored = "error"
	// Interrupted: the job stopped before its end and runs again
	// (shutdown, a claim lost); it is heard again then.
	Interrupted = "interrupted"
)

// Runner runs the jobs events ask for. It is safe for concurrent use.
type Runner struct {
	policy     Policy
	forges     []vcs.Forge
	locker     locking.Locker
	plans      plans.Store
	workspaces *workspace.Workspaces
	exec       *tool.Runner
	tools      *tool.Tools
	redact     *tool.Redactor
	ping       func(context.Context) error
	log        *slog.Logger
	observer   Observer
	jobs       joblog.Store
	drift      DriftRecorder
	policies   PolicyChecker
	tasks      queue.Store
	// slots bound the projects running at once across all jobs.
	slots chan struct{}
	// prefetch fetches queued pull requests' commits ahead of their jobs.
	prefetch prefetcher
}

// New returns a Runner for cfg.
func New(cfg Config) *Runner {
	cfg.JobTimeout = cmp.Or(cfg.JobTimeout, time.Hour)
	return &Runner{
		policy:     cfg.Policy,
		forges:     cfg.Forges,
		locker:     cfg.Locker,
		plans:      cfg.Plans,
		workspaces: cfg.Workspaces,
		exec:       cfg.Exec,
		tools:      cfg.Tools,
		redact:     cfg.Redactor,
		ping:       cfg.Ping,
		log:        cmp.Or(cfg.Logger, slog.Default()),
		observer:   cfg.Observer,
		jobs:       cfg.Jobs,
		drift:      cfg.Drift,
		policies:   cfg.Policies,
		tasks:      cfg.Tasks,
		slots:      make(chan struct{}, max(cfg.Parallelism, 1)),
	}
}

// forge returns the forge called name, or nil.
func (r *Runner) forge(name string) vcs.Forge {
	for _, f := range r.forges {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

// takeSlot waits for one of the --parallelism slots, or for ctx to end.
func (r *Runner) takeSlot(ctx context.Context) error {
	select {
	case r.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Runner) releaseSlot() { <-r.slots }
