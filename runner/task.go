package runner

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// Order is the work an event asks for, as it waits in the queue: the
// event, the forge it came from, and the id its job was given.
type Order struct {
	JobID string
	Forge string
	Event vcs.Event
	// Operator, when set, is who asked for the work through atoll's own
	// web UI or API rather than on the forge: a user of atoll, whose
	// right to ask was checked there, and not of the forge. The event is
	// then the command asked for, with no comment on the forge; only
	// unlock is asked for so (UnlockOrder).
	Operator string `json:",omitempty"`
	// Via names where the operator asked: "web UI" or "API".
	Via string `json:",omitempty"`
	// Run, when set, is work on a commit of the repository rather than
	// on a pull request (RefOrder): the event then names no pull
	// request, only the commit.
	Run *RefRun `json:",omitempty"`
	// Replan, when set, is a plan atoll asks for on its own (a turn for
	// a lock, a stale plan): the event is then a comment that no one
	// wrote, standing for the command Replan.command gives.
	Replan *Replan `json:",omitempty"`
}

// NewJobID returns a new job id: 12 random hex digits.
func NewJobID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// UnlockOrder is the order to unlock pull request pull, from forge, as
// `atoll unlock` does, on operator's word, given via atoll's "web UI" or
// "API": the pull request is told who unlocked it, and from where. It
// runs in the pull request's turn, after the jobs queued before it, so
// no lock is released under a running apply.
func UnlockOrder(jobID, forge string, pull vcs.PullRequest, operator, via string) Order {
	return Order{JobID: jobID, Forge: forge, Operator: operator, Via: via, Event: vcs.Event{
		Type:    vcs.CommentCreated,
		Repo:    pull.Repo,
		Pull:    pull,
		Comment: vcs.Comment{Author: operator, Body: "atoll unlock"},
	}}
}

// group names the tasks of one pull request, which take turns.
func (o Order) group() string {
	return fmt.Sprintf("%s/%s#%d", o.Forge, o.Event.Repo.FullName, o.Event.Pull.Number)
}

// What each order marks, so that the same happening queues one task
// however many times it arrives: delivered again, by a webhook and by
// a poller both, or to two replicas at once.
const (
	// CommentWindow is how long a comment is remembered as queued, or
	// as seen by a poller.
	CommentWindow = 24 * time.Hour
	// pullWindow is how long a pull request's state is remembered: past
	// it, an event for an unchanged pull request plans it again.
	pullWindow = 90 * 24 * time.Hour
)

// CommentKey names the mark of a comment, set once it is queued.
func CommentKey(forge, repo string, id int64) string {
	return fmt.Sprintf("%s/%s/comment/%d", forge, repo, id)
}

// PullKey names the mark that holds the state of a pull request as its
// events last queued it; PullState is that state.
func PullKey(forge, repo string, number int) string {
	return fmt.Sprintf("%s/%s/pull/%d", forge, repo, number)
}

// PullState is what PullKey holds for p: ClosedPull, or "open" and the
// head commit. An event that leaves it as it was asks for nothing new.
func PullState(p vcs.PullRequest) string {
	if !p.Open {
		return ClosedPull
	}
	return "open " + p.HeadSHA
}

// ClosedPull is the state of a closed or merged pull request.
const ClosedPull = "closed"

// mark is the mark o leaves: the comment it runs, or the state of the
// pull request its event reports.
func (o Order) mark() queue.Mark {
	ev := o.Event
	switch ev.Type {
	case vcs.CommentCreated:
		return queue.Mark{Key: CommentKey(o.Forge, ev.Repo.FullName, ev.Comment.ID), Value: "queued", TTL: CommentWindow}
	case vcs.PullClosed:
		ev.Pull.Open = false
	default:
		ev.Pull.Open = true
	}
	ev.Pull.Repo = ev.Repo
	return PullMark(o.Forge, ev.Pull)
}

// PullMark is the mark that says pull, of forge, is in the state it is:
// ordered by its update time, so that a late report of an earlier state
// queues nothing.
func PullMark(forge string, pull vcs.PullRequest) queue.Mark {
	m := queue.Mark{Key: PullKey(forge, pull.Repo.FullName, pull.Number), Value: PullState(pull), TTL: pullWindow}
	if !pull.Updated.IsZero() {
		m.Order = pull.Updated.UnixMilli()
	}
	return m
}

// Enqueue records o as a task in store, unless what its event reports
// was queued before, and reports whether it did. The check and the
// record are one step: an event is never half taken. An operator's order
// reports nothing that could come again: it is always recorded.
func Enqueue(ctx context.Context, store queue.Store, o Order) (bool, error) {
	group, body, err := o.Task()
	if err != nil {
		return false, err
	}
	if o.Operator != "" {
		_, err := store.Enqueue(ctx, group, body)
		return err == nil, err
	}
	_, isNew, err := store.EnqueueOnce(ctx, o.mark(), group, body)
	return isNew, err
}

// Task returns the group and body of the task that runs o.
func (o Order) Task() (group string, body []byte, err error) {
	body, err = json.Marshal(o)
	return o.group(), body, err
}

// Decide says whether an event asks for work, and in a few words what
// work, or why none.
func (r *Runner) Decide(ev vcs.Event) (work string, ok bool) {
	switch ev.Type {
	case vcs.PullOpened, vcs.PullUpdated, vcs.PullReady:
		if ev.Pull.Draft {
			return "draft pull request; autoplan waits until it is ready for review", false
		}
		return "autoplan", true
	case vcs.PullClosed:
		return "clean up", true
	case vcs.CommentCreated:
		if _, isCmd, _ := workflows.ParseComment(ev.Comment.Body, r.policy.AllowedExtraArgs); !isCmd {
			return "comment is not an atoll command", false
		}
		return "comment command", true
	}
	return ev.Type.String() + " needs no work", false
}

// Handle runs the job of a task, which c (never nil) keeps claimed: it is
// a queue.Handler. A task that cannot run (it does not decode, its forge is
// gone, its event needs no work) is done with; so is one whose job
// answered in an earlier run that was cut short before it marked the task
// done. One whose runs took their server down crashLimit times is
// answered, not run again (giveUp).
func (r *Runner) Handle(ctx context.Context, t queue.Task, c *queue.Claim) error {
	log := r.log.With("task", t.ID)
	var o Order
	if err := json.Unmarshal(t.Body, &o); err != nil {
		log.Error("dropping a task that does not decode", "err", err)
		return nil
	}
	ev := o.Event
	log = log.With("forge", o.Forge, "repo", ev.Repo.FullName, "pr", ev.Pull.Number, "delivery", ev.DeliveryID, "job", o.JobID)
	forge := r.forge(o.Forge)
	if forge == nil {
		log.Error("dropping a task of a forge this server does not have")
		return nil
	}
	if o.Run != nil {
		if err := o.Run.check(); err != nil {
			log.Error("dropping a task that cannot run", "err", err)
			return nil
		}
	} else if o.Replan != nil {
		log = log.With("replan", o.Replan.Why)
	} else if why, ok := r.Decide(ev); !ok {
		log.Info("dropping a task that needs no work", "why", why)
		return nil
	}
	j := r.newJob(o.JobID, log, forge, ev, c)
	j.operator, j.via, j.refRun, j.replan = o.Operator, o.Via, o.Run, o.Replan
	j.rerun = t.Claims > 1
	j.abandoned = t.Abandoned()
	if j.abandoned >= crashLimit {
		// Not if a run stopped for a store out of reach was counted
		// before it could say so.
		n, err := c.Abandoned(ctx)
		switch {
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case err != nil:
			log.Error("counting the runs of a task again", "err", err)
		default:
			j.abandoned = n
		}
	}
	if id, err := strconv.ParseInt(t.Note, 10, 64); err == nil {
		j.earlier, j.reply.ID = id, id
	}
	if j.rerun {
		log.Warn("running a task again: the worker that took it first did not finish", "claims", t.Claims, "abandoned", j.abandoned)
		if j.answered(ctx) {
			log.Info("not running a task again: its job had answered")
			return nil
		}
	}
	j.phases.add(PhaseQueued, time.Since(t.Enqueued))
	j.started(o)
	if j.run(ctx) {
		if errors.Is(context.Cause(ctx), queue.ErrClaimLost) {
			j.sayPaused(ctx, c.Lapses())
		}
		return context.Cause(ctx)
	}
	return nil
}

// answered reports whether the comment an earlier run of the job posted
// (Task.Note), if any, holds its answer.
func (j *Job) answered(ctx context.Context) bool {
	// Well within the claim, which the job has yet to use.
	ctx, cancel := context.WithTimeout(ctx, j.claim.TTL()/4)
	defer cancel()
	body, ok := j.commentBody(ctx, j.reply.ID)
	return ok && report.Answers(body)
}

// commentBody reads comment id; false when id is 0 or the forge does not
// give it.
func (j *Job) commentBody(ctx context.Context, id int64) (string, bool) {
	if id == 0 {
		return "", false
	}
	c, err := j.Forge.GetComment(ctx, j.Event.Repo, j.Event.Pull.Number, id)
	return c.Body, err == nil
}

// sayPaused tells the pull request that the job stopped because this
// replica lost the job store, when that is what happened: the job runs
// again once the store is back, and edits this comment into its result
// (the comment is noted on the task once the store answers, unless
// another replica took the task over first).
// Once the claim has lapsed (at lapses), another replica may have run the
// job and said its result: then it speaks only over a comment still
// saying the job runs.
func (j *Job) sayPaused(ctx context.Context, lapses time.Time) {
	if !j.onPull() {
		return // its log says it was interrupted
	}
	ctx, cancel := reportContext(ctx)
	defer cancel()
	// The client retries a store it cannot reach until the deadline: while
	// the claim holds, about half the time left goes to the ping (a quarter
	// second at least), the rest to speaking.
	wait := 2 * time.Second
	if left := time.Until(lapses); left > 0 {
		wait = min(wait, max(left/2, 250*time.Millisecond))
	}
	pctx, pcancel := context.WithTimeout(ctx, wait)
	defer pcancel()
	if j.r.ping(pctx) == nil {
		return // only slow: the job runs again, here or elsewhere, and speaks then
	}
	body := fmt.Sprintf(report.PausedMark+" **atoll lost its job store while running this** (job `%s`), and stopped it. It runs again by itself once the store is back.", j.ID)
	id := cmp.Or(j.reply.ID, j.earlier)
	if time.Now().After(lapses) {
		if text, ok := j.commentBody(ctx, id); !ok || !strings.HasPrefix(text, report.RunningMark) {
			j.Log.Warn("not saying the job paused: its claim has lapsed, and another replica may have answered")
			return
		}
	}
	if id != 0 {
		if err := j.Forge.UpdateComment(ctx, j.Event.Repo, j.Event.Pull.Number, id, body); err != nil {
			j.Log.Error("saying the job paused", "err", err)
			return
		}
	} else {
		var err error
		if id, err = j.Forge.Comment(ctx, j.Event.Repo, j.Event.Pull.Number, body); err != nil {
			j.Log.Error("saying the job paused", "err", err)
			return
		}
	}
	// The run that takes the job up again edits this comment into its
	// result, if the store, once back, can tell it which.
	if j.claim != nil {
		j.claim.NoteLater(fmt.Sprint(id))
	}
}
