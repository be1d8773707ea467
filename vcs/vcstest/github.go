// Package vcstest fakes the forges atoll talks to, GitHub and GitLab, over
// real HTTP for tests: the REST API subset atoll calls, git over smart
// HTTP from real repositories, and webhooks built from each forge's own
// documented example payloads.
//
// A GitHub listens on 127.0.0.1. Point go-github at APIURL, git at
// CloneURL, and atoll's webhook endpoint receives signed deliveries built
// from GitHub's documented examples (testdata/github). A GitLab does the
// same for go-gitlab: projects in groups and subgroups, merge requests,
// notes, commit statuses that follow GitLab's state machine, and
// deliveries built from GitLab's examples (testdata/gitlab).
// The two share method names and types (Pull, Comment, Status, Delivery),
// so that a test can drive either: set up repositories and pull or merge
// requests with real git (CreateRepo, OpenPull, PushToPull), then assert
// on what atoll left behind (Comments, Statuses).
//
// Both also serve what a poller asks instead of waiting for webhooks: the
// lists of repositories, pull or merge requests (by state, sorted by
// created_at or updated_at, which every change moves) and comments or
// notes, a page at a time. Act and PostComment change a pull request as
// a webhook would say, without one. Every authenticated API answer is
// metered as the forge meters it: rate-limit headers, a refusal once
// SetRateLimit's budget is spent, and an ETag on each JSON GET, which a
// request naming it in If-None-Match gets back as a 304 (APIStats counts
// them).
//
// Both keep issues as well, which atoll opens for its drift reports:
// listed by state, label and author, edited, closed and commented on
// (issues.go, gitlab_issues.go). GitHub numbers them in one sequence
// with a repository's pull requests, GitLab by iids of their own.
//
// The fakes are driven through T, which testing.TB satisfies, so that a
// program can show one to people too (atoll testdrive): the fake GitHub
// then also serves pages a browser reads, its pull requests and their
// conversations (pages.go).
//
// The fake GitHub can host a GitHub App as well (EnableApp, Install): it
// checks the App's JWTs, mints installation tokens that expire, and
// accepts them on the API and git within their installation's account,
// doing what they do as the App's bot (app.go). It then logs every
// webhook delivery, as GitHub logs an App's, on /app/hook/deliveries
// (deliveries.go), and lets the App's installation tokens create and
// update check runs (checkruns.go).
package vcstest

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// GitHubOptions configures a fake GitHub. The zero value is usable.
type GitHubOptions struct {
	// Token is the personal credential the fake accepts: as a bearer or
	// "token" Authorization header on the API, and as the basic-auth
	// password (any user name) for git. Default "test-token". Once
	// EnableApp, the App's JWT and its installation tokens are accepted
	// too (app.go).
	Token string
	// WebhookSecret signs deliveries (X-Hub-Signature-256 and
	// X-Hub-Signature). Empty sends them unsigned.
	WebhookSecret string
	// BotLogin is the login of the token's user (GET /user). Default
	// "atoll-bot".
	BotLogin string
	// DefaultPermission is every user's permission on every repository
	// unless SetPermission says otherwise: admin, maintain, write, triage,
	// read or none. Default "write".
	DefaultPermission string
	// TLS serves the API and git over HTTPS, HTTP/2 offered, as GitHub
	// does, with a self-signed certificate: URL and the rest are then
	// https://, and Certificate, CAFile and Client say how to trust it.
	// The default serves plain HTTP.
	TLS bool
}

// GitHub is a fake GitHub server. Its methods are safe for concurrent use.
type GitHub struct {
	*gitHost // bare repositories: root/owner/name.git
	token    string
	secret   string
	bot      string
	fixtures map[string][]byte // testdata/github by file name
	meter    *meter            // rate limit and conditional requests

	*endpoint // where it listens (url), and its certificate over HTTPS

	defaultPerm string

	mu          sync.Mutex
	repos       map[string]*repo
	comments    []*comment // in creation order
	lastID      int64      // last id handed out, to comments and the like
	statuses    map[statusKey][]Status
	checkRuns   map[statusKey][]checkRun // in creation order
	perms       map[userKey]string       // repository or team, and login
	teams       map[userKey]bool         // "org/team-slug" and login
	unhandled   []string
	apiRequests []string // paths of authenticated API requests
	gitRequests int
	gitFailures int       // the git requests still to fail (FailGit); < 0: all
	app         *appState // nil until EnableApp
}

// repo is one repository the fake serves. Fields other than pulls,
// issues and numbers are set once by CreateRepo.
type repo struct {
	fullName string
	id       int64
	bare     string // served by git http-backend
	work     string // clone the helpers commit in
	// pulls and issues are in number order; guarded by GitHub.mu, as is
	// numbers, the last number handed out: the two share one sequence,
	// as on GitHub.
	pulls   []*pull
	issues  []*issue
	numbers int
}

// pull is a pull request with the state only the API shows.
type pull struct {
	Pull
	unmergeable bool
	created     time.Time
	updated     time.Time // see touch
	closedAt    time.Time // zero while open
	reviews     []review
	merge       *merge // nil unless merged

	// mergeState is the mergeable_state while mergeable, "" being
	// "clean" (SetMergeState); reviewDecision is GraphQL's
	// PullRequest.reviewDecision, "" being null: no review required
	// (SetReviewDecision).
	mergeState, reviewDecision string
	// labels are those LabelPull put on it.
	labels []string
}

// merge records how a pull request was merged.
type merge struct {
	sha  string // the merge commit, or the squashed or last rebased one
	base string // main before the merge, for pulls/N/files
	by   string // login
	at   time.Time
}

type comment struct {
	Comment
	repo    string
	number  int
	created time.Time
	updated time.Time
	// byUser marks a comment a webhook or PostComment stood for: the API
	// serves it, but Comments, which lists what atoll wrote, leaves it out.
	byUser    bool
	reactions []reaction
}

// githubNow is the time as GitHub's API reports it: UTC, to the second.
func githubNow() time.Time { return time.Now().UTC().Truncate(time.Second) }

// touch notes that p changed now, as GitHub's updated_at does: opened,
// pushed to, closed, reopened, merged, made a draft or ready, reviewed or
// commented on.
func (p *pull) touch() { p.updated = githubNow() }

type statusKey struct{ repo, sha string }

// userKey is a login in some scope: a repository or a team.
type userKey struct{ scope, login string }

// Pull is a pull request as the fake holds it, or a GitLab merge request:
// Repo is then the project's path ("group/sub/project"), Number its iid
// and Branch its source branch.
type Pull struct {
	Repo    string // "owner/name"
	Number  int
	HeadSHA string
	Branch  string
	Author  string
	Draft   bool
	Open    bool
	// Fork is the repository ("owner/name") the head branch is in when it
	// is not Repo. Its commits live in Repo all the same, as they do on
	// GitHub under refs/pull/N/head.
	Fork string
}

// Comment is an issue or pull request comment posted through the API, or
// a GitLab note.
type Comment struct {
	ID     int64
	Author string
	Body   string
	// Edits counts the times the body was replaced.
	Edits int
	// Written is when the body was last written, created or edited, to
	// the clock's precision (the forge's own times are in seconds): for
	// benchmarks that time atoll's answers.
	Written time.Time
	// Minimized is set by GraphQL's minimizeComment, with its classifier
	// as GitHub reports it: "outdated", "resolved", "off-topic" and so on.
	Minimized       bool
	MinimizedReason string
}

// Status is one commit status as last set for its context (on GitLab, its
// name).
type Status struct {
	SHA         string
	Context     string
	State       string
	Description string
	TargetURL   string
}

// NewGitHub starts a fake GitHub on 127.0.0.1; it stops when t ends.
func NewGitHub(t T, opts GitHubOptions) *GitHub {
	t.Helper()
	g := &GitHub{
		gitHost: newGitHost(t, "fake github", gitIdentity{
			author:         "octocat",
			emailDomain:    "users.noreply.github.com",
			committerName:  "GitHub",
			committerEmail: "noreply@github.com",
		}),
		token:     cmp.Or(opts.Token, "test-token"),
		secret:    opts.WebhookSecret,
		bot:       cmp.Or(opts.BotLogin, "atoll-bot"),
		fixtures:  loadFixtures(t),
		repos:     map[string]*repo{},
		statuses:  map[statusKey][]Status{},
		checkRuns: map[statusKey][]checkRun{},
		perms:     map[userKey]string{},
		teams:     map[userKey]bool{},
	}
	g.meter = newMeter(g.rateStyle())
	g.defaultPerm = cmp.Or(opts.DefaultPermission, "write")
	if _, ok := roles[g.defaultPerm]; !ok {
		t.Fatalf("fake github: unknown DefaultPermission %q", opts.DefaultPermission)
	}
	g.endpoint = listen(t, "fake github", opts.TLS)

	mux := http.NewServeMux()
	g.routeAPI(mux)
	mux.Handle("/git/", g.gitHandler())
	mux.HandleFunc("/", g.servePages)
	g.serve(t, mux)
	return g
}

// URL is the server's root, http://127.0.0.1:PORT (https:// with
// GitHubOptions.TLS), without a trailing slash.
func (g *GitHub) URL() string { return g.url }

// APIURL is the REST API root as GitHub Enterprise Server lays it out,
// for go-github's BaseURL: URL()+"/api/v3/".
func (g *GitHub) APIURL() string { return g.url + "/api/v3/" }

// Token is the credential the fake accepts.
func (g *GitHub) Token() string { return g.token }

// BotLogin is the login of the token's user.
func (g *GitHub) BotLogin() string { return g.bot }

// CloneURL is the HTTPS-style clone URL of a repository, served by git
// http-backend behind basic auth.
func (g *GitHub) CloneURL(fullName string) string { return g.url + "/git/" + fullName + ".git" }

// Pull returns the current state of a pull request; the zero Pull if there
// is none.
func (g *GitHub) Pull(repo string, number int) Pull {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, _ := g.pullLocked(repo, number)
	return p
}

func (g *GitHub) pullLocked(repo string, number int) (Pull, bool) {
	p := g.statePullLocked(repo, number)
	if p == nil {
		return Pull{}, false
	}
	return p.Pull, true
}

// statePullLocked is the fake's own record of a pull request, or nil.
func (g *GitHub) statePullLocked(repo string, number int) *pull {
	r := g.repos[repo]
	if r == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(r.pulls, number, func(p *pull, n int) int { return cmp.Compare(p.Number, n) })
	if !ok {
		return nil
	}
	return r.pulls[i]
}

// Comments returns the comments posted through the API on an issue or pull
// request, in creation order. Comments sent as webhooks (SendPullComment
// and the like) are not stored: they stand for what users wrote, and
// tests assert on what atoll wrote.
func (g *GitHub) Comments(repo string, number int) []Comment {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Comment
	for _, c := range g.comments {
		if c.repo == repo && c.number == number && !c.byUser {
			out = append(out, c.Comment)
		}
	}
	return out
}

// AllComments returns every comment posted through the API, on any issue
// or pull request, in creation order.
func (g *GitHub) AllComments() []Comment {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Comment
	for _, c := range g.comments {
		if !c.byUser {
			out = append(out, c.Comment)
		}
	}
	return out
}

// commentDump describes every comment atoll posted, for a test's failure.
func (g *GitHub) commentDump() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var b strings.Builder
	for _, c := range g.comments {
		if c.byUser {
			continue
		}
		body := c.Body
		if len(body) > 300 {
			body = body[:300] + "…"
		}
		fmt.Fprintf(&b, "%s#%d comment %d: %q\n", c.repo, c.number, c.ID, body)
	}
	if b.Len() == 0 {
		return "(none)\n"
	}
	return b.String()
}

// Unhandled lists the API requests ("METHOD /path") the fake has no
// handler for and answered 404, in arrival order.
func (g *GitHub) Unhandled() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.unhandled)
}

// GitRequests counts the authenticated git HTTP requests served.
func (g *GitHub) GitRequests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gitRequests
}

// FailGit makes the next n git HTTP requests answer 500, as a forge in
// trouble does; with n < 0, every one does until FailGit(0).
func (g *GitHub) FailGit(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gitFailures = n
}

// GitHubRequests counts the authenticated API requests, REST and GraphQL,
// whose path starts with pathPrefix: "/api/v3/repos/acme/infra/pulls/1/"
// or "/api/graphql", say; "" counts them all.
func (g *GitHub) GitHubRequests(pathPrefix string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, p := range g.apiRequests {
		if strings.HasPrefix(p, pathPrefix) {
			n++
		}
	}
	return n
}

// WaitFor polls cond every 20ms until it holds, failing the test if it
// does not within timeout.
func (g *GitHub) WaitFor(t T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	waitFor(t, timeout, what, cond, g.commentDump)
}

// waitFor polls cond every 20ms until it holds, failing the test with
// dump's account of the comments if it does not within timeout.
func waitFor(t T, timeout time.Duration, what string, cond func() bool, dump func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; the fake holds these comments:\n%s", timeout, what, dump())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
