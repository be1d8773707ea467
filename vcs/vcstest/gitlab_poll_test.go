package vcstest_test

import (
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// nextMillisecond waits until GitLab's timestamps, to the millisecond,
// can tell what happens next from what came before.
func nextMillisecond() { time.Sleep(2 * time.Millisecond) }

// iids lists the merge requests ListProjectMergeRequests answers with opt.
func iids(t *testing.T, c *gl.Client, pid any, opt *gl.ListProjectMergeRequestsOptions) []int {
	t.Helper()
	mrs, _, err := c.MergeRequests.ListProjectMergeRequests(pid, opt)
	if err != nil {
		t.Fatalf("ListProjectMergeRequests(%+v): %v", opt, err)
	}
	var out []int
	for _, mr := range mrs {
		out = append(out, mr.IID)
	}
	return out
}

func TestGitLabListMergeRequests(t *testing.T) {
	t.Parallel()
	g, _ := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	for range 2 {
		g.OpenPull(t, glRepo, vcstest.PullSpec{Files: map[string]string{"x.tf": ""}})
	}
	nextSecond() // updated_after is sent to the second
	since := time.Now()
	g.Act(t, "close", g.Pull(glRepo, 1))
	if merged := g.Act(t, "merge", g.Pull(glRepo, 2)); merged.Open || !g.Merged(glRepo, 2) {
		t.Fatalf("Act(merge) = %+v", merged)
	}

	proj, _, err := c.Projects.GetProject(glRepo, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opt  gl.ListProjectMergeRequestsOptions
		want []int
	}{
		{gl.ListProjectMergeRequestsOptions{}, []int{3, 2, 1}}, // all, newest first
		{gl.ListProjectMergeRequestsOptions{State: gl.Ptr("opened")}, []int{3}},
		{gl.ListProjectMergeRequestsOptions{State: gl.Ptr("closed")}, []int{1}},
		{gl.ListProjectMergeRequestsOptions{State: gl.Ptr("merged")}, []int{2}},
		{gl.ListProjectMergeRequestsOptions{State: gl.Ptr("locked")}, nil},
		{gl.ListProjectMergeRequestsOptions{Sort: gl.Ptr("asc")}, []int{1, 2, 3}},
		{gl.ListProjectMergeRequestsOptions{OrderBy: gl.Ptr("updated_at")}, []int{2, 1, 3}},
		{gl.ListProjectMergeRequestsOptions{OrderBy: gl.Ptr("updated_at"), Sort: gl.Ptr("asc")}, []int{3, 1, 2}},
		{gl.ListProjectMergeRequestsOptions{UpdatedAfter: &since}, []int{2, 1}},
	} {
		for _, pid := range []any{glRepo, proj.ID} {
			if got := iids(t, c, pid, &tc.opt); !slices.Equal(got, tc.want) {
				t.Errorf("ListProjectMergeRequests(%v, %+v) = %v, want %v", pid, tc.opt, got, tc.want)
			}
		}
	}

	// One a page, each as a list shows it: its own state and times, and
	// none of what only a single merge request has.
	mrs, resp, err := c.MergeRequests.ListProjectMergeRequests(glRepo, &gl.ListProjectMergeRequestsOptions{ListOptions: gl.ListOptions{PerPage: 1, Page: 3}})
	if err != nil || len(mrs) != 1 || resp.TotalItems != 3 || resp.TotalPages != 3 || resp.NextPage != 0 || resp.PreviousPage != 2 {
		t.Fatalf("page 3 of 3: %d items, total %d in %d pages, next %d, previous %d, %v",
			len(mrs), resp.TotalItems, resp.TotalPages, resp.NextPage, resp.PreviousPage, err)
	}
	one, _, err := c.MergeRequests.GetMergeRequest(glRepo, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	listed := mrs[0]
	if listed.IID != 1 || listed.State != "closed" || listed.ClosedAt == nil || !listed.ClosedAt.Equal(*one.ClosedAt) ||
		!listed.UpdatedAt.Equal(*one.UpdatedAt) || !listed.UpdatedAt.After(*listed.CreatedAt) || listed.SHA != one.SHA ||
		listed.ChangesCount != "" || listed.DiffRefs.HeadSha != "" || one.ChangesCount == "" || one.DiffRefs.HeadSha == "" {
		t.Errorf("listed !1 = %+v\nGetMergeRequest !1 = %+v", listed, one)
	}
	_, resp, err = c.MergeRequests.ListProjectMergeRequests(glRepo, &gl.ListProjectMergeRequestsOptions{State: gl.Ptr("open")})
	if glStatus(t, resp, err) != 400 || glMessage(err) != "state does not have a valid value" {
		t.Errorf("state=open: %v", err)
	}
}

func TestGitLabListNotes(t *testing.T) {
	t.Parallel()
	g, p := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	bot, _, err := c.Notes.CreateMergeRequestNote(glRepo, 1, &gl.CreateMergeRequestNoteOptions{Body: gl.Ptr("Plan: 1 to add")})
	if err != nil {
		t.Fatal(err)
	}
	nextMillisecond()
	bob := g.PostComment(t, p, "bob", "atoll apply")
	nextMillisecond()
	carol := g.PostComment(t, p, "carol", "LGTM")
	nextMillisecond()
	g.EditComment(t, glRepo, 1, int64(bot.ID), "Plan: 2 to add")
	ids := []int64{int64(bot.ID), bob, carol}

	for _, tc := range []struct {
		opt  gl.ListMergeRequestNotesOptions
		want []int64
	}{
		{gl.ListMergeRequestNotesOptions{}, []int64{carol, bob, ids[0]}}, // newest first
		{gl.ListMergeRequestNotesOptions{Sort: gl.Ptr("asc")}, ids},
		{gl.ListMergeRequestNotesOptions{OrderBy: gl.Ptr("updated_at")}, []int64{ids[0], carol, bob}},
	} {
		notes, _, err := c.Notes.ListMergeRequestNotes(glRepo, 1, &tc.opt)
		var got []int64
		for _, n := range notes {
			got = append(got, int64(n.ID))
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ListMergeRequestNotes(%+v) = %v, %v; want %v", tc.opt, got, err, tc.want)
		}
	}
	notes, resp, err := c.Notes.ListMergeRequestNotes(glRepo, 1, &gl.ListMergeRequestNotesOptions{Sort: gl.Ptr("asc"), ListOptions: gl.ListOptions{PerPage: 2}})
	if err != nil || len(notes) != 2 || resp.TotalItems != 3 || resp.NextPage != 2 {
		t.Fatalf("page 1 of 2: %d notes, total %d, next %d, %v", len(notes), resp.TotalItems, resp.NextPage, err)
	}
	if n := notes[0]; n.Author.Username != "atoll-bot" || n.Body != "Plan: 2 to add" || !n.CreatedAt.Equal(*bot.CreatedAt) ||
		!n.UpdatedAt.After(*n.CreatedAt) || n.NoteableIID != 1 || n.NoteableType != "MergeRequest" {
		t.Errorf("the edited note = %+v", n)
	}
	if n := notes[1]; n.Author.Username != "bob" || n.Body != "atoll apply" || int64(n.ID) != bob {
		t.Errorf("bob's note = %+v", n)
	}
	if got := g.Comments(glRepo, 1); len(got) != 1 || got[0].ID != int64(bot.ID) {
		t.Errorf("Comments = %+v; want atoll's note alone", got)
	}
}

// Act, PostComment, EditComment and approvals change what the API says of
// a merge request's updated_at, as GitLab's own events do.
func TestGitLabActTouches(t *testing.T) {
	t.Parallel()
	g, p := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	last := time.Time{}
	moved := func(what string) {
		t.Helper()
		mr, _, err := c.MergeRequests.GetMergeRequest(glRepo, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !mr.UpdatedAt.After(last) {
			t.Errorf("%s: updated_at %v, not after %v", what, mr.UpdatedAt, last)
		}
		last = *mr.UpdatedAt
		nextMillisecond()
	}
	moved("OpenPull")
	if d := g.Act(t, "draft", p); !d.Draft || !g.Pull(glRepo, 1).Draft {
		t.Errorf("Act(draft) = %+v", d)
	}
	moved("Act(draft)")
	g.Act(t, "ready_for_review", p)
	moved("Act(ready_for_review)")
	id := g.PostComment(t, p, "bob", "atoll plan")
	moved("PostComment")
	g.EditComment(t, glRepo, 1, id, "atoll plan -d prod")
	moved("EditComment")
	g.Approve(t, glRepo, 1, "carol")
	moved("Approve")
	g.PushToPull(t, glRepo, 1, map[string]string{"main.tf": "# again\n"})
	moved("PushToPull")
	if closed := g.Act(t, "closed", p); closed.Open {
		t.Errorf("Act(closed) = %+v", closed)
	}
	moved("Act(closed)")
	if n, _, err := c.Notes.GetMergeRequestNote(glRepo, 1, int(id)); err != nil || n.Body != "atoll plan -d prod" || !n.UpdatedAt.After(*n.CreatedAt) {
		t.Errorf("the edited note = %+v, %v", n, err)
	}
}

func TestGitLabListProjects(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitLab(t, vcstest.GitLabOptions{})
	for _, path := range []string{"zeta/infra", "acme/platform/infra", "acme/hidden"} {
		g.CreateRepo(t, path, nil)
	}
	g.SetPermission("acme/hidden", g.BotLogin(), "none")
	c := newGitLabClient(t, g, g.Token())

	var paths []string
	opt := &gl.ListProjectsOptions{Membership: gl.Ptr(true), Simple: gl.Ptr(true), ListOptions: gl.ListOptions{PerPage: 1}}
	for {
		projects, resp, err := c.Projects.ListProjects(opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range projects {
			paths = append(paths, p.PathWithNamespace)
			if p.HTTPURLToRepo != g.CloneURL(p.PathWithNamespace) || p.DefaultBranch != "main" || p.Namespace == nil || p.Permissions != nil {
				t.Errorf("simple project = %+v", p)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	if want := []string{"acme/platform/infra", "zeta/infra"}; !slices.Equal(paths, want) {
		t.Errorf("ListProjects(membership, simple) = %q, want %q, newest first", paths, want)
	}
	full, _, err := c.Projects.ListProjects(&gl.ListProjectsOptions{Membership: gl.Ptr(true), OrderBy: gl.Ptr("path"), Sort: gl.Ptr("asc")})
	if err != nil || len(full) != 2 || full[0].PathWithNamespace != "acme/platform/infra" || full[0].Permissions == nil ||
		full[0].Permissions.ProjectAccess == nil || full[0].Permissions.ProjectAccess.AccessLevel != gl.DeveloperPermissions {
		t.Errorf("ListProjects(membership, path) = %+v, %v", full, err)
	}
}

// A GET answered 200 carries a weak ETag; asked again with it, the fake
// answers 304, which GitLab's rate limit counts, until the answer changes.
func TestGitLabETag(t *testing.T) {
	t.Parallel()
	g, p := newGitLabFixture(t, vcstest.GitLabOptions{})
	g.SetRateLimit(2000, time.Now().Add(time.Minute))
	c := newGitLabClient(t, g, g.Token())
	list := func(etag string) (*gl.Response, error) {
		t.Helper()
		opt := &gl.ListProjectMergeRequestsOptions{State: gl.Ptr("opened")}
		_, resp, err := c.MergeRequests.ListProjectMergeRequests(glRepo, opt, gl.WithHeader("If-None-Match", etag))
		if resp == nil {
			t.Fatalf("no answer: %v", err)
		}
		return resp, err
	}
	remaining := func(resp *gl.Response) int {
		n, _ := strconv.Atoi(resp.Header.Get("RateLimit-Remaining"))
		return n
	}
	first, err := list("")
	etag := first.Header.Get("ETag")
	if err != nil || !regexp.MustCompile(`^W/"[0-9a-f]{32}"$`).MatchString(etag) {
		t.Fatalf("first list: ETag %q, %v", etag, err)
	}
	again, err := list(etag)
	if again.StatusCode != http.StatusNotModified || err == nil || again.Header.Get("ETag") != etag || remaining(again) != remaining(first)-1 {
		t.Errorf("If-None-Match: %d, ETag %q, remaining %d after %d, %v; want 304, counted", again.StatusCode, again.Header.Get("ETag"), remaining(again), remaining(first), err)
	}
	nextMillisecond()
	g.PostComment(t, p, "bob", "a note touches the merge request")
	if changed, err := list(etag); err != nil || changed.StatusCode != http.StatusOK || changed.Header.Get("ETag") == etag {
		t.Errorf("after a change: %d, ETag %q, %v; want 200 and a new ETag", changed.StatusCode, changed.Header.Get("ETag"), err)
	}
	if s := g.APIStats(); s.Requests != 3 || s.NotModified != 1 || s.Limited != 0 {
		t.Errorf("APIStats = %+v; want 3 requests, 1 not modified", s)
	}
}

func TestGitLabRateLimit(t *testing.T) {
	t.Parallel()
	g, _ := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token(), gl.WithoutRetries())

	// A self-managed GitLab has no limit until its administrator sets one.
	_, resp, err := c.Users.CurrentUser()
	if err != nil || resp.Header.Get("RateLimit-Limit") != "" {
		t.Fatalf("answer with no limit set: %v, %v", resp.Header, err)
	}
	g.SetRateLimit(2000, time.Now().Add(time.Minute))
	_, resp, err = c.Users.CurrentUser()
	h := resp.Header
	reset, _ := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64)
	resetTime, _ := http.ParseTime(h.Get("RateLimit-ResetTime"))
	if err != nil || h.Get("RateLimit-Limit") != "2000" || h.Get("RateLimit-Remaining") != "1999" || h.Get("RateLimit-Observed") != "1" ||
		time.Until(time.Unix(reset, 0)) < 50*time.Second || !resetTime.Equal(time.Unix(reset, 0)) {
		t.Fatalf("first answer with a limit: %v, %v", h, err)
	}
	limitReset := time.Now().Add(time.Second).Truncate(time.Second).Add(time.Second) // 1 to 2s away
	g.SetRateLimit(1, limitReset)
	if _, resp, err := c.Users.CurrentUser(); err != nil || resp.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("last request of the window: %v, %v", resp.Header, err)
	}
	_, resp, err = c.Users.CurrentUser()
	var errResp *gl.ErrorResponse
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if glStatus(t, resp, err) != http.StatusTooManyRequests || !errors.As(err, &errResp) || string(errResp.Body) != "Retry later\n" ||
		retry < 1 || retry > 2 || resp.Header.Get("RateLimit-Reset") != strconv.FormatInt(limitReset.Unix(), 10) ||
		resp.Header.Get("RateLimit-Remaining") != "0" || resp.Header.Get("RateLimit-Observed") != "2001" {
		t.Errorf("spent: %v, headers %v", err, resp.Header)
	}
	if out, err := git(t, "", "-c", glAuth(g), "ls-remote", g.CloneURL(glRepo), "main"); err != nil {
		t.Errorf("ls-remote while rate limited: %v\n%s", err, out)
	}
	if s := g.APIStats(); s.Requests != 4 || s.Limited != 1 {
		t.Errorf("APIStats = %+v; want 4 requests, 1 limited", s)
	}

	// go-gitlab's own retries wait for RateLimit-Reset, and get through.
	u, resp, err := newGitLabClient(t, g, g.Token()).Users.CurrentUser()
	if err != nil || u.Username != "atoll-bot" || time.Now().Before(limitReset) || resp.Header.Get("RateLimit-Remaining") != "1999" {
		t.Errorf("after the reset: %v, %v", resp.Header, err)
	}
	if s := g.APIStats(); s.Limited != 2 {
		t.Errorf("APIStats = %+v; want the patient client refused once", s)
	}
}
