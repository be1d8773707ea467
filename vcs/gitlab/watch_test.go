package gitlab

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// watched is a fake GitLab with a project in a subgroup, an open merge
// request and a draft, and a forge pointed at it.
func watched(t *testing.T) (*vcstest.GitLab, *Forge, vcstest.Pull) {
	t.Helper()
	g := vcstest.NewGitLab(t, vcstest.GitLabOptions{})
	g.CreateRepo(t, "acme/platform/infra", nil)
	mr := g.OpenPull(t, "acme/platform/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"main.tf": "# x\n"}})
	g.OpenPull(t, "acme/platform/infra", vcstest.PullSpec{Author: "bob", Draft: true, Files: map[string]string{"b.tf": "# b\n"}})
	f, err := New(Config{Token: g.Token(), URL: g.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return g, f, mr
}

func TestWatchReposAndOpenPulls(t *testing.T) {
	t.Parallel()
	g, f, mr := watched(t)
	g.CreateRepo(t, "other/app", nil)
	repos, err := f.Repos(t.Context())
	if slices.Sort(repos); err != nil || !slices.Equal(repos, []string{"acme/platform/infra", "other/app"}) {
		t.Errorf("Repos = %v, %v", repos, err)
	}
	g.Act(t, "close", mr)
	pulls, err := f.OpenPulls(t.Context(), "acme/platform/infra")
	if err != nil || len(pulls) != 1 || pulls[0].Number != 2 || !pulls[0].Draft || !pulls[0].Open || pulls[0].HeadSHA == "" || pulls[0].Repo.FullName != "acme/platform/infra" {
		t.Errorf("OpenPulls after !1 closed = %+v, %v; want the draft !2", pulls, err)
	}
}

func TestWatchChanges(t *testing.T) {
	t.Parallel()
	// Before the merge requests are opened.
	since := time.Now().Add(-time.Second)
	g, f, mr := watched(t)
	const repo = "acme/platform/infra"
	ch, err := f.Changes(t.Context(), repo, since)
	if err != nil || len(ch.Pulls) != 2 || len(ch.Comments) != 0 || ch.Latest.Before(since) {
		t.Fatalf("Changes = %+v, %v; want both merge requests, no notes", ch, err)
	}
	first := g.PostComment(t, mr, "bob", "atoll plan")
	second := g.PostComment(t, mr, "carol", "looks good")
	ch, err = f.Changes(t.Context(), repo, since)
	if err != nil || len(ch.Comments) != 2 {
		t.Fatalf("Changes = %+v, %v; want the two notes", ch, err)
	}
	if c := ch.Comments[0]; c.ID != first || c.Pull != mr.Number || c.Author != "bob" || c.Body != "atoll plan" || c.Created.Before(since) {
		t.Errorf("first note = %+v", c)
	}
	if ch.Comments[1].ID != second {
		t.Errorf("notes out of order: %+v", ch.Comments)
	}
	// Nothing changed: the merge requests are answered 304 and no note is
	// asked for.
	before := g.APIStats()
	again, err := f.Changes(t.Context(), repo, since)
	after := g.APIStats()
	if err != nil || after.Requests-before.Requests != 1 || after.NotModified-before.NotModified != 1 {
		t.Errorf("an idle poll made %d requests, %d of them 304, %v; want 1 and 1", after.Requests-before.Requests, after.NotModified-before.NotModified, err)
	}
	if len(again.Comments) != 2 || len(again.Pulls) != 2 || !again.Latest.Equal(ch.Latest) {
		t.Errorf("the idle poll says %+v; want what the last one said", again)
	}
	// Notes older than since are left out, and so are merge requests
	// that did not change. go-gitlab sends updated_after to the second.
	cut := ch.Latest.Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(cut) + 5*time.Millisecond)
	third := g.PostComment(t, mr, "dave", "atoll apply")
	ch, err = f.Changes(t.Context(), repo, cut)
	if err != nil || len(ch.Pulls) != 1 || len(ch.Comments) != 1 || ch.Comments[0].ID != third {
		t.Errorf("Changes since the last note = %+v, %v; want !1 and the new note alone", ch, err)
	}
	g.Act(t, "close", mr)
	ch, err = f.Changes(t.Context(), repo, cut)
	if err != nil || len(ch.Pulls) != 1 || ch.Pulls[0].Open {
		t.Errorf("after a close: %+v, %v", ch.Pulls, err)
	}
}

func TestWatchRateLimit(t *testing.T) {
	t.Parallel()
	g, f, _ := watched(t)
	if _, err := f.Changes(t.Context(), "acme/platform/infra", time.Time{}); err != nil || f.RateLimit().Limit != 0 {
		t.Fatalf("with no limit set: RateLimit = %+v, %v; want none known", f.RateLimit(), err)
	}
	reset := time.Now().Add(3 * time.Second)
	g.SetRateLimit(50, reset)
	if _, err := f.Changes(t.Context(), "acme/platform/infra", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if rl := f.RateLimit(); rl.Limit != 2000 || rl.Remaining > 50 || rl.Remaining < 40 || rl.Reset.Before(reset.Truncate(time.Second)) {
		t.Errorf("RateLimit = %+v; want about 50 of 2000 left until %v", rl, reset)
	}
}

// Spent, the limit fails a poll at once with the time of its reset,
// which the poller waits for and says so: the poller's client does not
// retry.
func TestWatchSaysWhenTheLimitResets(t *testing.T) {
	t.Parallel()
	g, f, _ := watched(t)
	reset := time.Now().Add(2 * time.Second)
	g.SetRateLimit(0, reset)
	_, err := f.Changes(t.Context(), "acme/platform/infra", time.Time{})
	// Retry-After is in whole seconds, rounded up.
	if retry, ok := vcs.AsRateLimit(err); !ok || retry.Before(reset.Truncate(time.Second)) || retry.After(reset.Add(2*time.Second)) {
		t.Errorf("Changes = %v (retry at %v); want a rate-limit error until %v", err, retry, reset)
	}
	if s := g.APIStats(); s.Limited != 1 {
		t.Errorf("%d requests refused; want the one", s.Limited)
	}
}

func TestPollErrorOfA429(t *testing.T) {
	t.Parallel()
	resp := &gl.Response{Response: &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"30"}}}}
	err := pollError("listing merge requests", resp, errors.New("429 Retry later"))
	retry, ok := vcs.AsRateLimit(err)
	if wait := time.Until(retry); !ok || wait < 25*time.Second || wait > 31*time.Second {
		t.Errorf("pollError = %v (retry in %v); want a rate-limit error for 30s", err, wait)
	}
	resp.StatusCode = http.StatusBadGateway
	if _, ok := vcs.AsRateLimit(pollError("listing", resp, errors.New("502"))); ok {
		t.Error("a 502 was taken for a rate limit")
	}
}
