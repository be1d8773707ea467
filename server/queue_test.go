package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/vcstest"
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
			claimed := time.Now().Add(-tt.waited)
			stop := s.keepClaimed(jobCtx, slog.New(slog.NewTextHandler(io.Discard, nil)), task, tt.holder, claimed, cancel)
			// Longer than the claim's TTL: it lapses unless extended.
			sleep(jobCtx, ttl+ttl/4)
			lapses := stop()

			if got := context.Cause(jobCtx); !errors.Is(got, tt.wantCause) {
				t.Fatalf("job stopped with %v, want %v", got, tt.wantCause)
			}
			if tt.wantCause != nil {
				// Never extended: the claim lapses a TTL after it was made.
				if !lapses.Equal(claimed.Add(ttl)) {
					t.Errorf("a claim never extended lapses %v after it was made, want %v", lapses.Sub(claimed), ttl)
				}
				return
			}
			if left := time.Until(lapses); left < ttl/2 {
				t.Errorf("a kept claim lapses in %v, want more than half its TTL", left)
			}
			if ok, err := tasks.Extend(ctx, task.ID, "w1", ttl); err != nil || !ok {
				t.Errorf("the job ran past its claim's TTL and the claim lapsed: ok=%v err=%v", ok, err)
			}
		})
	}
}

func TestSayPausedOnlyWhileTheClaimHolds(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	// No job runs on this server: nothing else reads pingStore meanwhile.
	e.server.pingStore = func(context.Context) error { return errors.New("store unreachable") }
	forge := e.server.forgeNamed("github")
	jc := &jobContext{id: "j1", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	pull := vcs.PullRequest{Repo: vcs.Repo{FullName: pr.Repo}, Number: pr.Number}

	// Once the claim has lapsed, another replica may have run the job and
	// said its result: nothing is said over it.
	e.server.sayPaused(t.Context(), jc, forge, pull, time.Now().Add(-time.Second))
	if cs := e.gh.Comments(pr.Repo, pr.Number); len(cs) != 0 {
		t.Fatalf("said the job paused after its claim lapsed: %+v", cs)
	}
	e.server.sayPaused(t.Context(), jc, forge, pull, time.Now().Add(time.Minute))
	if cs := e.gh.Comments(pr.Repo, pr.Number); len(cs) != 1 || !strings.HasPrefix(cs[0].Body, "⏸️") {
		t.Fatalf("while the claim holds, want one paused comment, got %+v", cs)
	}
}
