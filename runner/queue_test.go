package runner

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

func TestQueueSurvivesPanicAndDrains(t *testing.T) {
	t.Parallel()
	q := NewQueue(slog.New(slog.NewTextHandler(io.Discard, nil)), 2, 10)
	var ran atomic.Int32
	if err := q.Submit(Job{ID: "boom", Run: func(context.Context) { panic("boom") }}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := q.Submit(Job{ID: "ok", Run: func(context.Context) { ran.Add(1) }}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q.Close(ctx)
	if ran.Load() != 5 {
		t.Errorf("ran %d jobs after a panic, want 5", ran.Load())
	}
	if err := q.Submit(Job{Run: func(context.Context) {}}); err != ErrQueueClosed {
		t.Errorf("Submit after Close = %v", err)
	}
}

func TestQueueFullAndCancel(t *testing.T) {
	t.Parallel()
	q := NewQueue(slog.New(slog.NewTextHandler(io.Discard, nil)), 1, 1)
	started := make(chan struct{})
	cancelled := make(chan struct{})
	q.Submit(Job{Run: func(ctx context.Context) { close(started); <-ctx.Done(); close(cancelled) }})
	<-started
	if err := q.Submit(Job{Run: func(context.Context) {}}); err != nil {
		t.Fatal(err)
	}
	if err := q.Submit(Job{Run: func(context.Context) {}}); err != ErrQueueFull {
		t.Errorf("third job: %v, want ErrQueueFull", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	q.Close(ctx)
	select {
	case <-cancelled:
	default:
		t.Error("running job was not cancelled when Close's context ended")
	}
}
