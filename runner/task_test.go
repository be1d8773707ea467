package runner

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/runner/tool"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

func TestSayPausedOnlyWhileTheClaimHolds(t *testing.T) {
	t.Parallel()
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "t0ken"})
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": "# x\n"}})
	forge, err := github.New(github.Config{Token: "t0ken", APIURL: gh.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	r := New(Config{
		Forges: []vcs.Forge{forge}, Redactor: tool.NewRedactor(),
		Ping: func(context.Context) error { return errors.New("store unreachable") },
	})
	pull := vcs.PullRequest{Repo: vcs.Repo{FullName: pr.Repo}, Number: pr.Number}
	j := r.newJob("j1", slog.New(slog.NewTextHandler(io.Discard, nil)), forge, vcs.Event{Type: vcs.CommentCreated, Repo: pull.Repo, Pull: pull}, nil)
	lapsed, holds := time.Now().Add(-time.Second), time.Now().Add(time.Minute)
	body := func(id int64) string {
		c, err := forge.GetComment(t.Context(), pull.Repo, pull.Number, id)
		if err != nil {
			t.Fatal(err)
		}
		return c.Body
	}

	// Once the claim has lapsed, another replica may have run the job:
	// no new comment, and none over its result.
	j.sayPaused(t.Context(), lapsed)
	if cs := gh.Comments(pr.Repo, pr.Number); len(cs) != 0 {
		t.Fatalf("a lapsed claim's job said it paused in a new comment: %+v", cs)
	}
	id, err := forge.Comment(t.Context(), pull.Repo, pull.Number, "**Plan** of the replica that took the job over")
	if err != nil {
		t.Fatal(err)
	}
	j.reply.ID = id
	j.sayPaused(t.Context(), lapsed)
	if got := body(id); strings.HasPrefix(got, "⏸️") {
		t.Fatalf("a lapsed claim's job said it paused over a result: %q", got)
	}
	// Over a comment that still says the job runs, it may speak.
	if err := forge.UpdateComment(t.Context(), pull.Repo, pull.Number, id, "⏳ Running plan for this pull request's projects…"); err != nil {
		t.Fatal(err)
	}
	j.sayPaused(t.Context(), lapsed)
	if got := body(id); !strings.HasPrefix(got, "⏸️") {
		t.Fatalf("the running comment of a lapsed claim's job = %q, want it paused", got)
	}
	// While the claim holds, it says so, in a new comment if it has none.
	j.reply.ID = 0
	j.sayPaused(t.Context(), holds)
	if cs := gh.Comments(pr.Repo, pr.Number); len(cs) != 2 || !strings.HasPrefix(cs[1].Body, "⏸️") {
		t.Fatalf("while the claim holds, want a new paused comment, got %+v", cs)
	}
}
