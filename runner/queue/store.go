// Package queue owns the durable queue that runs work after a webhook is
// answered: tasks recorded in a Store (bbolt for one process, a Redis
// stream for replicas) before anything runs them, and a Pool of workers
// that claim tasks, keep their claims while they run, and let a dead
// replica's tasks go to another. Task bodies are opaque here: the job
// layer encodes and runs them.
package queue

import (
	"context"
	"errors"
	"time"
)

// Task is a unit of work recorded in a Store before anything runs it,
// so that a restart or a dead replica loses nothing.
type Task struct {
	// ID is set by the store; tasks are claimed in the order of their ids.
	ID string
	// Group names tasks that must run one after the other, in the order
	// they were enqueued (a pull request's); Turn is the task's place in
	// its group, from 1.
	Group string
	Turn  int64
	// Body says what to run, for the caller to decode.
	Body []byte
	// Enqueued is when the task was recorded.
	Enqueued time.Time
	// Claims counts the times the task was handed out, this one included:
	// more than one means a consumer took it before and did not finish.
	// A task handed back before it ran, its turn not come (Requeue), is
	// not counted.
	Claims int
	// Releases counts the earlier runs of the task (claims) whose
	// consumer let go of it unfinished on purpose (Release): its server
	// shutting down, or its claim lost to a store out of reach. Those
	// runs were stopped, not crashed.
	Releases int
	// Note is what a consumer that held the task noted of its progress
	// (Note), for the one that runs it again.
	Note string
}

// Abandoned counts the earlier runs of the task that ended with no word
// to the store: neither done nor released, their claim simply lapsed, or
// their process was gone when the store opened again. Their process
// died (killed, out of memory, crashed) or hung until it lost the claim,
// most likely while running the task: one that takes its server down
// every time is abandoned every time.
func (t Task) Abandoned() int { return max(t.Claims-1-t.Releases, 0) }

// Mark is a value kept under a key for a while, beside the queue: what
// has been queued already (a comment, the state of a pull request), or
// how far a poller has read. A mark lapses TTL after it was last set.
// Value is never empty.
type Mark struct {
	Key, Value string
	TTL        time.Duration
	// Order, when not 0, ranks the values of a key: one with a lower
	// Order than the value held is older news, which EnqueueOnce
	// refuses as it refuses the value held.
	Order int64
}

// Store is a durable queue of tasks shared by consumers, each of
// which holds the tasks it claimed for a while (a visibility timeout):
// one whose holder stops extending it goes to another consumer. Within a
// group, tasks take turns: a consumer runs a task once Ready says its
// turn has come, and hands it back with Requeue until then; Done ends the
// turn. Implementations are safe for concurrent use, and of any consumers
// claiming at once, each task goes to one.
type Store interface {
	// Enqueue records a task of group with body and returns it.
	Enqueue(ctx context.Context, group string, body []byte) (Task, error)
	// EnqueueOnce is Enqueue unless m.Key holds m.Value already, or a
	// value of a higher Order, in which case it records nothing and
	// reports false; otherwise it sets m and records the task. Both
	// happen at once, or neither.
	EnqueueOnce(ctx context.Context, m Mark, group string, body []byte) (Task, bool, error)
	// SetMark sets m, whatever its key held.
	SetMark(ctx context.Context, m Mark) error
	// Marked returns the value key holds: "" when it holds none, or its
	// mark lapsed.
	Marked(ctx context.Context, key string) (string, error)
	// Ready reports whether the tasks of t's group before it are done.
	Ready(ctx context.Context, t Task) (bool, error)
	// Requeue hands task t, which consumer holds, back to the end of the
	// queue, with its turn and without counting this claim.
	Requeue(ctx context.Context, t Task, consumer string) error
	// Release lets go of task t, which consumer holds, for any consumer
	// to claim at once, as if the claim had lapsed: its claims and note
	// stay, for the run that takes it next, and the release of t's run
	// (the claim t.Claims) is counted (Task.Releases), once however many
	// times it is called for that run. A claim that lapsed with no one
	// taking the task since is still the consumer's to release. When
	// another took it meanwhile, the release is counted all the same, the
	// consumer's run having stopped on purpose, and ErrNotHeld returned;
	// so it is when the task is gone.
	Release(ctx context.Context, t Task, consumer string) error
	// Stopping counts the run of task t (the claim t.Claims), which
	// consumer holds, as released (Task.Releases) ahead of its Release,
	// and keeps it held: for a server beginning to shut down, which may
	// be killed before its runs finish or are handed back. A Release of
	// the run that follows counts it no more. ErrNotHeld when consumer
	// does not hold the task (the run is counted all the same), or it is
	// gone.
	Stopping(ctx context.Context, t Task, consumer string) error
	// Released counts the runs of task t before the one that claimed
	// it as t (claims below t.Claims) that were released: Task.Releases
	// as it stands now, a release that came late included. ErrNotHeld
	// when the task is gone.
	Released(ctx context.Context, t Task) (int, error)
	// Claim hands consumer, for ttl, a task: one whose holder let its
	// claim lapse, else the oldest no one holds. It waits up to wait for
	// one; ok is false when there was none.
	Claim(ctx context.Context, consumer string, ttl, wait time.Duration) (t Task, ok bool, err error)
	// Extend keeps consumer's claim on task id for ttl from now; false
	// when consumer no longer holds it.
	Extend(ctx context.Context, id, consumer string, ttl time.Duration) (bool, error)
	// Done removes task id, which consumer holds, and ends its turn;
	// ErrNotHeld when consumer does not hold it.
	Done(ctx context.Context, id, consumer string) error
	// Note records note on task id, which consumer holds: Claim hands it
	// out with the task, should the task run again. ErrNotHeld when
	// consumer does not hold it.
	Note(ctx context.Context, id, consumer, note string) error
	// Pending counts the tasks recorded and not done.
	Pending(ctx context.Context) (int, error)
	// Oldest returns when the oldest task not done was recorded; ok is
	// false when there is none.
	Oldest(ctx context.Context) (enqueued time.Time, ok bool, err error)
}

// ErrNotHeld is returned for a task the consumer does not hold (any
// more).
var ErrNotHeld = errors.New("queue: task not held by this consumer")
