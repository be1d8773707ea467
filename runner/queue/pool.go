package queue

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// A webhook that asks for work is answered once the work is a task in the
// store; a Pool's workers, here or on another replica, claim tasks and
// run them. A task stays claimed while its handler runs (the pool extends
// the claim); one whose replica died goes to another after the claim TTL.
// A group's tasks take turns, in the order they were enqueued.

const (
	// DefaultClaimTTL is how long a claimed task stays its worker's
	// without being extended: how soon another replica takes over the
	// work of a dead one.
	DefaultClaimTTL = 30 * time.Second
	// maxClaimWait bounds one wait for a task, so that workers notice a
	// shutdown.
	maxClaimWait = time.Second
	// notYourTurn is how long a worker rests after handing back a task
	// whose group is busy.
	notYourTurn = 100 * time.Millisecond
	// doneTimeout bounds the calls that mark a task done or hand it back,
	// which run even when its handler was cancelled.
	doneTimeout = 30 * time.Second
	// maxReleaseWait bounds the wait between tries to hand back a task
	// whose claim was lost to a store out of reach, and each try.
	maxReleaseWait = 5 * time.Second
)

// Causes of a handler's cancellation that are no failure of its job: its
// task goes on, on this replica later or on another.
var (
	// ErrShutdown: the pool is stopping.
	ErrShutdown = errors.New("queue: the server is shutting down")
	// ErrClaimLost: the claim could not be extended in time, the store
	// being out of reach or slow.
	ErrClaimLost = errors.New("queue: the task's claim could not be extended in time")
	// ErrClaimTaken: the store says another worker holds the task now.
	ErrClaimTaken = errors.New("queue: the task's claim went to another worker")
)

// HandedOver reports whether the handler of ctx was stopped for its task
// to run again later, here or on another replica: the pool shuts down, or
// the claim on the task was lost. Such a handler reports nothing; the next
// run does.
func HandedOver(ctx context.Context) bool {
	cause := context.Cause(ctx)
	return errors.Is(cause, ErrShutdown) || errors.Is(cause, ErrClaimLost) || errors.Is(cause, ErrClaimTaken)
}

// A Handler runs the job of task t, which c keeps claimed meanwhile. It
// returns nil once the task is done with, whatever its job did; an error
// leaves the task queued, to run again: at once when the pool shuts down
// (ErrShutdown), else once its claim lapses.
type Handler func(ctx context.Context, t Task, c *Claim) error

// PoolConfig configures a Pool. Store and Handler are required.
type PoolConfig struct {
	Store   Store
	Handler Handler
	// Workers is how many tasks run at once; 1 when zero.
	Workers int
	// ClaimTTL is how long a task stays claimed without being extended;
	// DefaultClaimTTL when zero. Every replica should use the same.
	ClaimTTL time.Duration
	// Replica names this process among the store's consumers; a name
	// made of the host, the process id and a random part when "".
	Replica string
	// Logger receives the pool's logs; slog.Default() when nil.
	Logger *slog.Logger
}

// Pool is a set of workers that claim tasks from a Store and run them.
// Nothing runs until Start.
type Pool struct {
	store   Store
	handle  Handler
	workers int
	ttl     time.Duration
	replica string
	log     *slog.Logger

	// stopClaiming ends the claim loops; cancelJobs the handlers running.
	stopClaiming context.CancelFunc
	cancelJobs   context.CancelCauseFunc
	wg           sync.WaitGroup

	mu sync.Mutex
	// running holds the task each worker's handler runs, by consumer.
	running map[string]Task
	// stopping is set once Stop begins.
	stopping bool
}

// NewPool returns a pool for cfg; Start starts it.
func NewPool(cfg PoolConfig) *Pool {
	return &Pool{
		store:   cfg.Store,
		handle:  cfg.Handler,
		workers: max(cfg.Workers, 1),
		ttl:     cmp.Or(cfg.ClaimTTL, DefaultClaimTTL),
		replica: cmp.Or(cfg.Replica, replicaName()),
		log:     cmp.Or(cfg.Logger, slog.Default()),
		running: map[string]Task{},
	}
}

// replicaName names this process among the consumers of tasks: unique,
// and telling where it runs.
func replicaName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text()[:8])
}

// Start starts the workers. Call it once.
func (p *Pool) Start() {
	claimCtx, stopClaiming := context.WithCancel(context.Background())
	jobCtx, cancelJobs := context.WithCancelCause(context.Background())
	p.stopClaiming, p.cancelJobs = stopClaiming, cancelJobs
	for i := range p.workers {
		consumer := fmt.Sprintf("%s/%d", p.replica, i)
		p.wg.Go(func() { p.work(claimCtx, jobCtx, consumer) })
	}
}

// Stop stops taking tasks at once, lets running handlers finish until ctx
// is done, then cancels them with ErrShutdown (their tasks stay queued)
// and waits for them.
//
// The runs of the tasks running are counted as released as Stop begins
// (Store.Stopping): the process may be killed before they finish or are
// handed back, as an orchestrator does when its grace period is shorter
// than ctx, and such a run was stopped, not crashed (Task.Abandoned). A
// run that crashes its server while it shuts down is not counted then.
func (p *Pool) Stop(ctx context.Context) {
	if p.stopClaiming == nil {
		return // never started
	}
	p.stopClaiming()
	p.mu.Lock()
	p.stopping = true
	for consumer, t := range p.running {
		p.wg.Go(func() { p.markStopping(consumer, t) })
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.cancelJobs(ErrShutdown)
		<-done
	}
	p.cancelJobs(ErrShutdown)
}

// work claims and runs tasks until claimCtx ends; handlers run under
// jobCtx.
func (p *Pool) work(claimCtx, jobCtx context.Context, consumer string) {
	for claimCtx.Err() == nil {
		claimed := time.Now() // the claim is good until then plus the TTL
		t, ok, err := p.store.Claim(claimCtx, consumer, p.ttl, p.claimWait())
		switch {
		case claimCtx.Err() != nil:
			return
		case err != nil:
			p.log.Error("claiming a task", "err", err)
			sleep(claimCtx, time.Second)
			continue
		case !ok:
			continue
		}
		p.run(claimCtx, jobCtx, consumer, t, claimed)
	}
}

// claimWait is how long one Claim waits for a task. A claim is counted
// from before the wait, since the store may make it at any point of it:
// so that a task that comes at the end of a wait is not judged nearly
// lapsed when it begins, a wait is an eighth of the claim's TTL at most.
func (p *Pool) claimWait() time.Duration {
	return min(maxClaimWait, p.ttl/8)
}

// run runs one claimed task, when its group's turn has come, keeping it
// claimed meanwhile; handlers run under ctx, and claimCtx ends when the
// pool stops taking tasks. The task is done once its handler returns nil;
// else it is released, for whoever claims next, when the handler was
// stopped for it to run again (HandedOver), or left for its claim to
// lapse.
func (p *Pool) run(claimCtx, ctx context.Context, consumer string, t Task, claimed time.Time) {
	log := p.log.With("task", t.ID, "group", t.Group)
	// Every task waits for its turn, even one to drop: its Done ends the
	// turn, and the group's next task may then run.
	ready, err := p.store.Ready(ctx, t)
	if err != nil {
		log.Error("checking the task's turn", "err", err)
		p.release(claimCtx, log, t, consumer, ErrClaimLost, "") // a store that fails may be out of reach
		return
	}
	if !ready {
		if err := p.store.Requeue(ctx, t, consumer); err != nil {
			log.Error("handing back a task", "err", err)
			p.release(claimCtx, log, t, consumer, ErrClaimLost, "")
		}
		sleep(ctx, notYourTurn)
		return
	}
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	claim := p.keep(jobCtx, log, t, consumer, claimed, cancel)
	p.begin(consumer, t)
	err = p.handle(jobCtx, t, claim)
	p.end(consumer)
	claim.stop()
	if err == nil {
		p.finish(ctx, log, t, consumer)
		return
	}
	log.Info("task stays queued", "why", context.Cause(jobCtx), "err", err)
	if HandedOver(jobCtx) {
		p.release(claimCtx, log, t, consumer, context.Cause(jobCtx), claim.laterNote())
	}
}

// release hands back t, whose handler stopped for cause: another worker
// takes it at once, not once the claim lapses, and the store counts a run
// that stopped on purpose, which a crash is not (Task.Abandoned). note,
// when set, is recorded on the task first (Claim.NoteLater). When the
// claim was lost to a store out of reach, it tries until the store
// answers, or the pool stops taking tasks: a worker has nothing else to
// do while its store is away. It tries once even when the pool has
// stopped taking tasks already: a claim lost as the server shuts down is
// a run stopped, not one that crashed.
func (p *Pool) release(claimCtx context.Context, log *slog.Logger, t Task, consumer string, cause error, note string) {
	if !errors.Is(cause, ErrClaimLost) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(claimCtx), doneTimeout)
		defer cancel()
		if err := p.handBack(ctx, log, t, consumer, &note); err != nil && !errors.Is(err, ErrNotHeld) {
			log.Warn("handing the task back; it waits for its claim to lapse", "err", err)
		}
		return
	}
	// Each try is bounded too, so that a release lands within a few
	// releaseWaits of the store coming back (Claim.Abandoned waits that
	// long).
	tryCtx := context.WithoutCancel(claimCtx) // the first try; then claimCtx
	for wait := p.ttl / 8; ; wait = min(2*wait, p.releaseWait()) {
		ctx, cancel := context.WithTimeout(tryCtx, p.releaseWait())
		tryCtx = claimCtx
		err := p.handBack(ctx, log, t, consumer, &note)
		cancel()
		switch {
		case err == nil:
			return
		case errors.Is(err, ErrNotHeld):
			log.Info("released a task another worker holds now")
			return
		case claimCtx.Err() != nil:
			log.Warn("handing the task back; it waits for its claim to lapse", "err", err)
			return
		}
		sleep(claimCtx, wait)
	}
}

// releaseWait bounds each try to release a task whose claim was lost,
// and the wait between tries.
func (p *Pool) releaseWait() time.Duration {
	return min(maxReleaseWait, p.ttl/4)
}

// begin records that consumer's handler runs t, for Stop; once Stop has
// begun, it counts the run as released at once, as Stop does the others.
func (p *Pool) begin(consumer string, t Task) {
	p.mu.Lock()
	p.running[consumer] = t
	stopping := p.stopping
	p.mu.Unlock()
	if stopping {
		p.markStopping(consumer, t)
	}
}

// end records that consumer's handler returned.
func (p *Pool) end(consumer string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, consumer)
}

// markStopping counts the run of t, which consumer holds, as released,
// keeping it held, when the pool begins to stop (Store.Stopping).
func (p *Pool) markStopping(consumer string, t Task) {
	ctx, cancel := context.WithTimeout(context.Background(), p.releaseWait())
	defer cancel()
	if err := p.store.Stopping(ctx, t, consumer); err != nil && !errors.Is(err, ErrNotHeld) {
		p.log.Warn("counting a run the shutdown stops", "task", t.ID, "group", t.Group, "err", err)
	}
}

// finish marks t done, trying a few times: a task not marked done runs
// again later, which each handler is written to bear, but had better not.
func (p *Pool) finish(ctx context.Context, log *slog.Logger, t Task, consumer string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), doneTimeout)
	defer cancel()
	for try := 1; ; try++ {
		err := p.store.Done(ctx, t.ID, consumer)
		if err == nil {
			return
		}
		if errors.Is(err, ErrNotHeld) || try == 5 || ctx.Err() != nil {
			log.Error("marking the task done", "err", err, "tries", try)
			return
		}
		sleep(ctx, time.Duration(try)*200*time.Millisecond)
	}
}

// handBack records *note on task t, unless it is "", and releases the
// task. The note is cleared once recorded, or refused for a task another
// worker holds, so that a caller trying again does not record it twice.
func (p *Pool) handBack(ctx context.Context, log *slog.Logger, t Task, consumer string, note *string) error {
	if *note != "" {
		err := p.store.Note(ctx, t.ID, consumer, *note)
		switch {
		case errors.Is(err, ErrNotHeld):
			log.Warn("not noting on a task another worker holds now")
		case err != nil:
			return err
		}
		*note = ""
	}
	return p.store.Release(ctx, t, consumer)
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
