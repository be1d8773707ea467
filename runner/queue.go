package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
)

// ErrQueueFull is returned by Submit when the queue holds as many jobs as
// it can.
var ErrQueueFull = errors.New("job queue is full")

// ErrQueueClosed is returned by Submit after Close.
var ErrQueueClosed = errors.New("job queue is closed")

// Job is work run after the webhook that caused it was answered.
type Job struct {
	// ID names the job in logs and in messages to users.
	ID  string
	Run func(ctx context.Context)
}

// Queue runs jobs on a fixed number of workers. A job that panics is logged
// and the worker goes on. The queue is in memory: jobs still waiting when
// the process stops are lost.
type Queue struct {
	log    *slog.Logger
	jobs   chan Job
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.RWMutex
	closed bool
}

// NewQueue starts workers that run jobs, holding at most capacity waiting.
func NewQueue(log *slog.Logger, workers, capacity int) *Queue {
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{log: log, jobs: make(chan Job, capacity), ctx: ctx, cancel: cancel}
	for range max(workers, 1) {
		q.wg.Add(1)
		go q.work()
	}
	return q
}

// Submit queues j without waiting.
func (q *Queue) Submit(j Job) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrQueueClosed
	}
	select {
	case q.jobs <- j:
		return nil
	default:
		return ErrQueueFull
	}
}

// Close stops taking jobs, lets queued and running ones finish until ctx
// is done, then cancels those still running and waits for them to return.
func (q *Queue) Close(ctx context.Context) {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.jobs)
	}
	q.mu.Unlock()
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		q.cancel()
		<-done
	}
	q.cancel()
}

func (q *Queue) work() {
	defer q.wg.Done()
	for j := range q.jobs {
		q.run(j)
	}
}

func (q *Queue) run(j Job) {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("job panicked", "job", j.ID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	j.Run(q.ctx)
}
