package server

import (
	"context"
	"errors"

	"github.com/atoll-iac/atoll/vcs"
)

// How the comments that say a job has not answered (yet) begin.
const (
	runningMark       = "⏳"
	pausedMark        = "⏸️"
	internalErrorMark = "**atoll hit an internal error**"
)

// reply is a command's one comment: posted when the command starts, saying
// what runs, and edited into the result when it ends.
type reply struct {
	forge vcs.Forge
	pull  vcs.PullRequest
	id    int64 // 0 until posted
	// noted, when set, records a first comment finish posts, for a later
	// run of the job should this one not get to mark its task done.
	noted func(ctx context.Context, commentID int64)
}

// resultReply makes the reply of a job that posts no running comment, and
// the job's reply: it goes into the comment an earlier, cut-short run of
// the job posted, if any, and a comment it posts is noted for a later run.
func (jc *jobContext) resultReply(forge vcs.Forge, pull vcs.PullRequest) *reply {
	jc.reply = &reply{forge: forge, pull: pull, id: jc.earlier, noted: jc.posted}
	return jc.reply
}

// start posts the "running" comment; failing that, the result is posted
// as a new comment at the end instead.
func (s *Server) start(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest, running string) *reply {
	r := &reply{forge: forge, pull: pull, noted: jc.posted}
	jc.reply = r
	running = s.redact.Redact(running)
	if jc.earlier != 0 {
		// An earlier run of this job posted it, and was cut short.
		if err := forge.UpdateComment(ctx, pull.Repo, jc.earlier, running); err == nil {
			r.id = jc.earlier
			return r
		}
	}
	id, err := forge.Comment(ctx, pull.Repo, pull.Number, running)
	if err != nil {
		jc.log.Error("posting the running comment", "err", err)
		return r
	}
	r.id = id
	if r.noted != nil {
		r.noted(ctx, id)
	}
	return r
}

// finish turns the running comment into the first body and posts the rest
// as new comments; it returns the ids of the comments now holding the
// result. Bodies are redacted once more on the way out. The running
// comment is used once: what is finished later goes to new comments. It
// fails only when a body could not be said at all.
func (s *Server) finish(ctx context.Context, r *reply, bodies ...string) ([]int64, error) {
	defer func() { r.id = 0 }()
	var ids []int64
	var errs []error
	for i, body := range bodies {
		body = s.redact.Redact(body)
		if i == 0 && r.id != 0 {
			err := r.forge.UpdateComment(ctx, r.pull.Repo, r.id, body)
			if err == nil {
				ids = append(ids, r.id)
				continue
			}
			s.log.Warn("editing the job's comment; posting the answer anew", "comment", r.id, "err", err)
		}
		id, err := r.forge.Comment(ctx, r.pull.Repo, r.pull.Number, body)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if i == 0 && r.noted != nil {
			r.noted(ctx, id)
		}
		ids = append(ids, id)
	}
	return ids, errors.Join(errs...)
}
