package vcstest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// glRepo is in a subgroup, and has a dot, as real paths may.
const glRepo = "acme/platform/infra.live"

// forge is what a test can drive either fake through: their helpers
// mirror each other.
type forge interface {
	URL() string
	APIURL() string
	Token() string
	BotLogin() string
	CloneURL(repo string) string
	CreateRepo(t vcstest.T, repo string, files map[string]string)
	OpenPull(t vcstest.T, repo string, spec vcstest.PullSpec) vcstest.Pull
	PushToPull(t vcstest.T, repo string, number int, files map[string]string) vcstest.Pull
	PushToMain(t vcstest.T, repo string, files map[string]string) string
	ClosePull(t vcstest.T, repo string, number int) vcstest.Pull
	Pull(repo string, number int) vcstest.Pull
	SetMergeable(repo string, number int, mergeable bool)
	Merged(repo string, number int) bool
	BranchExists(repo, branch string) bool
	Comments(repo string, number int) []vcstest.Comment
	AllComments() []vcstest.Comment
	Statuses(repo, sha string) []vcstest.Status
	StatusHistory(repo, sha, context string) []string
	SetPermission(repo, user, level string)
	Review(t vcstest.T, repo string, number int, user, state string)
	Unhandled() []string
	GitRequests() int
	WaitFor(t vcstest.T, timeout time.Duration, what string, cond func() bool)
	SendPullRequest(t vcstest.T, target, action string, p vcstest.Pull) vcstest.Delivery
	SendPullComment(t vcstest.T, target string, p vcstest.Pull, author, body string) vcstest.Delivery
	SendCommentEdited(t vcstest.T, target string, p vcstest.Pull, author, body string) vcstest.Delivery
	SendIssueComment(t vcstest.T, target, repo string, number int, author, body string) vcstest.Delivery
	Payload(t vcstest.T, event, action string, p vcstest.Pull, author, body string) []byte
	Deliver(t vcstest.T, target, event string, payload []byte, o vcstest.DeliverOptions) vcstest.Delivery
	Act(t vcstest.T, action string, p vcstest.Pull) vcstest.Pull
	PostComment(t vcstest.T, p vcstest.Pull, author, body string) int64
	EditComment(t vcstest.T, repo string, number int, id int64, body string)
	SetRateLimit(remaining int, reset time.Time)
	APIStats() vcstest.APIStats
}

var (
	_ forge = (*vcstest.GitHub)(nil)
	_ forge = (*vcstest.GitLab)(nil)
)

// newGitLabFixture is a fake with one project and one merge request that
// modifies, adds, removes and renames a file.
func newGitLabFixture(t *testing.T, opts vcstest.GitLabOptions) (*vcstest.GitLab, vcstest.Pull) {
	t.Helper()
	g := vcstest.NewGitLab(t, opts)
	g.CreateRepo(t, glRepo, map[string]string{
		"main.tf":            "resource \"terraform_data\" \"a\" {}\n",
		"modules/old/old.tf": "locals {\n  x = 1\n  y = 2\n}\n",
		"gone.tf":            "output \"z\" { value = 1 }\n",
	})
	p := g.OpenPull(t, glRepo, vcstest.PullSpec{
		Author: "alice",
		Files: map[string]string{
			"main.tf":            "resource \"terraform_data\" \"a\" {}\nresource \"terraform_data\" \"b\" {}\n",
			"envs/prod/new.tf":   "",
			"modules/new/old.tf": "locals {\n  x = 1\n  y = 2\n}\n",
		},
		Delete: []string{"gone.tf", "modules/old/old.tf"},
	})
	return g, p
}

// newGitLabClient is go-gitlab pointed at the fake.
func newGitLabClient(t *testing.T, g *vcstest.GitLab, token string, opts ...gl.ClientOptionFunc) *gl.Client {
	t.Helper()
	c, err := gl.NewClient(token, append([]gl.ClientOptionFunc{gl.WithBaseURL(g.APIURL())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// glStatus is the HTTP status of a go-gitlab call's error.
func glStatus(t *testing.T, resp *gl.Response, err error) int {
	t.Helper()
	if err == nil {
		t.Fatal("the call worked; want an error")
	}
	if resp == nil {
		t.Fatalf("no response: %v", err)
	}
	return resp.StatusCode
}

// glMessage is the message (or, from parameter validation, the error) of
// a GitLab error answer.
func glMessage(err error) string {
	var e *gl.ErrorResponse
	var body struct{ Message, Error string }
	if !errors.As(err, &e) || json.Unmarshal(e.Body, &body) != nil {
		return fmt.Sprint(err)
	}
	return body.Message + body.Error
}

func TestGitLabAPI(t *testing.T) {
	t.Parallel()
	g, p := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	if p.Number != 1 || p.Branch != "pr-1" || p.Author != "alice" || !p.Open || len(p.HeadSHA) != 40 || p.Repo != glRepo {
		t.Fatalf("OpenPull = %+v", p)
	}

	u, _, err := c.Users.CurrentUser()
	if err != nil || u.Username != "atoll-bot" || int64(u.ID) != g.UserID("atoll-bot") {
		t.Fatalf("CurrentUser = %+v, %v", u, err)
	}

	// A project by escaped path and by id.
	proj, _, err := c.Projects.GetProject(glRepo, nil)
	if err != nil {
		t.Fatal(err)
	}
	if proj.PathWithNamespace != glRepo || proj.HTTPURLToRepo != g.CloneURL(glRepo) || proj.DefaultBranch != "main" ||
		proj.WebURL != g.URL()+"/"+glRepo || proj.Namespace.FullPath != "acme/platform" || proj.Path != "infra.live" {
		t.Errorf("GetProject = %+v", proj)
	}
	if byID, _, err := c.Projects.GetProject(proj.ID, nil); err != nil || byID.PathWithNamespace != glRepo {
		t.Errorf("GetProject(%d) = %v, %v", proj.ID, byID, err)
	}

	// The merge request, and how far main moves ahead of it.
	mr, _, err := c.MergeRequests.GetMergeRequest(glRepo, 1, &gl.GetMergeRequestsOptions{IncludeDivergedCommitsCount: gl.Ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if mr.IID != 1 || mr.ProjectID != proj.ID || mr.State != "opened" || mr.Draft || mr.SHA != p.HeadSHA ||
		mr.SourceBranch != "pr-1" || mr.TargetBranch != "main" || mr.Author.Username != "alice" ||
		mr.SourceProjectID != proj.ID || mr.TargetProjectID != proj.ID || mr.DetailedMergeStatus != "mergeable" ||
		mr.MergeStatus != "can_be_merged" || mr.DivergedCommitsCount != 0 || mr.ChangesCount != "4" ||
		mr.WebURL != g.URL()+"/"+glRepo+"/-/merge_requests/1" || mr.DiffRefs.HeadSha != p.HeadSHA ||
		mr.DiffRefs.BaseSha != mr.DiffRefs.StartSha || len(mr.DiffRefs.BaseSha) != 40 || !mr.User.CanMerge {
		t.Errorf("GetMergeRequest = %s", mr)
	}
	oldMain := mr.DiffRefs.StartSha
	g.PushToMain(t, glRepo, map[string]string{"README.md": "hi\n"})
	g.PushToMain(t, glRepo, map[string]string{"README.md": "hello\n"})
	mr, _, err = c.MergeRequests.GetMergeRequest(glRepo, 1, &gl.GetMergeRequestsOptions{IncludeDivergedCommitsCount: gl.Ptr(true)})
	if err != nil || mr.DivergedCommitsCount != 2 || mr.DiffRefs.StartSha != oldMain {
		t.Errorf("after two pushes to main: diverged %d, start %s (was %s), %v", mr.DivergedCommitsCount, mr.DiffRefs.StartSha, oldMain, err)
	}
	newMain := g.PushToMain(t, glRepo, map[string]string{"README.md": "hello again\n"})
	p2 := g.PushToPull(t, glRepo, 1, map[string]string{"main.tf": "# rewritten\n"})
	mr, _, err = c.MergeRequests.GetMergeRequest(glRepo, 1, nil)
	if err != nil || mr.SHA != p2.HeadSHA || mr.DiffRefs.HeadSha != p2.HeadSHA || mr.DiffRefs.StartSha != newMain || mr.DiffRefs.BaseSha != oldMain {
		t.Errorf("after a push, the diff starts from main's tip: %v, %v", mr.DiffRefs, err)
	}

	// Drafts, conflicts, closed merge requests.
	draft := g.OpenPull(t, glRepo, vcstest.PullSpec{Draft: true, Files: map[string]string{"d.tf": ""}})
	g.SetMergeable(glRepo, draft.Number, false)
	mr, _, err = c.MergeRequests.GetMergeRequest(glRepo, draft.Number, nil)
	if err != nil || !mr.Draft || !mr.WorkInProgress || !strings.HasPrefix(mr.Title, "Draft: ") ||
		mr.DetailedMergeStatus != "draft_status" || mr.MergeStatus != "cannot_be_merged" || !mr.HasConflicts {
		t.Errorf("draft with a conflict = %s, %v", mr, err)
	}
	g.ClosePull(t, glRepo, draft.Number)
	mr, _, err = c.MergeRequests.GetMergeRequest(glRepo, draft.Number, &gl.GetMergeRequestsOptions{IncludeDivergedCommitsCount: gl.Ptr(true)})
	if err != nil || mr.State != "closed" || mr.ClosedAt == nil || mr.DetailedMergeStatus != "not_open" || mr.DivergedCommitsCount != 0 {
		t.Errorf("closed = %s, %v", mr, err)
	}

	// Unknown things, a wrong token, an unhandled endpoint.
	_, resp, err := c.MergeRequests.GetMergeRequest(glRepo, 9, nil)
	if glStatus(t, resp, err) != 404 || !errors.Is(err, gl.ErrNotFound) {
		t.Errorf("GetMergeRequest(9) = %v", err)
	}
	if _, resp, err := c.Projects.GetProject("acme/nope", nil); glStatus(t, resp, err) != 404 {
		t.Errorf("GetProject(acme/nope) = %v", err)
	}
	_, resp, err = newGitLabClient(t, g, "wrong").Users.CurrentUser()
	if glStatus(t, resp, err) != 401 || glMessage(err) != "401 Unauthorized" {
		t.Errorf("CurrentUser with a wrong token = %v", err)
	}
	bearer, err := gl.NewOAuthClient(g.Token(), gl.WithBaseURL(g.APIURL()))
	if err != nil {
		t.Fatal(err)
	}
	if u, _, err := bearer.Users.CurrentUser(); err != nil || u.Username != "atoll-bot" {
		t.Errorf("CurrentUser with Authorization: Bearer = %v, %v", u, err)
	}
	if _, resp, err := c.Discussions.ListMergeRequestDiscussions(glRepo, 1, nil); glStatus(t, resp, err) != 404 {
		t.Errorf("ListMergeRequestDiscussions = %v, want 404", err)
	}
	want := []string{"GET /api/v4/projects/acme%2Fplatform%2Finfra%2Elive/merge_requests/1/discussions"}
	if got := g.Unhandled(); !slices.Equal(got, want) {
		t.Errorf("Unhandled = %q, want %q", got, want)
	}
	if n := g.GitLabRequests("/api/v4/projects/acme%2Fplatform%2Finfra%2Elive/merge_requests/1"); n != 4 {
		t.Errorf("GitLabRequests(merge request 1) = %d, want 4", n)
	}
}

// A project right under a group, and a merge request from a fork, whose
// source project has an id of its own.
func TestGitLabForkAndShortPath(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitLab(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	g.CreateRepo(t, "acme/infra", map[string]string{"main.tf": ""})
	fp := g.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "mallory", Fork: "mallory/infra", Branch: "main", Files: map[string]string{"x.tf": ""}})
	if fp.Fork != "mallory/infra" || fp.Branch != "main" {
		t.Fatalf("OpenPull from a fork = %+v", fp)
	}
	mr, _, err := c.MergeRequests.GetMergeRequest("acme/infra", 1, nil)
	if err != nil || mr.SourceProjectID == mr.TargetProjectID || mr.SourceBranch != "main" || mr.SHA != fp.HeadSHA {
		t.Fatalf("fork merge request = %s, %v", mr, err)
	}
	src, _, err := c.Projects.GetProject(mr.SourceProjectID, nil)
	if err != nil || src.PathWithNamespace != "mallory/infra" {
		t.Errorf("source project = %v, %v", src, err)
	}
	if g.BranchExists("acme/infra", "main") != true || len(g.Pull("acme/infra", 1).HeadSHA) != 40 {
		t.Error("the target lost main, or the merge request its head")
	}
}

func TestGitLabWaitFor(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitLab(t, vcstest.GitLabOptions{})
	start := time.Now()
	g.WaitFor(t, time.Second, "a moment", func() bool { return time.Since(start) > 50*time.Millisecond })
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.WaitFor(ft, 100*time.Millisecond, "the impossible", func() bool { return false })
	}()
	<-done
	if !strings.Contains(ft.fatal, "timed out after 100ms waiting for the impossible") || !strings.Contains(ft.fatal, "(none)") {
		t.Errorf("WaitFor on a condition that never holds: Fatalf(%q)", ft.fatal)
	}
}

// glReceiver starts a webhook endpoint on 127.0.0.1 that parses what it
// gets with go-gitlab and answers 202 "queued".
func glReceiver(t *testing.T) (string, <-chan glReceived) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan glReceived, 10)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		rc := glReceived{header: r.Header.Clone(), body: body, err: err}
		if err == nil {
			rc.event, rc.err = gl.ParseWebhook(gl.HookEventType(r), body)
		}
		got <- rc
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "queued")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/events", got
}

// glReceived is one delivery glReceiver got, parsed by go-gitlab.
type glReceived struct {
	header http.Header
	body   []byte
	event  any
	err    error
}
