package report

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/atoll-iac/atoll/vcs"
)

// How the comments that say a job has not answered (yet) begin.
const (
	RunningMark       = "⏳"
	PausedMark        = "⏸️"
	InternalErrorMark = "**atoll hit an internal error**"
)

// Answers reports whether body, a job's comment, holds the job's answer:
// not a note that the job runs or paused, nor an internal error, which
// running the job again may better.
func Answers(body string) bool {
	for _, unanswered := range []string{RunningMark, PausedMark, InternalErrorMark} {
		if strings.HasPrefix(body, unanswered) {
			return false
		}
	}
	return true
}

// Redactor hides secrets in text.
type Redactor interface {
	Redact(string) string
}

// Reply is a job's one comment: posted when the job starts, saying what
// runs, and edited into the result when it ends. Every body it says is
// redacted first.
type Reply struct {
	Forge  vcs.Forge
	Pull   vcs.PullRequest
	Redact Redactor
	Log    *slog.Logger
	// ID is the comment, once posted, or one an earlier run of the job
	// posted before it was cut short: the next body is edited into it.
	// 0 when there is none.
	ID int64
	// Noted, when set, records a comment the reply posts anew, for a
	// later run of the job should this one be cut short.
	Noted func(ctx context.Context, commentID int64)
	// Said, when set, hears each body Finish says, as said: a CI job's
	// log repeats them.
	Said func(body string)

	// begun is closed once what Begin started is said.
	begun chan struct{}
}

// Begin is Start without waiting on the forge: the comment is posted
// while the job goes on, and the reply's other methods wait for it.
// Like them, it is called from one goroutine at a time.
func (r *Reply) Begin(ctx context.Context, running string) {
	r.Wait()
	done := make(chan struct{})
	r.begun = done
	go func() {
		defer close(done)
		r.start(ctx, running)
	}()
}

// Wait waits until what Begin started is said: ID is then the reply's
// comment.
func (r *Reply) Wait() {
	if r.begun != nil {
		<-r.begun
		r.begun = nil
	}
}

// Start says that the job runs, in the reply's comment (ID) if it has
// one, else in a new comment; failing both, the result is posted as a new
// comment at the end instead.
func (r *Reply) Start(ctx context.Context, running string) {
	r.Wait()
	r.start(ctx, running)
}

func (r *Reply) start(ctx context.Context, running string) {
	running = r.Redact.Redact(running)
	if r.ID != 0 {
		if err := r.Forge.UpdateComment(ctx, r.Pull.Repo, r.Pull.Number, r.ID, running); err == nil {
			return
		}
	}
	id, err := r.Forge.Comment(ctx, r.Pull.Repo, r.Pull.Number, running)
	if err != nil {
		r.Log.Error("posting the running comment", "err", err)
		r.ID = 0
		return
	}
	r.ID = id
	if r.Noted != nil {
		r.Noted(ctx, id)
	}
}

// Finish turns the reply's comment into the first body and posts the rest
// as new comments; it returns the ids of the comments now holding the
// result. The reply's comment is used once: what is finished later goes
// to new comments. It fails only when a body could not be said at all.
func (r *Reply) Finish(ctx context.Context, bodies ...string) ([]int64, error) {
	r.Wait()
	defer func() { r.ID = 0 }()
	var ids []int64
	var errs []error
	for i, body := range bodies {
		body = r.Redact.Redact(body)
		if r.Said != nil {
			r.Said(body)
		}
		if i == 0 && r.ID != 0 {
			err := r.Forge.UpdateComment(ctx, r.Pull.Repo, r.Pull.Number, r.ID, body)
			if err == nil {
				ids = append(ids, r.ID)
				continue
			}
			r.Log.Warn("editing the job's comment; posting the answer anew", "comment", r.ID, "err", err)
		}
		id, err := r.Forge.Comment(ctx, r.Pull.Repo, r.Pull.Number, body)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if i == 0 && r.Noted != nil {
			r.Noted(ctx, id)
		}
		ids = append(ids, id)
	}
	return ids, errors.Join(errs...)
}
