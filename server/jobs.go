package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/atoll-iac/atoll/vcs"
)

// job is the work an event asks for, run after the webhook is answered.
type job func(ctx context.Context, jc jobContext) error

// jobContext is what every job knows about itself.
type jobContext struct {
	id  string
	log *slog.Logger
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
		return func(ctx context.Context, jc jobContext) error {
			return s.autoplan(ctx, jc, forge, ev.Pull)
		}, "autoplan"
	case vcs.PullClosed:
		return func(ctx context.Context, jc jobContext) error {
			return s.release(ctx, jc, forge, ev.Pull)
		}, "release locks"
	case vcs.CommentCreated:
		cmd, ok, err := ParseComment(ev.Comment.Body)
		if !ok {
			return nil, "comment is not an atoll command"
		}
		return func(ctx context.Context, jc jobContext) error {
			return s.command(ctx, jc, forge, ev, cmd, err)
		}, "comment command"
	}
	return nil, ev.Type.String() + " needs no work"
}

// autoplan plans the projects a pull request changes, as of its current
// head: an event for a commit that is no longer the head is dropped, since
// the event for the newer commit plans it.
func (s *Server) autoplan(ctx context.Context, jc jobContext, forge vcs.Forge, event vcs.PullRequest) error {
	pull, err := forge.PullRequest(ctx, event.Repo, event.Number)
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
	case pull.HeadSHA != event.HeadSHA:
		jc.log.Info("pull request moved on since the event; not planning", "event_sha", event.HeadSHA, "head_sha", pull.HeadSHA)
		return nil
	}
	return s.plan(ctx, jc, planRequest{forge: forge, pull: pull, user: pull.Author, auto: true})
}

// runJob runs j under the job timeout and reports what it could not: an
// error meant for users becomes a comment as is; any other becomes a
// comment naming the job id, with the detail in the log only.
func (s *Server) runJob(ctx context.Context, log *slog.Logger, id string, forge vcs.Forge, pull vcs.PullRequest, j job) {
	ctx, cancel := context.WithTimeout(ctx, s.jobTimeout)
	defer cancel()
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			log.Error("job panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			s.reportError(ctx, log, id, forge, pull, errors.New("panic"))
		}
	}()
	if err := j(ctx, jobContext{id: id, log: log}); err != nil {
		s.reportError(ctx, log, id, forge, pull, err)
	}
	log.Debug("job done", "elapsed", time.Since(start))
}

func (s *Server) reportError(ctx context.Context, log *slog.Logger, id string, forge vcs.Forge, pull vcs.PullRequest, err error) {
	var ue *userError
	var body string
	if errors.As(err, &ue) {
		log.Info("job refused", "reason", ue.msg)
		body = ue.msg
	} else {
		log.Error("job failed", "err", err)
		body = fmt.Sprintf("**atoll hit an internal error** and stopped (job `%s`). The server's log has the details.", id)
	}
	ctx, cancel := reportContext(ctx)
	defer cancel()
	if _, cerr := forge.Comment(ctx, pull.Repo, pull.Number, body); cerr != nil {
		log.Error("reporting job failure", "err", cerr)
	}
}

// reportContext is for telling the forge how a job ended: it lives on for
// a while after ctx is cancelled, so that a job stopped by a timeout or a
// shutdown still says so.
func reportContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
}
