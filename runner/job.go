package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/atoll-iac/atoll/runner/joblog"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// Job is one run of the work an event asks for.
type Job struct {
	// ID names the job in logs and in what it says on the pull request;
	// every run of one task's job has the same.
	ID string
	// Log carries the forge, repository, pull request, delivery and job.
	Log   *slog.Logger
	Forge vcs.Forge
	Event vcs.Event
	// Pull is the pull request: as the event has it until the job fetches
	// it from the forge, whose word it then is.
	Pull vcs.PullRequest
	// User asked for the work: the commenter, or the pull request's
	// author for an autoplan.
	User string

	r *Runner
	// reply is the job's comment; a failure is reported there rather than
	// in a new comment.
	reply *report.Reply
	// rerun is set when an earlier run of the job was cut short: what it
	// finished need not be done again. earlier is the comment that run
	// posted, if any (0): the reply goes there.
	rerun   bool
	earlier int64
	// abandoned counts the earlier runs of the job that never finished
	// nor handed it back: most likely, the job took their server down.
	abandoned int
	// claim keeps the job's task claimed; nil for a job run outside the
	// queue.
	claim *queue.Claim
	// given marks a command given by whoever runs the job (a CI job's
	// configuration) rather than written in a comment: there is no
	// comment to check or mark, only User's right to run it.
	given bool
	// operator, when set, gave the command through atoll's web UI or API
	// (Order.Operator): there is no comment on the forge, and the right
	// to give it was checked where it was given.
	operator string
	via      string
	// refRun, when set, is the work the job does on a commit rather than
	// on a pull request (Order.Run).
	refRun *RefRun
	// replan, when set, is the plan atoll asked for on its own (a turn
	// for a lock, a stale plan), which no one commented (Order.Replan).
	replan *Replan
	// failed is set once the job reports a failure, a refusal included.
	failed bool
	// kind is what the job was asked to do, for its Observer: autoplan,
	// close, a command's name, or comment for a comment that is none.
	kind string
	// output keeps what the job's steps print in its log, as they print
	// it; nil when the runner keeps no job log. projects are those it
	// ran, for its record.
	output   *jobOutput
	projects []string
	// phases is where the job's time went.
	phases phases
	// changes, when set, waits for the forge's list of the files the pull
	// request changes, asked for before it was needed (listChanges).
	changes func() ([]string, error)
	// pending are the forge calls the job makes while it goes on (the
	// statuses of the projects it starts, the list of changed files); it
	// waits for them before its final word, and before it ends.
	pending sync.WaitGroup
}

// reportTimeout bounds the calls that report a job's end to the forge,
// which run even when the job itself was cancelled.
const reportTimeout = 30 * time.Second

// reportContext is for telling the forge how a job ended: it lives on for
// a while after ctx is cancelled, so that a job stopped by a timeout or a
// shutdown still says so.
func reportContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
}

// newJob returns the job id for an event from forge; claim keeps its
// task claimed, nil for a job run outside the queue.
func (r *Runner) newJob(id string, log *slog.Logger, forge vcs.Forge, ev vcs.Event, claim *queue.Claim) *Job {
	j := &Job{ID: id, Log: log, Forge: forge, Event: ev, Pull: ev.Pull, r: r, claim: claim}
	j.reply = j.newReply()
	return j
}

// newReply is a reply on the job's pull request whose new comments are
// noted on the job's task, for a later run should this one be cut short.
func (j *Job) newReply() *report.Reply {
	r := &report.Reply{Forge: j.Forge, Pull: j.Pull, Redact: j.r.redact, Log: j.Log}
	if j.claim != nil {
		r.Noted = func(ctx context.Context, commentID int64) {
			if err := j.claim.Note(ctx, fmt.Sprint(commentID)); err != nil {
				j.Log.Warn("noting the job's comment on the task", "err", err)
			}
		}
	}
	return r
}

// setPull makes pull, fetched from the forge, the job's pull request.
func (j *Job) setPull(pull vcs.PullRequest) {
	j.Pull = pull
	j.reply.Pull = pull
}

// run runs the job under the job timeout and reports what it could not:
// an error for the pull request becomes a comment as is; any other
// becomes a comment naming the job id, with the detail in the log only.
//
// It reports whether the job was handed over: stopped midway for its task
// to run again (queue.HandedOver), rather than done.
func (j *Job) run(ctx context.Context) (handed bool) {
	ctx, cancel := context.WithTimeout(withPhases(ctx, &j.phases), j.r.policy.JobTimeout)
	defer cancel()
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			j.Log.Error("job panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			j.settle()
			j.reportError(ctx, errors.New("panic"))
		}
	}()
	err := j.do(ctx)
	j.settle()
	if err != nil && queue.HandedOver(ctx) {
		// Not the job's failure: its task runs again, and reports then.
		j.Log.Info("job interrupted", "why", context.Cause(ctx), "err", err)
		j.observe(Interrupted, start)
		return true
	}
	outcome := Succeeded
	if err != nil {
		j.reportError(ctx, err)
		outcome = Errored
		if ue := (*userError)(nil); errors.As(err, &ue) {
			outcome = Refused
		}
	} else if j.failed {
		outcome = Failed
	}
	j.observe(outcome, start)
	j.Log.Debug("job done", "elapsed", time.Since(start))
	return false
}

// soon calls fn in the background, as one of the job's pending calls,
// and returns a function that waits for its answer.
func soon[T any](j *Job, fn func() (T, error)) func() (T, error) {
	var v T
	var err error
	done := make(chan struct{})
	j.pending.Go(func() {
		defer close(done)
		v, err = fn()
	})
	return func() (T, error) {
		<-done
		return v, err
	}
}

// settle waits for what the job is telling the forge in the background.
func (j *Job) settle() {
	j.pending.Wait()
	j.reply.Wait()
}

// observe tells the runner's Observer, if any, how the job ended, and
// its log.
func (j *Job) observe(outcome string, start time.Time) {
	if j.r.observer != nil {
		j.r.observer.JobDone(JobEnd{Command: cmp.Or(j.kind, "unknown"), Outcome: outcome, Took: time.Since(start), Phases: j.phases.all()})
	}
	if outcome == Interrupted {
		// Most likely the store is away, or the server stopping: the job
		// must say it paused, or hand its task back, before its claim
		// lapses, not wait on its log. Its record stays "running" until
		// it runs again.
		if j.output != nil {
			go j.output.Close()
		}
		return
	}
	if j.output != nil {
		j.output.Close()
	}
	j.logState(joblog.State(outcome))
}

// do does the work the job's event asks for.
func (j *Job) do(ctx context.Context) error {
	if !j.onPull() {
		return j.runRef(ctx)
	}
	ev := j.Event
	var cmd workflows.Command
	var parseErr error
	if ev.Type == vcs.CommentCreated {
		j.User = ev.Comment.Author
		if j.replan != nil {
			cmd = j.replan.command()
		} else {
			cmd, _, parseErr = workflows.ParseComment(ev.Comment.Body, j.r.policy.AllowedExtraArgs)
		}
	}
	j.kind = jobKind(ev.Type, cmd, parseErr)
	if ev.Type == vcs.CommentCreated && j.rerun && parseErr == nil && cmd.Name == "apply" {
		// First, even after crashes: what may be half applied is never
		// applied again.
		if answered, err := j.interruptedApply(ctx); answered {
			return err
		}
		// The first run never began to apply.
	}
	if j.replan != nil && j.replan.Why == TurnCame {
		// However the job ends, a panic or a give-up included: a turn
		// not taken goes on to the next in line.
		defer func() {
			if !queue.HandedOver(ctx) {
				j.giveBackTurn(ctx)
			}
		}()
	}
	if j.abandoned >= crashLimit {
		return j.giveUp(ctx, cmd)
	}
	err := j.work(ctx, cmd, parseErr)
	if fe := (*workspace.FetchError)(nil); errors.As(err, &fe) && !queue.HandedOver(ctx) {
		return j.fetchFailed(ctx, cmd, fe)
	}
	return err
}

// work runs the command of the job's comment (cmd, which ParseComment
// read with parseErr), or the work of its event.
func (j *Job) work(ctx context.Context, cmd workflows.Command, parseErr error) error {
	switch j.Event.Type {
	case vcs.PullOpened, vcs.PullUpdated, vcs.PullReady:
		return j.autoplan(ctx)
	case vcs.PullClosed:
		return j.close(ctx)
	case vcs.CommentCreated:
		return j.command(ctx, cmd, parseErr)
	}
	return fmt.Errorf("runner: no work for a %s event", j.Event.Type)
}

// jobKind names what a job of an event of type t is asked to do, cmd
// being its comment's command as ParseComment read it, with parseErr.
func jobKind(t vcs.EventType, cmd workflows.Command, parseErr error) string {
	switch {
	case t == vcs.PullClosed:
		return "close"
	case t != vcs.CommentCreated:
		return "autoplan"
	case parseErr != nil || cmd.Name == "":
		return "comment"
	}
	return cmd.Name
}

// reportError says on the pull request that the job failed: as err says
// when it is a *userError, else in a generic message naming the job.
func (j *Job) reportError(ctx context.Context, err error) {
	j.failed = true
	var ue *userError
	var body string
	if errors.As(err, &ue) {
		j.Log.Info("job refused", "reason", ue.msg, "err", ue.err)
		body = ue.msg
	} else {
		j.Log.Error("job failed", "err", err)
		body = fmt.Sprintf(report.InternalErrorMark+" and stopped (job `%s`). The server's log has the details.", j.ID)
	}
	if !j.onPull() {
		j.say(body)
		return
	}
	ctx, cancel := reportContext(ctx)
	defer cancel()
	if _, cerr := j.reply.Finish(ctx, body); cerr != nil {
		j.Log.Error("reporting job failure", "err", cerr)
	}
}

// userError is an error whose message is written for the people on the
// pull request and shown to them as is: a refusal, or a mistake in what
// the pull request holds. err, when set, is its cause, for the log only.
type userError struct {
	msg string
	err error
}

func (e *userError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *userError) Unwrap() error { return e.err }

// userErrorf returns a userError whose message is formatted.
func userErrorf(format string, args ...any) error {
	return &userError{msg: fmt.Sprintf(format, args...)}
}
