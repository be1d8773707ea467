package queue

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Claim is a worker's hold on a task, kept while the task's handler runs.
type Claim struct {
	store    Store
	task     Task
	consumer string
	ttl      time.Duration
	// grace is how long a worker whose claim on the task was lost may
	// take to release it once the store is back (Abandoned).
	grace   time.Duration
	done    chan struct{} // closed to stop keeping the claim
	stopped chan struct{} // closed once it is no longer kept

	mu   sync.Mutex
	held time.Time // when the claim was last made or extended
	// later is a note to record once the store answers again (NoteLater).
	later string
}

// keep extends the claim on t, made at claimed, while its handler runs,
// and cancels the handler if the claim is lost (cause ErrClaimTaken), or
// half its time is gone without an extension (ErrClaimLost): another
// worker may take the task once it lapses, and two must never run it at
// once; the handler then has the rest of the TTL to stop. It goes on
// extending while a cancelled handler winds down, until stop is called.
//
// A claim is extended once an eighth of its TTL has gone by, checked at
// once and then every eighth: one that waited for its task (see
// claimWait) is extended before its handler is far along.
func (p *Pool) keep(ctx context.Context, log *slog.Logger, t Task, consumer string, claimed time.Time, cancel context.CancelCauseFunc) *Claim {
	ctx = context.WithoutCancel(ctx) // a shutdown stops the handler, not its claim
	c := &Claim{store: p.store, task: t, consumer: consumer, ttl: p.ttl, grace: 3 * p.releaseWait(), done: make(chan struct{}), stopped: make(chan struct{}), held: claimed}
	go func() {
		defer close(c.stopped)
		tick := time.NewTicker(c.ttl / 8)
		defer tick.Stop()
		for {
			if cause := c.extend(ctx, log); cause != nil {
				cancel(cause)
				return
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

// extend extends the claim when an eighth of its TTL has gone by since it
// was last extended. It returns why the handler must stop, or nil.
func (c *Claim) extend(ctx context.Context, log *slog.Logger) error {
	held := c.heldSince()
	left := time.Until(held.Add(c.ttl / 2))
	if left <= 0 {
		log.Error("the task's claim could not be extended in time; stopping its job")
		return ErrClaimLost
	}
	if time.Since(held) < c.ttl/8 {
		return nil
	}
	sent := time.Now()
	ectx, cancel := context.WithTimeout(ctx, min(c.ttl/4, left))
	ok, err := c.store.Extend(ectx, c.task.ID, c.consumer, c.ttl)
	cancel()
	switch {
	case err != nil:
		log.Warn("extending the task's claim", "err", err)
	case !ok:
		log.Error("lost the task's claim; stopping its job")
		return ErrClaimTaken
	default:
		c.mu.Lock()
		c.held = sent
		c.mu.Unlock()
	}
	return nil
}

func (c *Claim) heldSince() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held
}

// stop stops keeping the claim.
func (c *Claim) stop() {
	close(c.done)
	<-c.stopped
}

// Lapses is when the claim lapses unless it is extended again. Once the
// handler was stopped for a lost claim (ErrClaimLost), it is final.
func (c *Claim) Lapses() time.Time { return c.heldSince().Add(c.ttl) }

// TTL is how long the claim lasts without being extended.
func (c *Claim) TTL() time.Duration { return c.ttl }

// Sound waits, before something that must not be cut short begins (an
// apply), until the claim was extended lately: while extensions fail, it
// may be lost at any moment, and the handler with it. It returns ctx's
// cause if ctx ends first, as it does when the claim is lost.
func (c *Claim) Sound(ctx context.Context) error {
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

// Abandoned counts the earlier runs of the task that were abandoned
// (Task.Abandoned), as the store has it once a run stopped for a lost
// claim has had time to say so. Such a run's worker releases the task
// once its store is back, and tries every few seconds; another worker
// may have claimed the task first, and counted that run as abandoned.
// So Abandoned waits that long, a few seconds (ctx's cause if ctx ends
// first), and reads the task's releases again: call it before acting on
// Task.Abandoned, not for every run.
func (c *Claim) Abandoned(ctx context.Context) (int, error) {
	sleep(ctx, c.grace)
	if ctx.Err() != nil {
		return 0, context.Cause(ctx)
	}
	n, err := c.store.Released(ctx, c.task)
	if err != nil {
		return 0, err
	}
	t := c.task
	t.Releases = n
	return t.Abandoned(), nil
}

// Note records note on the task, for a later run of it should this one
// be cut short (Task.Note).
func (c *Claim) Note(ctx context.Context, note string) error {
	return c.store.Note(ctx, c.task.ID, c.consumer, note)
}

// NoteLater records note on the task once the store answers again, before
// the task is handed back: for a handler stopped because its claim could
// not be kept (ErrClaimLost), whose store is out of reach now. Should
// another worker take the task over first, the note is lost.
func (c *Claim) NoteLater(note string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.later = note
}

// laterNote is the note NoteLater left, if any.
func (c *Claim) laterNote() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.later
}
