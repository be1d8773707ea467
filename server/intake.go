package server

import (
	"context"
	"errors"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/vcs"
)

// Every source of events (webhooks today; polling, CI runs and forwarded
// events later) hands them to admit, which decides whether they ask for
// work and queues it once.

// admission is what became of an event.
type admission struct {
	// queued is set when the event's work was queued, as job.
	queued bool
	job    string
	// why says what work, or why none.
	why string
}

// errStoreClosed is admit's error once the server has closed its store.
var errStoreClosed = errors.New("server: shutting down")

// queueTimeout bounds the queueing of one event's work.
const queueTimeout = 10 * time.Second

// admit takes an event from forge: work for a repository the allowlist
// names is queued, unless the same delivery was queued before. An error
// says the work could not be queued now, and the source should try
// again.
func (s *Server) admit(ctx context.Context, forge vcs.Forge, ev vcs.Event) (admission, error) {
	log := s.log.With("forge", forge.Name(), "repo", ev.Repo.FullName, "pr", ev.Pull.Number, "delivery", ev.DeliveryID)
	if !s.allow.Allows(ev.Repo.FullName) {
		log.Info("ignoring event from a repository outside the allowlist")
		return admission{why: "repository not in the allowlist"}, nil
	}
	if ev.Type == vcs.CommentCreated && !ev.Comment.Created.IsZero() && time.Since(ev.Comment.Created) > maxCommentAge {
		// Its mark may have lapsed: a replay of a captured delivery (an
		// apply, say) would run again.
		log.Warn("not running a comment written long ago", "comment", ev.Comment.ID, "created", ev.Comment.Created)
		return admission{why: "comment written more than " + maxCommentAge.String() + " ago"}, nil
	}
	why, ok := s.jobs.Decide(ev)
	if !ok {
		s.sawComment(ctx, forge, ev)
		return admission{why: why}, nil
	}
	id := newJobID()
	// Not cut short by the source going away: a forge retries a delivery
	// it thinks failed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queueTimeout)
	defer cancel()
	isNew, err := s.enqueue(ctx, runner.Order{JobID: id, Forge: forge.Name(), Event: ev})
	switch {
	case errors.Is(err, errStoreClosed):
		return admission{}, err
	case err != nil:
		log.Error("queueing job", "job", id, "err", err)
		return admission{}, err
	case !isNew:
		return admission{why: "already received"}, nil
	}
	log.Info("queued", "job", id, "event", ev.Type.String(), "work", why)
	return admission{queued: true, job: id, why: why}, nil
}

// enqueue records o's task, unless what it reports was queued before
// (runner.Enqueue), and reports whether it did; errStoreClosed once the
// server closed its store. The job's record in the job log is written
// after, by a goroutine the store's close waits for: whoever waits on
// the task (a webhook's sender) does not wait on it, and the worker
// makes the record if it starts the job first. Where this server runs
// what it queues, the commit a pull request's job will check out starts
// to be fetched (runner.Prefetch).
func (s *Server) enqueue(ctx context.Context, o runner.Order) (bool, error) {
	s.queueing.RLock()
	defer s.queueing.RUnlock()
	if s.storeClosed {
		return false, errStoreClosed
	}
	isNew, err := runner.Enqueue(ctx, s.tasks, o)
	if err != nil || !isNew {
		return isNew, err
	}
	if s.prefetch {
		s.jobs.Prefetch(o)
	}
	s.recording.Go(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		s.jobs.Queued(ctx, o)
	})
	return true, nil
}

// sawComment marks a comment that asks for nothing as seen, when the
// server polls: a poller that reads it again after an edit (to a
// command, say) knows it for an edit, which runs nothing, as a webhook
// would tell. A comment marked already keeps its mark.
func (s *Server) sawComment(ctx context.Context, forge vcs.Forge, ev vcs.Event) {
	if ev.Type != vcs.CommentCreated || len(s.pollers) == 0 {
		return
	}
	key := runner.CommentKey(forge.Name(), ev.Repo.FullName, ev.Comment.ID)
	held, err := s.tasks.Marked(ctx, key)
	if err == nil && held == "" {
		err = s.tasks.SetMark(ctx, queue.Mark{Key: key, Value: "seen", TTL: runner.CommentWindow})
	}
	if err != nil {
		s.log.Warn("marking a comment seen", "repo", ev.Repo.FullName, "comment", ev.Comment.ID, "err", err)
	}
}

// newJobID names a new job.
func newJobID() string { return runner.NewJobID() }
