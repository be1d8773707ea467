// Package vcstest is a fake GitHub over real HTTP for tests: the REST API
// subset atoll calls, git over HTTP from real repositories, and signed
// webhooks with GitHub's real payload shapes.
//
// A GitHub listens on 127.0.0.1. Point go-github at APIURL, git at
// CloneURL, and atoll's webhook endpoint receives deliveries built from
// GitHub's documented examples (testdata/github). Tests set up repositories
// and pull requests with real git (CreateRepo, OpenPull, PushToPull), then
// assert on what atoll left behind (Comments, Statuses).
package vcstest

import (
	"cmp"
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitHubOptions configures a fake GitHub. The zero value is usable.
type GitHubOptions struct {
	// Token is the only credential the fake accepts: as a bearer or
	// "token" Authorization header on the API, and as the basic-auth
	// password (any user name) for git. Default "test-token".
	Token string
	// WebhookSecret signs deliveries (X-Hub-Signature-256 and
	// X-Hub-Signature). Empty sends them unsigned.
	WebhookSecret string
	// BotLogin is the login of the token's user (GET /user). Default
	// "atoll-bot".
	BotLogin string
}

// GitHub is a fake GitHub server. Its methods are safe for concurrent use.
type GitHub struct {
	token    string
	secret   string
	bot      string
	url      string
	root     string // bare repositories: root/owner/name.git
	home     string // HOME of every git process
	gitBin   string
	fixtures map[string][]byte // testdata/github by file name

	opMu    sync.Mutex // serialises the helpers that commit and push
	commits int        // commits made so far; dates each one; guarded by opMu

	mu          sync.Mutex
	repos       map[string]*repo
	comments    []*comment // in creation order
	lastID      int64      // last comment id handed out
	statuses    map[statusKey][]Status
	unhandled   []string
	gitRequests int
}

// repo is one repository the fake serves. Fields other than pulls are set
// once by CreateRepo.
type repo struct {
	fullName string
	id       int64
	bare     string // served by git http-backend
	work     string // clone the helpers commit in
	pulls    []Pull // pulls[i].Number == i+1; guarded by GitHub.mu
}

type comment struct {
	Comment
	repo    string
	number  int
	created time.Time
	updated time.Time
}

type statusKey struct{ repo, sha string }

// Pull is a pull request as the fake holds it.
type Pull struct {
	Repo    string // "owner/name"
	Number  int
	HeadSHA string
	Branch  string
	Author  string
	Draft   bool
	Open    bool
}

// Comment is an issue or pull request comment posted through the API.
type Comment struct {
	ID     int64
	Author string
	Body   string
	// Edits counts the times the body was replaced.
	Edits int
}

// Status is one commit status as last set for its context.
type Status struct {
	SHA         string
	Context     string
	State       string
	Description string
	TargetURL   string
}

// NewGitHub starts a fake GitHub on 127.0.0.1; it stops when t ends.
func NewGitHub(t testing.TB, opts GitHubOptions) *GitHub {
	t.Helper()
	g := &GitHub{
		token:    cmp.Or(opts.Token, "test-token"),
		secret:   opts.WebhookSecret,
		bot:      cmp.Or(opts.BotLogin, "atoll-bot"),
		root:     t.TempDir(),
		home:     t.TempDir(),
		gitBin:   findGit(t),
		fixtures: loadFixtures(t),
		repos:    map[string]*repo{},
		statuses: map[statusKey][]Status{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake github: listening: %v", err)
	}
	g.url = "http://" + ln.Addr().String()

	mux := http.NewServeMux()
	g.routeAPI(mux)
	mux.Handle("/git/", g.gitHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // returns http.ErrServerClosed at cleanup
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	})
	return g
}

// URL is the server's root, http://127.0.0.1:PORT, without a trailing slash.
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
	r := g.repos[repo]
	if r == nil || number < 1 || number > len(r.pulls) {
		return Pull{}, false
	}
	return r.pulls[number-1], true
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
		if c.repo == repo && c.number == number {
			out = append(out, c.Comment)
		}
	}
	return out
}

// Statuses returns the latest status of every context set on sha, sorted
// by context.
func (g *GitHub) Statuses(repo, sha string) []Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	latest := map[string]Status{}
	for _, s := range g.statuses[statusKey{repo, sha}] {
		latest[s.Context] = s
	}
	out := make([]Status, 0, len(latest))
	for _, s := range latest {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Context, b.Context) })
	return out
}

// StatusHistory returns every state set for context on sha, oldest first.
func (g *GitHub) StatusHistory(repo, sha, context string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, s := range g.statuses[statusKey{repo, sha}] {
		if s.Context == context {
			out = append(out, s.State)
		}
	}
	return out
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

// WaitFor polls cond every 20ms until it holds, failing the test if it
// does not within timeout.
func (g *GitHub) WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
