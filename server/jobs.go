package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
)

// job is the work an event asks for, run after the webhook is answered.
type job func(ctx context.Context, jc *jobContext) error

// jobContext is what every job knows about itself.
type jobContext struct {
	id  string
	log *slog.Logger
	// reply is the job's comment once it has posted one; a failure is
	// reported there rather than in a new comment.
	reply *reply
	// rerun is set when an earlier run of the job was cut short: what it
	// finished need not be done again.
	rerun bool
	// earlier is the running comment an earlier run of the job posted
	// before it was cut short; its next one is edited in instead of
	// posting another. 0 when there is none.
	earlier int64
	// posted records the job's running comment, for a run after this one
	// should this one be cut short; nil does nothing.
	posted func(ctx context.Context, commentID int64)
	// claimSound waits until the job's claim on its task is sound (see
	// keptClaim.sound); nil when the job has no claim to keep.
	claimSound func(ctx context.Context) error
}

// reportTimeout bounds the calls that report a job's end to the forge,
// which run even when the job itself was cancelled.
const reportTimeout = 30 * time.Second

// userError is an error whose text is written for the people on the pull
// request and may be shown to them as is.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

func userErrorf(format string, args ...any) error {
	return &userError{msg: fmt.Sprintf(format, args...)}
}

// decide returns the job for an event, or nil, and a few words on why.
func (s *Server) decide(forge vcs.Forge, ev vcs.Event) (job, string) {
	switch ev.Type {
	case vcs.PullOpened, vcs.PullUpdated, vcs.PullReady:
		if ev.Pull.Draft {
			return nil, "draft pull request; autoplan waits until it is ready for review"
		}
		return func(ctx context.Context, jc *jobContext) error {
			return s.autoplan(ctx, jc, forge, ev)
		}, "autoplan"
	case vcs.PullClosed:
		return func(ctx context.Context, jc *jobContext) error {
			return s.closed(ctx, jc, forge, ev.Pull)
		}, "clean up"
	case vcs.CommentCreated:
		cmd, ok, err := ParseComment(ev.Comment.Body, s.allowedExtra)
		if !ok {
			return nil, "comment is not an atoll command"
		}
		return func(ctx context.Context, jc *jobContext) error {
			return s.command(ctx, jc, forge, ev, cmd, err)
		}, "comment command"
	}
	return nil, ev.Type.String() + " needs no work"
}

// errForkRefused is the answer to pull requests from forks when they are
// not allowed.
var errForkRefused = userErrorf("atoll does not run pull requests from forks on this server: a plan runs the pull request's code with the server's credentials. An administrator can allow it with `--allow-fork-prs`.")

// autoplan plans the projects a pull request changes, as of its current
// head: an event for a commit that is no longer the head is dropped, since
// the event for the newer commit plans it. Earlier plans are discarded
// first; the locks stay.
func (s *Server) autoplan(ctx context.Context, jc *jobContext, forge vcs.Forge, ev vcs.Event) error {
	pull, err := forge.PullRequest(ctx, ev.Repo, ev.Pull.Number)
	if err != nil {
		return err
	}
	switch {
	case !pull.Open:
		jc.log.Info("pull request closed since the event; not planning")
		return nil
	case pull.Draft:
		jc.log.Info("pull request is a draft again; not planning")
		return nil
	case pull.HeadSHA != ev.Pull.HeadSHA:
		jc.log.Info("pull request moved on since the event; not planning", "event_sha", ev.Pull.HeadSHA, "head_sha", pull.HeadSHA)
		return nil
	case pull.Fork && !s.allowForks:
		jc.log.Info("not planning a pull request from a fork")
		if ev.Type == vcs.PullUpdated {
			return nil // said once, when it was opened
		}
		return errForkRefused
	}
	// Every project is planned afresh: earlier plans, of this commit or
	// older ones, go, so that none of a project the pull request no longer
	// changes is left to count or to apply. A run of this job that was cut
	// short after it planned something had done so already.
	plannedBefore := false
	if jc.rerun {
		recs, err := s.workspaces.Records(ctx, pull.Repo.FullName, pull.Number)
		if err != nil {
			return err
		}
		plannedBefore = slices.ContainsFunc(recs, func(r runner.PlanRecord) bool { return r.JobID == jc.id })
	}
	if !plannedBefore {
		discarded, err := s.workspaces.DiscardPlans(ctx, pull.Repo.FullName, pull.Number)
		if err != nil {
			return fmt.Errorf("discarding earlier plans: %w", err)
		}
		jc.log.Info("discarded earlier plans", "count", len(discarded))
	}
	return s.plan(ctx, jc, planRequest{forge: forge, pull: pull, user: pull.Author, auto: true})
}

// runJob runs j under the job timeout and reports what it could not: an
// error meant for users becomes a comment as is; any other becomes a
// comment naming the job id, with the detail in the log only.
//
// It reports whether the job was handed over: stopped midway for its task
// to run again (see handedOver), rather than done.
func (s *Server) runJob(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest, j job) (handed bool) {
	ctx, cancel := context.WithTimeout(ctx, s.jobTimeout)
	defer cancel()
	start := time.Now()
	log := jc.log
	defer func() {
		if r := recover(); r != nil {
			log.Error("job panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			s.reportError(ctx, jc, forge, pull, errors.New("panic"))
		}
	}()
	err := j(ctx, jc)
	if cause := context.Cause(ctx); err != nil && handedOver(ctx) {
		// Not the job's failure: its task runs again, and reports then.
		log.Info("job interrupted", "why", cause, "err", err)
		return true
	}
	if err != nil {
		s.reportError(ctx, jc, forge, pull, err)
	}
	log.Debug("job done", "elapsed", time.Since(start))
	return false
}

func (s *Server) reportError(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest, err error) {
	var ue *userError
	var body string
	if errors.As(err, &ue) {
		jc.log.Info("job refused", "reason", ue.msg)
		body = ue.msg
	} else {
		jc.log.Error("job failed", "err", err)
		body = fmt.Sprintf(internalErrorMark+" and stopped (job `%s`). The server's log has the details.", jc.id)
	}
	ctx, cancel := reportContext(ctx)
	defer cancel()
	r := jc.reply
	if r == nil {
		r = jc.resultReply(forge, pull)
	}
	if _, cerr := s.finish(ctx, r, body); cerr != nil {
		jc.log.Error("reporting job failure", "err", cerr)
	}
}

// handedOver reports whether the job of ctx was stopped for its task to
// run again later, here or on another replica: the server shuts down, or
// the claim on the task lapsed. Such a job reports nothing; the next run
// does.
func handedOver(ctx context.Context) bool {
	cause := context.Cause(ctx)
	return errors.Is(cause, errShutdown) || errors.Is(cause, errClaimLost) || errors.Is(cause, errClaimTaken)
}

// reportContext is for telling the forge how a job ended: it lives on for
// a while after ctx is cancelled, so that a job stopped by a timeout or a
// shutdown still says so.
func reportContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
}
