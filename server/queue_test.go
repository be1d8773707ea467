package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/runner"
)

func TestKeepClaimed(t *testing.T) {
	const ttl = 2 * time.Second
	tests := []struct {
		name string
		// waited is how long before the job began its claim was counted
		// from: the wait for a task (claimWait) and what came after.
		waited time.Duration
		// holder is whom keepClaimed extends the claim for.
		holder    string
		wantCause error
	}{
		{name: "a fresh claim is kept", holder: "w1"},
		{name: "a claim whose task came at the end of a wait is kept", waited: ttl / 8 * 3, holder: "w1"},
		{name: "a claim held by another is given up", holder: "w2", wantCause: errClaimLost},
		{name: "a claim already half gone is given up", waited: ttl / 2, holder: "w1", wantCause: errClaimLost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tasks, err := runner.OpenBoltTasks(filepath.Join(t.TempDir(), "tasks.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tasks.Close() })
			s := &Server{tasks: tasks, claimTTL: ttl}
			ctx := t.Context()
			if _, err := tasks.Enqueue(ctx, "g", []byte("{}")); err != nil {
				t.Fatal(err)
			}
			task, ok, err := tasks.Claim(ctx, "w1", ttl, 0)
			if err != nil || !ok {
				t.Fatalf("claiming the task: ok=%v err=%v", ok, err)
			}

			jobCtx, cancel := context.WithCancelCause(ctx)
			defer cancel(nil)
			stop := s.keepClaimed(jobCtx, slog.New(slog.NewTextHandler(io.Discard, nil)), task, tt.holder, time.Now().Add(-tt.waited), cancel)
			// Longer than the claim's TTL: it lapses unless extended.
			sleep(jobCtx, ttl+ttl/4)
			stop()

			if got := context.Cause(jobCtx); !errors.Is(got, tt.wantCause) {
				t.Fatalf("job stopped with %v, want %v", got, tt.wantCause)
			}
			if tt.wantCause != nil {
				return
			}
			if ok, err := tasks.Extend(ctx, task.ID, "w1", ttl); err != nil || !ok {
				t.Errorf("the job ran past its claim's TTL and the claim lapsed: ok=%v err=%v", ok, err)
			}
		})
	}
}
