package queue

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// slowClaims is a Store whose Claim returns late, as one that waited for
// its task, or wrote it on a slow disk, does: the pool counts the claim
// from before the call.
type slowClaims struct {
	Store
	delay time.Duration
}

func (s slowClaims) Claim(ctx context.Context, consumer string, ttl, wait time.Duration) (Task, bool, error) {
	t, ok, err := s.Store.Claim(ctx, consumer, ttl, wait)
	if ok {
		time.Sleep(s.delay)
	}
	return t, ok, err
}

// handled is what a test handler saw of its task's claim.
type handled struct {
	start time.Time
	// sound is what Claim.Sound said when the handler began.
	sound error
	// cause is why the handler's context ended, if it did.
	cause error
	// lapses is when the claim lapsed, as the handler ended.
	lapses time.Time
	// extended says whether the pool's consumer could still extend the
	// claim once the handler had run past the claim's TTL.
	extended bool
}

func TestPoolKeepsClaims(t *testing.T) {
	// Long enough that the first extension, an fsync on a busy machine,
	// comes well within the half of the TTL a task may go without one.
	const ttl = 4 * time.Second
	tests := []struct {
		name string
		// delay is how long after the pool counted the claim the handler
		// began: the wait for a task and what came after.
		delay time.Duration
		// steal has another worker take the task as soon as it runs.
		steal     bool
		wantCause error
		// wantSound is what Sound says at once: nil, unless the claim is
		// in doubt and the handler stops.
		wantSound error
	}{
		{name: "a fresh claim is kept"},
		{name: "a claim whose task came at the end of a wait is kept", delay: ttl / 8 * 3},
		{name: "a claim another worker took is given up", steal: true, wantCause: ErrClaimTaken},
		{name: "a claim already half gone is given up", delay: ttl / 2, wantCause: ErrClaimLost, wantSound: ErrClaimLost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store, err := OpenBolt(filepath.Join(t.TempDir(), "tasks.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			if _, err := store.Enqueue(t.Context(), "g", []byte("{}")); err != nil {
				t.Fatal(err)
			}
			const consumer = "r/0" // the pool's only worker
			got := make(chan handled, 1)
			pool := NewPool(PoolConfig{
				Store: slowClaims{store, tt.delay}, ClaimTTL: ttl, Replica: "r",
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Handler: func(ctx context.Context, task Task, c *Claim) error {
					h := handled{start: time.Now(), sound: c.Sound(ctx)}
					if tt.steal {
						if err := store.Release(ctx, task, consumer); err != nil {
							t.Errorf("releasing the task: %v", err)
						}
						if _, ok, err := store.Claim(ctx, "thief", time.Hour, 0); err != nil || !ok {
							t.Errorf("another worker claiming the task: ok=%v err=%v", ok, err)
						}
					}
					// Longer than the claim's TTL: it lapses unless extended.
					sleep(ctx, ttl+ttl/4)
					h.cause, h.lapses = context.Cause(ctx), c.Lapses()
					h.extended, _ = store.Extend(context.WithoutCancel(ctx), task.ID, consumer, ttl)
					got <- h
					return h.cause
				},
			})
			pool.Start()
			var h handled
			select {
			case h = <-got:
			case <-time.After(3 * ttl):
				t.Fatal("the task never ran")
			}
			pool.Stop(t.Context())

			if !errors.Is(h.sound, tt.wantSound) {
				t.Errorf("Sound = %v, want %v", h.sound, tt.wantSound)
			}
			if !errors.Is(h.cause, tt.wantCause) {
				t.Fatalf("handler stopped with %v, want %v", h.cause, tt.wantCause)
			}
			if tt.wantCause != nil {
				// Never extended: the claim lapses a TTL after it was made,
				// before the handler began.
				if latest := h.start.Add(ttl - tt.delay); h.lapses.After(latest) {
					t.Errorf("a claim never extended lapses %v after the handler began, want at most %v", h.lapses.Sub(h.start), ttl-tt.delay)
				}
				return
			}
			if left := h.lapses.Sub(h.start.Add(ttl + ttl/4)); left < ttl/2 {
				t.Errorf("a kept claim lapses %v after the handler's end, want more than half its TTL", left)
			}
			if !h.extended {
				t.Error("the handler ran past its claim's TTL and the claim lapsed")
			}
		})
	}
}

func TestPoolHandsBackOnShutdown(t *testing.T) {
	t.Parallel()
	store, _ := boltWithTask(t, "slow")
	running := make(chan struct{})
	pool := NewPool(PoolConfig{
		Store: store, ClaimTTL: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: func(ctx context.Context, task Task, c *Claim) error {
			close(running)
			<-ctx.Done() // a job that outlasts the shutdown's grace
			return context.Cause(ctx)
		},
	})
	pool.Start()
	<-running
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	pool.Stop(ctx)
	// With an hour's claim TTL, only a task handed back is claimed at once.
	task, ok, err := store.Claim(t.Context(), "another replica", time.Minute, 0)
	if err != nil || !ok || string(task.Body) != "slow" || task.Claims != 2 || task.Abandoned() != 0 {
		t.Fatalf("after the shutdown, another worker claims %+v, ok=%v, err=%v; want the task, claimed twice, released once", task, ok, err)
	}
}

// awayStore is a Store out of reach while away is set.
type awayStore struct {
	Store
	away *atomic.Bool
}

var errAway = errors.New("store out of reach")

func (s awayStore) Extend(ctx context.Context, id, consumer string, ttl time.Duration) (bool, error) {
	if s.away.Load() {
		return false, errAway
	}
	return s.Store.Extend(ctx, id, consumer, ttl)
}

func (s awayStore) Note(ctx context.Context, id, consumer, note string) error {
	if s.away.Load() {
		return errAway
	}
	return s.Store.Note(ctx, id, consumer, note)
}

func (s awayStore) Release(ctx context.Context, t Task, consumer string) error {
	if s.away.Load() {
		return errAway
	}
	return s.Store.Release(ctx, t, consumer)
}

// TestPoolHandsBackWhenTheStoreIsBack: a handler stopped because its
// store went out of reach hands its task back once the store is back,
// with the note it left for then, and the task runs again at once: as a
// run that stopped, not one that crashed.
func TestPoolHandsBackWhenTheStoreIsBack(t *testing.T) {
	t.Parallel()
	bolt, _ := boltWithTask(t, "job")
	away := new(atomic.Bool)
	stopped, again := make(chan error, 1), make(chan Task, 1)
	// Long enough that the task is handed back well before its claim
	// lapses, which would hand it out again too.
	const ttl = 6 * time.Second
	pool := NewPool(PoolConfig{
		Store: awayStore{bolt, away}, ClaimTTL: ttl, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: func(ctx context.Context, task Task, c *Claim) error {
			if task.Claims > 1 {
				again <- task
				return nil
			}
			away.Store(true)
			<-ctx.Done()
			c.NoteLater("paused in comment 7")
			stopped <- context.Cause(ctx)
			return context.Cause(ctx)
		},
	})
	pool.Start()
	defer pool.Stop(t.Context())
	if cause := <-stopped; !errors.Is(cause, ErrClaimLost) {
		t.Fatalf("handler stopped for %v, want ErrClaimLost", cause)
	}
	time.Sleep(ttl / 16) // the pool tries to hand the task back meanwhile
	away.Store(false)
	select {
	case task := <-again:
		if task.Claims != 2 || task.Abandoned() != 0 || task.Note != "paused in comment 7" {
			t.Errorf("run again as %+v; want the task claimed twice, released once, with its note", task)
		}
	case <-time.After(ttl / 2):
		t.Fatal("the task did not run again once the store was back")
	}
}

// boltWithTask is a bolt store, closed when t ends, holding one task of
// body in group g, which it returns too.
func boltWithTask(t *testing.T, body string) (*Bolt, Task) {
	t.Helper()
	b, err := OpenBolt(filepath.Join(t.TempDir(), "tasks.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	task, err := b.Enqueue(t.Context(), "g", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return b, task
}
