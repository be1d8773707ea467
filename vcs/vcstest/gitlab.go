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

// GitLabOptions configures a fake GitLab. The zero value is usable.
type GitLabOptions struct {
	// Token is the only credential the fake accepts: in a PRIVATE-TOKEN
	// header or as "Authorization: Bearer TOKEN" on the API, and as the
	// basic-auth password (any user name) for git. Default "test-token".
	Token string
	// WebhookSecret is sent as X-Gitlab-Token with every delivery. Empty
	// sends none.
	WebhookSecret string
	// BotUsername is the username of the token's user (GET /user).
	// Default "atoll-bot".
	BotUsername string
	// DefaultAccess is the access level every user has on every project
	// unless SetPermission or SetGroupPermission says otherwise: guest,
	// reporter, developer, maintainer, owner or none, or a fake GitHub
	// role as SetPermission takes it. Default "developer" (30). Groups
	// have no members but those SetGroupPermission adds.
	DefaultAccess string
	// DiffMaxFiles, when positive, caps the files a merge request's diff
	// holds, as GitLab's diff_max_files setting (1000 unless an
	// administrator changes it) does: the diffs endpoint lists only the
	// first DiffMaxFiles files and changes_count reads "DiffMaxFiles+".
	// Zero lists every file.
	DiffMaxFiles int
	// TLS serves the API and git over HTTPS, as GitHubOptions.TLS does.
	TLS bool
}

// GitLab is a fake GitLab server. Its methods are safe for concurrent use.
type GitLab struct {
	*gitHost // bare repositories: root/group/…/project.git
	token    string
	secret   string
	bot      string
	fixtures map[string][]byte // testdata/gitlab by file name
	meter    *meter            // rate limit and conditional requests

	*endpoint // where it listens (url), and its certificate over HTTPS

	defaultAccess int
	diffMaxFiles  int

	mu            sync.Mutex
	projects      map[string]*project // by path with namespace
	forks         map[string]int64    // ids of the projects merge requests come from; not served over git
	groups        map[string]int64    // ids by full path
	users         map[string]bool     // usernames the fake has met
	access        map[userKey]int     // "project:PATH" or "group:PATH", and username
	notes         []*note             // in creation order
	lastID        int64               // last id handed out, to notes, merge requests and the like
	lastProjectID int64
	lastGroupID   int64
	statuses      map[statusKey][]glStatus
	pipelines     map[statusKey]int64
	diffs         map[[2]string][]mrDiff // by base and head
	unhandled     []string
	apiRequests   []string // escaped paths of authenticated API requests
	gitRequests   int
}

// project is one project the fake serves. Fields other than mrs are set
// once by CreateRepo.
type project struct {
	path string
	id   int64
	bare string
	work string
	mrs  []*mergeRequest // mrs[i].Number == i+1; guarded by GitLab.mu
	// issues have iids of their own: issues[i].Number == i+1; guarded
	// by GitLab.mu.
	issues []*glIssue
}

// mergeRequest is a merge request with the state only the API shows.
type mergeRequest struct {
	Pull
	id       int64  // global, beside the per-project iid (Pull.Number)
	title    string // without the "Draft: " prefix a draft's title has
	local    string // the work clone's branch for it
	created  time.Time
	updated  time.Time
	closedAt time.Time // zero while open
	prevHead string    // the head before the last push: a push update's oldrev
	// baseSHA and startSHA are diff_refs as of the last push: the merge
	// base with main, and main's tip.
	baseSHA, startSHA string
	conflict          bool   // SetMergeable(false)
	blocked           string // SetMergeStatus: a detailed_merge_status other than conflict
	approvals         []approval
	merged            *mrMerge // nil unless merged
	removeSource      *bool    // should_remove_source_branch, once a merge set it
}

// mrMerge records how a merge request was merged.
type mrMerge struct {
	sha       string // the merge commit; empty for a squash
	squashSHA string
	by        string
	at        time.Time
}

type approval struct {
	user string
	at   time.Time
}

// note is a comment on a merge request or an issue.
type note struct {
	Comment
	project  string
	noteable string // "MergeRequest" or "Issue"
	iid      int
	created  time.Time
	updated  time.Time
	// byUser marks a note a webhook or PostComment stood for: the API
	// serves it, but Comments, which lists what atoll wrote, leaves it out.
	byUser bool
	awards []award
}

// award is an award emoji on a note.
type award struct {
	id   int64
	name string
	user string
	at   time.Time
}

// NewGitLab starts a fake GitLab on 127.0.0.1; it stops when t ends.
func NewGitLab(t T, opts GitLabOptions) *GitLab {
	t.Helper()
	g := &GitLab{
		gitHost: newGitHost(t, "fake gitlab", gitIdentity{
			author:         "root",
			emailDomain:    "users.noreply.gitlab.com",
			committerName:  "GitLab",
			committerEmail: "noreply@gitlab.com",
		}),
		token:         cmp.Or(opts.Token, "test-token"),
		secret:        opts.WebhookSecret,
		bot:           cmp.Or(opts.BotUsername, "atoll-bot"),
		fixtures:      loadGitLabFixtures(t),
		diffMaxFiles:  opts.DiffMaxFiles,
		projects:      map[string]*project{},
		forks:         map[string]int64{},
		groups:        map[string]int64{},
		users:         map[string]bool{},
		access:        map[userKey]int{},
		lastID:        1000, // global ids unlike any iid, as on a busy GitLab
		lastProjectID: 100,
		lastGroupID:   10,
		statuses:      map[statusKey][]glStatus{},
		pipelines:     map[statusKey]int64{},
		diffs:         map[[2]string][]mrDiff{},
	}
	g.meter = newMeter(g.rateStyle())
	level, ok := accessLevels[cmp.Or(opts.DefaultAccess, "developer")]
	if !ok {
		t.Fatalf("fake gitlab: unknown DefaultAccess %q", opts.DefaultAccess)
	}
	g.defaultAccess = level
	g.users[g.bot] = true
	g.endpoint = listen(t, "fake gitlab", opts.TLS)

	mux := http.NewServeMux()
	g.routeAPI(mux)
	mux.Handle("/", g.gitHandler())
	g.serve(t, mux)
	return g
}

// URL is the server's root, http://127.0.0.1:PORT (https:// with
// GitLabOptions.TLS), without a trailing slash. Projects' web pages
// are under it, as on gitlab.com.
func (g *GitLab) URL() string { return g.url }

// APIURL is the REST API root, for go-gitlab's WithBaseURL:
// URL()+"/api/v4/".
func (g *GitLab) APIURL() string { return g.url + "/api/v4/" }

// Token is the credential the fake accepts.
func (g *GitLab) Token() string { return g.token }

// BotLogin is the username of the token's user.
func (g *GitLab) BotLogin() string { return g.bot }

// CloneURL is the HTTP clone URL of a project ("group/sub/project"),
// served by git http-backend behind basic auth: URL()+"/PATH.git", as
// GitLab's http_url_to_repo.
func (g *GitLab) CloneURL(path string) string { return g.url + "/" + path + ".git" }

// webURL is a project's page.
func (g *GitLab) webURL(path string) string { return g.url + "/" + path }

// Pull returns the current state of a merge request; the zero Pull if
// there is none.
func (g *GitLab) Pull(repo string, iid int) Pull {
	g.mu.Lock()
	defer g.mu.Unlock()
	if mr := g.mrLocked(repo, iid); mr != nil {
		return mr.Pull
	}
	return Pull{}
}

// mrLocked is the fake's record of a merge request, or nil.
func (g *GitLab) mrLocked(repo string, iid int) *mergeRequest {
	p := g.projects[repo]
	if p == nil || iid < 1 || iid > len(p.mrs) {
		return nil
	}
	return p.mrs[iid-1]
}

// Comments returns the notes posted through the API on a merge request,
// in creation order. Notes sent as webhooks (SendPullComment and the
// like) stand for what users wrote and are left out: tests assert on
// what atoll wrote.
func (g *GitLab) Comments(repo string, iid int) []Comment {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Comment
	for _, n := range g.notes {
		if n.project == repo && n.noteable == "MergeRequest" && n.iid == iid && !n.byUser {
			out = append(out, n.Comment)
		}
	}
	return out
}

// AllComments returns every note posted through the API, in creation
// order.
func (g *GitLab) AllComments() []Comment {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Comment
	for _, n := range g.notes {
		if !n.byUser {
			out = append(out, n.Comment)
		}
	}
	return out
}

// noteDump describes every note atoll posted, for a test's failure.
func (g *GitLab) noteDump() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var b strings.Builder
	for _, n := range g.notes {
		if n.byUser {
			continue
		}
		body := n.Body
		if len(body) > 300 {
			body = body[:300] + "…"
		}
		fmt.Fprintf(&b, "%s!%d note %d: %q\n", n.project, n.iid, n.ID, body)
	}
	if b.Len() == 0 {
		return "(none)\n"
	}
	return b.String()
}

// Unhandled lists the API requests ("METHOD /escaped/path") the fake has
// no handler for and answered 404, in arrival order.
func (g *GitLab) Unhandled() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.unhandled)
}

// GitRequests counts the authenticated git HTTP requests served.
func (g *GitLab) GitRequests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gitRequests
}

// GitLabRequests counts the authenticated API requests whose escaped path
// starts with pathPrefix: "/api/v4/projects/acme%2Finfra/merge_requests/1",
// say; "" counts them all.
func (g *GitLab) GitLabRequests(pathPrefix string) int {
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
func (g *GitLab) WaitFor(t T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	waitFor(t, timeout, what, cond, g.noteDump)
}

// UserID is the id the fake gives username, the same in the API and in
// webhooks. The fake knows the user from then on: GET /users finds it.
func (g *GitLab) UserID(username string) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.users[username] = true
	return userID(username)
}

// meetLocked notes that the fake knows users, so that GET /users finds
// them.
func (g *GitLab) meetLocked(users ...string) {
	for _, u := range users {
		if u != "" {
			g.users[u] = true
		}
	}
}

// now is the time as GitLab's API reports it: UTC, to the millisecond.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// apiTime formats t as GitLab's REST API does; nil (JSON null) for the
// zero time.
func apiTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// fullTitle is a merge request's title: drafts start with "Draft: ".
func (mr *mergeRequest) fullTitle() string {
	if mr.Draft {
		return "Draft: " + mr.title
	}
	return mr.title
}

// state is a merge request's state as the API spells it.
func (mr *mergeRequest) state() string {
	switch {
	case mr.merged != nil:
		return "merged"
	case !mr.Open:
		return "closed"
	}
	return "opened"
}

// setOpen opens or closes mr, noting when it closed.
func (mr *mergeRequest) setOpen(open bool) {
	switch {
	case open:
		mr.closedAt = time.Time{}
	case mr.Open || mr.closedAt.IsZero():
		mr.closedAt = now()
	}
	mr.Open = open
	mr.touch()
}

// touch notes that mr changed now, as GitLab's updated_at does: opened,
// pushed to, closed, reopened, merged, retitled, made a draft or ready,
// approved or unapproved, or a note written or edited on it.
func (mr *mergeRequest) touch() { mr.updated = now() }

// detailedStatus is a merge request's detailed_merge_status.
func (mr *mergeRequest) detailedStatus() string {
	switch {
	case !mr.Open:
		return "not_open"
	case mr.blocked != "":
		return mr.blocked
	case mr.Draft:
		return "draft_status"
	case mr.conflict:
		return "conflict"
	}
	return "mergeable"
}

// mergeStatus is the deprecated merge_status, which only tells whether
// git could merge.
func (mr *mergeRequest) mergeStatus() string {
	if mr.conflict {
		return "cannot_be_merged"
	}
	return "can_be_merged"
}
