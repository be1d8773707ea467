package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/atoll-iac/atoll/vcs"
)

// job is the work an event asks for, run after the webhook is answered.
type job func(ctx context.Context, jc jobContext) error

// jobContext is what every job knows about itself.
type jobContext struct {
	id  string
	log *slog.Logger
}

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
			return s.plan(ctx, jc, planRequest{forge: forge, pull: ev.Pull, user: ev.Pull.Author, auto: true})
		}, "autoplan"
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

// runJob runs j and reports what it could not: an error meant for users
// becomes a comment as is; any other becomes a comment naming the job id,
// with the detail in the log only.
func (s *Server) runJob(ctx context.Context, log *slog.Logger, id string, forge vcs.Forge, pull vcs.PullRequest, j job) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("job panicked", "panic", fmt.Sprint(r))
			s.reportError(ctx, log, id, forge, pull, errors.New("panic"))
		}
	}()
	if err := j(ctx, jobContext{id: id, log: log}); err != nil {
		s.reportError(ctx, log, id, forge, pull, err)
	}
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
	if _, cerr := forge.Comment(ctx, pull.Repo, pull.Number, body); cerr != nil {
		log.Error("reporting job failure", "err", cerr)
	}
}
