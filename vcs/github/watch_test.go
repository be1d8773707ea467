package github

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// watched is a fake GitHub with a repository, an open pull request and
// a draft, and a forge pointed at it.
func watched(t *testing.T) (*vcstest.GitHub, *Forge, vcstest.Pull) {
	t.Helper()
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_test"})
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"main.tf": "# x\n"}})
	gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "bob", Draft: true, Files: map[string]string{"b.tf": "# b\n"}})
	f, err := New(Config{Token: "ghp_test", APIURL: gh.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	return gh, f, pr
}

func TestWatchReposAndOpenPulls(t *testing.T) {
	t.Parallel()
	gh, f, pr := watched(t)
	gh.CreateRepo(t, "other/app", nil)
	repos, err := f.Repos(t.Context())
	if slices.Sort(repos); err != nil || !slices.Equal(repos, []string{"acme/infra", "other/app"}) {
		t.Errorf("Repos = %v, %v", repos, err)
	}
	gh.Act(t, "closed", pr)
	pulls, err := f.OpenPulls(t.Context(), "acme/infra")
	if err != nil || len(pulls) != 1 || pulls[0].Number != 2 || !pulls[0].Draft || !pulls[0].Open || pulls[0].HeadSHA == "" || pulls[0].Repo.FullName != "acme/infra" {
		t.Errorf("OpenPulls after #1 closed = %+v, %v; want the draft #2", pulls, err)
	}
}

func TestWatchChanges(t *testing.T) {
	t.Parallel()
	// Before the pull requests are opened: the forge's times are to the
	// second.
	since := time.Now().Add(-time.Second)
	gh, f, pr := watched(t)
	ch, err := f.Changes(t.Context(), "acme/infra", since)
	if err != nil || len(ch.Pulls) != 2 || len(ch.Comments) != 0 || ch.Latest.Before(since) {
		t.Fatalf("Changes = %+v, %v; want both pull requests, no comments", ch, err)
	}
	id := gh.PostComment(t, pr, "bob", "atoll plan")
	// A comment on a plain issue is not a pull request's.
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hook.Close()
	gh.SendIssueComment(t, hook.URL, "acme/infra", 9, "carol", "atoll plan")
	ch, err = f.Changes(t.Context(), "acme/infra", since)
	if err != nil || len(ch.Comments) != 1 {
		t.Fatalf("Changes = %+v, %v; want the pull request's comment alone", ch, err)
	}
	c := ch.Comments[0]
	if c.ID != id || c.Pull != pr.Number || c.Author != "bob" || c.Body != "atoll plan" || c.Created.Before(since.Truncate(time.Second)) {
		t.Errorf("comment = %+v", c)
	}
	// Nothing changed: both lists are answered 304, and say the same.
	before := gh.APIStats()
	again, err := f.Changes(t.Context(), "acme/infra", since)
	after := gh.APIStats()
	if err != nil || after.Requests-before.Requests != 2 || after.NotModified-before.NotModified != 2 {
		t.Errorf("an idle poll made %d requests, %d of them 304, %v; want 2 and 2", after.Requests-before.Requests, after.NotModified-before.NotModified, err)
	}
	if len(again.Comments) != 1 || len(again.Pulls) != 2 || !again.Latest.Equal(ch.Latest) {
		t.Errorf("the idle poll says %+v; want what the last one said", again)
	}
	closed := gh.Act(t, "closed", pr)
	ch, err = f.Changes(t.Context(), "acme/infra", since)
	if i := slices.IndexFunc(ch.Pulls, func(p vcs.PullRequest) bool { return p.Number == pr.Number }); err != nil || i < 0 || ch.Pulls[i].Open || closed.Open {
		t.Errorf("after a close: %+v, %v", ch.Pulls, err)
	}
	// Nothing is newer than the latest update.
	later := ch.Latest.Add(time.Second)
	if ch, err := f.Changes(t.Context(), "acme/infra", later); err != nil || len(ch.Pulls)+len(ch.Comments) != 0 || !ch.Latest.Equal(later) {
		t.Errorf("Changes after the latest update = %+v, %v; want nothing, Latest = since", ch, err)
	}
}

func TestWatchRateLimit(t *testing.T) {
	t.Parallel()
	gh, f, _ := watched(t)
	reset := time.Now().Add(3 * time.Second)
	gh.SetRateLimit(50, reset)
	if _, err := f.Changes(t.Context(), "acme/infra", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if rl := f.RateLimit(); rl.Limit != 5000 || rl.Remaining > 50 || rl.Remaining < 40 || rl.Reset.Before(reset.Truncate(time.Second)) {
		t.Errorf("RateLimit = %+v; want about 50 of 5000 left until %v", rl, reset)
	}
	gh.SetRateLimit(0, reset)
	_, err := f.Changes(t.Context(), "acme/infra", time.Time{})
	if retry, ok := vcs.AsRateLimit(err); !ok || retry.Before(reset.Truncate(time.Second)) || retry.After(reset.Add(time.Second)) {
		t.Errorf("Changes once the limit is spent: %v; want a rate-limit error until %v", err, reset)
	}
}

func TestReact(t *testing.T) {
	t.Parallel()
	gh, f, pr := watched(t)
	id := gh.PostComment(t, pr, "bob", "atoll plan")
	for range 2 { // a second reaction, from a rerun, is no error
		if err := f.React(t.Context(), vcs.Repo{FullName: "acme/infra"}, pr.Number, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := gh.Reactions("acme/infra", id); !slices.Equal(got, []string{"eyes"}) {
		t.Errorf("reactions = %v, want [eyes]", got)
	}
	if err := f.React(t.Context(), vcs.Repo{FullName: "acme/infra"}, pr.Number, id+100); err == nil {
		t.Error("a reaction to a comment that does not exist worked")
	}
}
