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
	// Long enough that the first extension, an fsync on a busy machine,
	// comes well within the half of the TTL a job may go without one.
	const ttl = 4 * time.Second
	tests := []struct {
		name string
		// waited is how long before the job began its claim was counted
		// from: the wait for a task (claimWait) and what came after.
		waited time.Duration
		// holder is whom keepClaimed extends the claim for.
		holder    string
		wantCause error
		// wantSound is what the claim's sound says at once: nil, unless the
		// claim is in doubt and the job stops.
		wantSound error
	}{
		{name: "a fresh claim is kept", holder: "w1"},
		{name: "a claim whose task came at the end of a wait is kept", waited: ttl / 8 * 3, holder: "w1"},
		{name: "a claim held by another is given up", holder: "w2", wantCause: errClaimTaken},
		{name: "a claim already half gone is given up", waited: ttl / 2, holder: "w1", wantCause: errClaimLost, wantSound: errClaimLost},
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
			claim := s.keepClaimed(jobCtx, slog.New(slog.NewTextHandler(io.Discard, nil)), task, tt.holder, claimed, cancel)
			if err := claim.sound(jobCtx); !errors.Is(err, tt.wantSound) {
				t.Errorf("sound = %v, want %v", err, tt.wantSound)
			}
			// Longer than the claim's TTL: it lapses unless extended.
			sleep(jobCtx, ttl+ttl/4)
			lapses := claim.stop()

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
	pull := vcs.PullRequest{Repo: vcs.Repo{FullName: pr.Repo}, Number: pr.Number}
	jc := &jobContext{id: "j1", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	lapsed, holds := time.Now().Add(-time.Second), time.Now().Add(time.Minute)
	body := func(id int64) string {
		c, err := forge.GetComment(t.Context(), pull.Repo, id)
		if err != nil {
			t.Fatal(err)
		}
		return c.Body
	}

	// Once the claim has lapsed, another replica may have run the job:
	// no new comment, and none over its result.
	e.server.sayPaused(t.Context(), jc, forge, pull, lapsed)
	if cs := e.gh.Comments(pr.Repo, pr.Number); len(cs) != 0 {
		t.Fatalf("a lapsed claim's job said it paused in a new comment: %+v", cs)
	}
	id, err := forge.Comment(t.Context(), pull.Repo, pull.Number, "**Plan** of the replica that took the job over")
	if err != nil {
		t.Fatal(err)
	}
	jc.earlier = id
	e.server.sayPaused(t.Context(), jc, forge, pull, lapsed)
	if got := body(id); strings.HasPrefix(got, "⏸️") {
		t.Fatalf("a lapsed claim's job said it paused over a result: %q", got)
	}
	// Over a comment that still says the job runs, it may speak.
	if err := forge.UpdateComment(t.Context(), pull.Repo, id, "⏳ Running plan for this pull request's projects…"); err != nil {
		t.Fatal(err)
	}
	e.server.sayPaused(t.Context(), jc, forge, pull, lapsed)
	if got := body(id); !strings.HasPrefix(got, "⏸️") {
		t.Fatalf("the running comment of a lapsed claim's job = %q, want it paused", got)
	}
	// While the claim holds, it says so, in a new comment if it has none.
	jc.earlier = 0
	e.server.sayPaused(t.Context(), jc, forge, pull, holds)
	if cs := e.gh.Comments(pr.Repo, pr.Number); len(cs) != 2 || !strings.HasPrefix(cs[1].Body, "⏸️") {
		t.Fatalf("while the claim holds, want a new paused comment, got %+v", cs)
	}
}
