package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
)

// A webhook that asks for work is answered once the work is a task in the
// store; workers, here or on another replica, claim tasks and run them.
// A task stays claimed while its job runs (the worker extends the claim);
// one whose replica died goes to another after the claim TTL
// (Config.ClaimTTL). A pull request's
// tasks take turns, in the order their webhooks came.

const (
	// defaultClaimTTL is how long a claimed task stays its worker's
	// without being extended: how soon another replica takes over the
	// work of a dead one.
	defaultClaimTTL = 30 * time.Second
	// maxClaimWait bounds one wait for a task, so that workers notice a
	// shutdown.
	maxClaimWait = time.Second
	// notYourTurn is how long a worker rests after handing back a task
	// whose pull request is busy.
	notYourTurn = 100 * time.Millisecond
)

// Causes of a job's cancellation that are no failure of the job: its
// task goes on, on this replica later or on another.
var (
	errShutdown = errors.New("the server is shutting down")
	// errClaimLost: the claim could not be extended in time, the store
	// being out of reach or slow; errClaimTaken: the store says another
	// worker holds the task now.
	errClaimLost  = errors.New("the task's claim could not be extended in time")
	errClaimTaken = errors.New("the task's claim went to another worker")
)

// taskBody is a queued task: the event and the job id it was given.
type taskBody struct {
	JobID string
	Forge string
	Event vcs.Event
}

// taskGroup names the tasks of one pull request, which take turns.
func taskGroup(forge string, ev vcs.Event) string {
	return fmt.Sprintf("%s/%s#%d", forge, ev.Repo.FullName, ev.Pull.Number)
}

// deliveryWindow is how long a webhook delivery id is remembered: a
// redelivery within it, to any replica, queues nothing.
const deliveryWindow = 24 * time.Hour

// enqueue records the job an event asks for as a task, unless its
// delivery was queued before (the forge delivered it again), and reports
// whether it did. The check and the record are one step: a delivery is
// never half taken.
func (s *Server) enqueue(ctx context.Context, forge vcs.Forge, ev vcs.Event, jobID string) (bool, error) {
	body, err := json.Marshal(taskBody{JobID: jobID, Forge: forge.Name(), Event: ev})
	if err != nil {
		return false, err
	}
	group := taskGroup(forge.Name(), ev)
	if ev.DeliveryID == "" {
		_, err := s.tasks.Enqueue(ctx, group, body)
		return err == nil, err
	}
	_, isNew, err := s.tasks.EnqueueOnce(ctx, forge.Name()+":"+ev.DeliveryID, deliveryWindow, group, body)
	return isNew, err
}

// workers are the goroutines that run tasks.
type workers struct {
	// stopClaiming ends the claim loops; cancelJobs the jobs running.
	stopClaiming context.CancelFunc
	cancelJobs   context.CancelCauseFunc
	wg           sync.WaitGroup
}

// replicaName names this process among the consumers of tasks: unique,
// and telling where it runs.
func replicaName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text()[:8])
}

// startWorkers starts n workers.
func (s *Server) startWorkers(n int) {
	claimCtx, stopClaiming := context.WithCancel(context.Background())
	jobCtx, cancelJobs := context.WithCancelCause(context.Background())
	s.workers.stopClaiming, s.workers.cancelJobs = stopClaiming, cancelJobs
	for i := range n {
		consumer := fmt.Sprintf("%s/%d", s.replica, i)
		s.workers.wg.Go(func() { s.work(claimCtx, jobCtx, consumer) })
	}
}

// stopWorkers stops taking tasks, lets running jobs finish until ctx is
// done, then cancels them (their tasks stay queued) and waits for them.
func (s *Server) stopWorkers(ctx context.Context) {
	s.workers.stopClaiming()
	done := make(chan struct{})
	go func() { s.workers.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.workers.cancelJobs(errShutdown)
		<-done
	}
	s.workers.cancelJobs(errShutdown)
}

// work claims and runs tasks until claimCtx ends; jobs run under jobCtx.
func (s *Server) work(claimCtx, jobCtx context.Context, consumer string) {
	for claimCtx.Err() == nil {
		claimed := time.Now() // the claim is good until then plus the TTL
		t, ok, err := s.tasks.Claim(claimCtx, consumer, s.claimTTL, s.claimWait())
		switch {
		case claimCtx.Err() != nil:
			return
		case err != nil:
			s.log.Error("claiming a task", "err", err)
			sleep(claimCtx, time.Second)
			continue
		case !ok:
			continue
		}
		s.runTask(jobCtx, consumer, t, claimed)
	}
}

// claimWait is how long one Claim waits for a task. A claim is counted
// from before the wait, since the store may make it at any point of it:
// so that a task that comes at the end of a wait is not judged nearly
// lapsed when it begins, a wait is an eighth of the claim's TTL at most.
func (s *Server) claimWait() time.Duration {
	return min(maxClaimWait, s.claimTTL/8)
}

// runTask runs one claimed task, when its pull request's turn has come,
// keeping it claimed meanwhile. The task is done once its job returns,
// unless the job was cancelled by a shutdown (then the task is released,
// for whoever claims next) or lost its claim (then it is left to lapse).
func (s *Server) runTask(ctx context.Context, consumer string, t runner.Task, claimed time.Time) {
	log := s.log.With("task", t.ID, "group", t.Group)
	// Every task waits for its turn, even one to drop: its Done ends the
	// turn, and the group's next task may then run.
	ready, err := s.tasks.Ready(ctx, t)
	if err != nil {
		log.Error("checking the task's turn", "err", err)
		return // the claim lapses, and the task comes back
	}
	if !ready {
		if err := s.tasks.Requeue(ctx, t, consumer); err != nil {
			log.Error("handing back a task", "err", err)
		}
		sleep(ctx, notYourTurn)
		return
	}
	var body taskBody
	if err := json.Unmarshal(t.Body, &body); err != nil {
		log.Error("dropping a task that does not decode", "err", err)
		s.finishTask(ctx, log, t, consumer)
		return
	}
	ev := body.Event
	log = s.log.With("forge", body.Forge, "repo", ev.Repo.FullName, "pr", ev.Pull.Number, "delivery", ev.DeliveryID, "job", body.JobID)
	forge := s.forgeNamed(body.Forge)
	if forge == nil {
		log.Error("dropping a task of a forge this server does not have")
		s.finishTask(ctx, log, t, consumer)
		return
	}
	j, why := s.decide(forge, ev)
	if j == nil {
		log.Info("dropping a task that needs no work", "why", why)
		s.finishTask(ctx, log, t, consumer)
		return
	}
	if t.Claims > 1 {
		log.Warn("running a task again: the worker that took it first did not finish", "claims", t.Claims)
		if asksApply(ev, s.allowedExtra) {
			apply := j
			j = func(ctx context.Context, jc *jobContext) error {
				if answered, err := s.interruptedApply(ctx, jc, forge, ev); answered {
					return err
				}
				return apply(ctx, jc) // the first run never began to apply
			}
		}
	}

	jc := &jobContext{id: body.JobID, log: log, rerun: t.Claims > 1}
	if id, err := strconv.ParseInt(t.Note, 10, 64); err == nil {
		jc.earlier = id
	}
	jc.posted = func(ctx context.Context, commentID int64) {
		if err := s.tasks.Note(ctx, t.ID, consumer, strconv.FormatInt(commentID, 10)); err != nil {
			log.Warn("noting the job's comment on the task", "err", err)
		}
	}
	if jc.rerun && s.answered(ctx, forge, ev.Pull, jc.earlier) {
		// Cut short after it answered, before its task was marked done.
		log.Info("not running a task again: its job had answered")
		s.finishTask(ctx, log, t, consumer)
		return
	}
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	claim := s.keepClaimed(jobCtx, log, t, consumer, claimed, cancel)
	jc.claimSound = claim.sound
	handed := s.runJob(jobCtx, jc, forge, ev.Pull, j)
	lapses := claim.stop()
	if handed {
		log.Info("job stopped; its task stays queued", "why", context.Cause(jobCtx))
		switch cause := context.Cause(jobCtx); {
		case errors.Is(cause, errClaimLost):
			s.sayPaused(ctx, jc, forge, ev.Pull, lapses)
		case errors.Is(cause, errShutdown):
			// Another replica takes it at once, not once the claim lapses.
			rctx, cancel := reportContext(ctx)
			defer cancel()
			if err := s.tasks.Release(rctx, t.ID, consumer); err != nil {
				log.Warn("handing the task back; it waits for its claim to lapse", "err", err)
			}
		}
		return
	}
	s.finishTask(ctx, log, t, consumer)
}

// sayPaused tells the pull request that its job stopped because this
// replica lost the job store, when that is what happened: the job runs
// again once the store is back, and edits this comment into its result.
// Once the claim has lapsed, another replica may have run the job and said
// its result: then it speaks only over a comment still saying the job runs.
func (s *Server) sayPaused(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest, lapses time.Time) {
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
	if s.pingStore(pctx) == nil {
		return // only slow: the job runs again, here or elsewhere, and speaks then
	}
	body := fmt.Sprintf(pausedMark+" **atoll lost its job store while running this** (job `%s`), and stopped it. It runs again by itself once the store is back.", jc.id)
	id := jc.earlier
	if jc.reply != nil && jc.reply.id != 0 {
		id = jc.reply.id
	}
	if time.Now().After(lapses) && !saysRunning(ctx, forge, pull, id) {
		jc.log.Warn("not saying the job paused: its claim has lapsed, and another replica may have answered")
		return
	}
	if id != 0 {
		if err := forge.UpdateComment(ctx, pull.Repo, id, body); err != nil {
			jc.log.Error("saying the job paused", "err", err)
		}
		return
	}
	if _, err := forge.Comment(ctx, pull.Repo, pull.Number, body); err != nil {
		jc.log.Error("saying the job paused", "err", err)
	}
}

// answered reports whether comment id, if any, holds its job's answer:
// not a note that the job runs or paused, nor an internal error, which
// running the job again may better.
func (s *Server) answered(ctx context.Context, forge vcs.Forge, pull vcs.PullRequest, id int64) bool {
	// Before the claim is kept: well within it.
	ctx, cancel := context.WithTimeout(ctx, s.claimTTL/4)
	defer cancel()
	body, ok := commentBody(ctx, forge, pull, id)
	if !ok {
		return false
	}
	for _, unanswered := range []string{runningMark, pausedMark, internalErrorMark} {
		if strings.HasPrefix(body, unanswered) {
			return false
		}
	}
	return true
}

// saysRunning reports whether comment id, if any, still says its job runs.
func saysRunning(ctx context.Context, forge vcs.Forge, pull vcs.PullRequest, id int64) bool {
	body, ok := commentBody(ctx, forge, pull, id)
	return ok && strings.HasPrefix(body, runningMark)
}

// commentBody reads comment id; false when id is 0 or the forge does not
// give it.
func commentBody(ctx context.Context, forge vcs.Forge, pull vcs.PullRequest, id int64) (string, bool) {
	if id == 0 {
		return "", false
	}
	c, err := forge.GetComment(ctx, pull.Repo, id)
	return c.Body, err == nil
}

// keptClaim is a task's claim, kept while its job runs (keepClaimed).
type keptClaim struct {
	ttl     time.Duration
	done    chan struct{} // closed to stop keeping the claim
	stopped chan struct{} // closed once it is no longer kept

	mu   sync.Mutex
	held time.Time // when the claim was last made or extended
}

// keepClaimed extends the claim on t, made at claimed, while its job
// runs, and cancels the job if the claim is lost (cause errClaimTaken), or
// half its time is gone without an extension (errClaimLost): another worker may take the
// task once it lapses, and two must never run it at once; the tool then
// has a quarter of the TTL to stop (runner.Config.StopGrace). It goes on
// extending while a cancelled job winds down, until stop is called.
//
// A claim is extended once an eighth of its TTL has gone by, checked at
// once and then every eighth: one that waited for its task (see
// claimWait) is extended before its job is far along.
func (s *Server) keepClaimed(ctx context.Context, log *slog.Logger, t runner.Task, consumer string, claimed time.Time, cancel context.CancelCauseFunc) *keptClaim {
	ctx = context.WithoutCancel(ctx) // a shutdown stops the job, not its claim
	c := &keptClaim{ttl: s.claimTTL, done: make(chan struct{}), stopped: make(chan struct{}), held: claimed}
	go func() {
		defer close(c.stopped)
		tick := time.NewTicker(s.claimTTL / 8)
		defer tick.Stop()
		for {
			held := c.heldSince()
			left := time.Until(held.Add(s.claimTTL / 2))
			if left <= 0 {
				log.Error("the task's claim could not be extended in time; stopping its job")
				cancel(errClaimLost)
				return
			}
			if time.Since(held) >= s.claimTTL/8 {
				sent := time.Now()
				ectx, ecancel := context.WithTimeout(ctx, min(s.claimTTL/4, left))
				ok, err := s.tasks.Extend(ectx, t.ID, consumer, s.claimTTL)
				ecancel()
				switch {
				case err == nil && ok:
					c.mu.Lock()
					c.held = sent
					c.mu.Unlock()
				case err == nil:
					log.Error("lost the task's claim; stopping its job")
					cancel(errClaimTaken)
					return
				default:
					log.Warn("extending the task's claim", "err", err)
				}
			}
			select {
			case <-c.done:
				return
			case <-tick.C:
			}
		}
	}()
	return c
}

func (c *keptClaim) heldSince() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held
}

// stop stops keeping the claim, and returns when it lapses unless
// extended again.
func (c *keptClaim) stop() (lapses time.Time) {
	close(c.done)
	<-c.stopped
	return c.heldSince().Add(c.ttl)
}

// sound waits, before something that must not be cut short begins (an
// apply), until the claim was extended lately: while extensions fail, it
// may be lost at any moment, and the job with it. It returns ctx's error
// if ctx ends first, as it does when the claim is lost.
func (c *keptClaim) sound(ctx context.Context) error {
	for {
		if time.Since(c.heldSince()) < c.ttl/4 {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(c.ttl / 16):
		}
	}
}

// finishTask marks t done, trying a few times: a task not marked done
// runs again later, which each job is written to bear, but had better not.
func (s *Server) finishTask(ctx context.Context, log *slog.Logger, t runner.Task, consumer string) {
	ctx, cancel := reportContext(ctx)
	defer cancel()
	for try := 1; ; try++ {
		err := s.tasks.Done(ctx, t.ID, consumer)
		if err == nil {
			return
		}
		if errors.Is(err, runner.ErrNotHeld) || try == 5 || ctx.Err() != nil {
			log.Error("marking the task done", "err", err, "tries", try)
			return
		}
		sleep(ctx, time.Duration(try)*200*time.Millisecond)
	}
}

// forgeNamed returns the configured forge called name, or nil.
func (s *Server) forgeNamed(name string) vcs.Forge {
	for _, f := range s.forges {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
