package queue

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestTasksReleaseCountedOncePerRun: a Release tried again, its reply
// lost, or sent again after another consumer took the task, counts the
// run it releases once.
func TestTasksReleaseCountedOncePerRun(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		enqueue(t, ts, "job")
		a, _ := claim(t, ts, "a", time.Hour, time.Second)
		for range 2 {
			if err := ts.Release(t.Context(), a, "a"); err != nil {
				t.Fatalf("Release: %v", err)
			}
		}
		b, _ := claim(t, ts, "b", time.Hour, time.Second)
		if b.Claims != 2 || b.Releases != 1 || b.Abandoned() != 0 {
			t.Fatalf("claimed after a release sent twice: %d claims, %d releases; want 2, 1", b.Claims, b.Releases)
		}
		// b's run stops; its release reaches the store twice, the
		// second time after c took the task.
		if err := ts.Release(t.Context(), b, "b"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		c, _ := claim(t, ts, "c", time.Hour, time.Second)
		if err := ts.Release(t.Context(), b, "b"); !errors.Is(err, ErrNotHeld) {
			t.Errorf("Release of a task another took = %v, want ErrNotHeld", err)
		}
		if err := ts.Release(t.Context(), c, "c"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		d, _ := claim(t, ts, "d", time.Hour, time.Second)
		if d.Claims != 4 || d.Releases != 3 || d.Abandoned() != 0 {
			t.Fatalf("claimed after three runs released: %d claims, %d releases; want 4, 3", d.Claims, d.Releases)
		}
	})
}

// TestTasksReleasedLate: a run's release that reaches the store after
// another consumer claimed the task is counted by Released, which the
// new run reads; a run that never says so stays abandoned.
func TestTasksReleasedLate(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		enqueue(t, ts, "job")
		const short = 300 * time.Millisecond
		claim(t, ts, "a", short, time.Second) // a dies
		time.Sleep(short)
		b, _ := claim(t, ts, "b", short, time.Second) // b loses its store
		time.Sleep(short)
		c, ok := claim(t, ts, "c", short, time.Second)
		if !ok || c.Claims != 3 || c.Abandoned() != 2 {
			t.Fatalf("claimed after two lapsed runs: %+v, %v; want 3 claims, 2 abandoned", c, ok)
		}
		if err := ts.Release(t.Context(), b, "b"); !errors.Is(err, ErrNotHeld) {
			t.Errorf("Release of a task another took = %v, want ErrNotHeld", err)
		}
		n, err := ts.Released(t.Context(), c)
		if err != nil || n != 1 {
			t.Fatalf("Released = %d, %v; want b's run, 1", n, err)
		}
		// c's own release is no earlier run of c.
		if err := ts.Release(t.Context(), c, "c"); err != nil {
			t.Fatal(err)
		}
		if n, err := ts.Released(t.Context(), c); err != nil || n != 1 {
			t.Errorf("Released after c's own release = %d, %v; want 1", n, err)
		}
	})
}

// lateRelease is an awayStore that hands out no task while away, and
// refuses releases until a task was claimed again: as when, the store
// back, another worker claims the task before its first worker's next
// try to release it.
type lateRelease struct {
	awayStore
	reclaimed *atomic.Bool
}

func (s lateRelease) Claim(ctx context.Context, consumer string, ttl, wait time.Duration) (Task, bool, error) {
	if s.away.Load() {
		sleep(ctx, wait)
		return Task{}, false, errAway
	}
	t, ok, err := s.Store.Claim(ctx, consumer, ttl, wait)
	if ok && t.Claims > 1 {
		s.reclaimed.Store(true)
	}
	return t, ok, err
}

func (s lateRelease) Release(ctx context.Context, t Task, consumer string) error {
	if !s.reclaimed.Load() {
		return errAway
	}
	return s.awayStore.Release(ctx, t, consumer)
}

// TestPoolOutageIsNoCrash: after an outage longer than the claim TTL,
// another worker may claim the task before the worker that lost it
// releases it, and find that run abandoned at first; Claim.Abandoned,
// read before giving up on a task, counts the late release.
func TestPoolOutageIsNoCrash(t *testing.T) {
	t.Parallel()
	bolt, _ := boltWithTask(t, "job")
	away := new(atomic.Bool)
	type rerun struct {
		task      Task
		abandoned int
		err       error
	}
	again := make(chan rerun, 1)
	const ttl = 2 * time.Second
	pool := NewPool(PoolConfig{
		Store: lateRelease{awayStore{bolt, away}, new(atomic.Bool)}, Workers: 2, ClaimTTL: ttl, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: func(ctx context.Context, task Task, c *Claim) error {
			if task.Claims > 1 {
				n, err := c.Abandoned(ctx)
				again <- rerun{task, n, err}
				return nil
			}
			away.Store(true)
			<-ctx.Done()
			time.AfterFunc(ttl+ttl/2, func() { away.Store(false) }) // the claim lapsed
			return context.Cause(ctx)
		},
	})
	pool.Start()
	defer pool.Stop(t.Context())
	select {
	case r := <-again:
		if r.task.Abandoned() != 1 {
			t.Errorf("claimed again with %d claims, %d releases; want the first run counted as abandoned, not yet released", r.task.Claims, r.task.Releases)
		}
		if r.err != nil || r.abandoned != 0 {
			t.Errorf("run again after an outage (claimed with %d claims, %d releases): Abandoned = %d, %v; want 0",
				r.task.Claims, r.task.Releases, r.abandoned, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the task did not run again")
	}
}

// TestPoolReleasesAClaimLostInShutdown: a claim lost while the pool
// stops, which ends its tries to release, is still released once, so
// the run is counted as stopped, not crashed.
func TestPoolReleasesAClaimLostInShutdown(t *testing.T) {
	t.Parallel()
	bolt, task := boltWithTask(t, "job")
	away := new(atomic.Bool)
	stopped := make(chan struct{})
	var pool *Pool
	pool = NewPool(PoolConfig{
		Store: awayStore{bolt, away}, ClaimTTL: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: func(ctx context.Context, task Task, c *Claim) error {
			go func() { pool.Stop(context.Background()); close(stopped) }()
			away.Store(true)
			<-ctx.Done()
			away.Store(false) // back, once the pool stopped taking tasks
			return context.Cause(ctx)
		},
	})
	pool.Start()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the pool did not stop")
	}
	task.Claims = 2 // the next run
	if n, err := bolt.Released(t.Context(), task); err != nil || n != 1 {
		t.Errorf("Released = %d, %v; want the run whose claim was lost released", n, err)
	}
}

// TestTasksStoppingCountsAndKeeps: Stopping counts a run as released
// and leaves the task held; the Release that may follow counts no more,
// and a Done deletes the task.
func TestTasksStoppingCountsAndKeeps(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		enqueue(t, ts, "job", "next")
		a, _ := claim(t, ts, "a", time.Hour, time.Second)
		for range 2 {
			if err := ts.Stopping(t.Context(), a, "a"); err != nil {
				t.Fatalf("Stopping: %v", err)
			}
		}
		if b, ok := claim(t, ts, "b", time.Hour, 0); !ok || b.ID == a.ID {
			t.Fatalf("Claim after Stopping = %+v, %v; want the next task, the first still held", b, ok)
		}
		if ok, err := ts.Extend(t.Context(), a.ID, "a", time.Hour); err != nil || !ok {
			t.Errorf("Extend after Stopping = %v, %v; want the claim kept", ok, err)
		}
		if err := ts.Release(t.Context(), a, "a"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		c, ok := claim(t, ts, "c", time.Hour, time.Second)
		if !ok || c.ID != a.ID || c.Claims != 2 || c.Releases != 1 {
			t.Fatalf("Claim after Stopping and Release = %+v, %v; want %s claimed twice, released once", c, ok, a.ID)
		}
		if err := ts.Done(t.Context(), c.ID, "c"); err != nil {
			t.Fatal(err)
		}
		if err := ts.Stopping(t.Context(), c, "c"); !errors.Is(err, ErrNotHeld) {
			t.Errorf("Stopping of a task done = %v, want ErrNotHeld", err)
		}
	})
}

// TestPoolCountsRunsStoppedAsItStops: as Stop begins, the runs of the
// tasks running are counted as released, their tasks still held: the
// process may be killed before the handlers stop.
func TestPoolCountsRunsStoppedAsItStops(t *testing.T) {
	t.Parallel()
	bolt, task := boltWithTask(t, "job")
	running, finish := make(chan struct{}), make(chan struct{})
	pool := NewPool(PoolConfig{
		Store: bolt, ClaimTTL: time.Minute, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: func(ctx context.Context, task Task, c *Claim) error {
			close(running)
			<-finish
			return nil
		},
	})
	pool.Start()
	<-running
	stopped := make(chan struct{})
	go func() { pool.Stop(context.Background()); close(stopped) }()
	task.Claims = 2 // the next run, if the process dies now
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := bolt.Released(t.Context(), task)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run was not counted as released as the pool began to stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if other, ok, err := bolt.Claim(t.Context(), "other", time.Minute, 0); err != nil || ok {
		t.Errorf("Claim while the handler runs = %+v, %v, %v; want none", other, ok, err)
	}
	close(finish)
	<-stopped
	if n, err := bolt.Pending(t.Context()); err != nil || n != 0 {
		t.Errorf("Pending after the handler finished = %d, %v; want 0", n, err)
	}
}
