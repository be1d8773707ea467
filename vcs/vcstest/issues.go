package vcstest

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gh "github.com/google/go-github/v60/github"
)

// Issue is an issue as a fake holds it: on GitHub numbered in one
// sequence with the repository's pull requests, on GitLab by its iid.
type Issue struct {
	Number              int
	Title, Body, Author string
	Labels              []string
	Open                bool
	// Comments are the bodies of the comments or notes posted on it
	// through the API, in creation order.
	Comments []string
}

// IssueSpec describes an issue for OpenIssue.
type IssueSpec struct {
	// Author is the login that opens it; default "octocat".
	Author string
	// Title defaults to "Issue #N".
	Title  string
	Body   string
	Labels []string
}

// issue is an issue with the state only the API shows.
type issue struct {
	Issue
	id       int64
	created  time.Time
	updated  time.Time
	closedAt time.Time // zero while open
	// reason is the state_reason: "completed" or "not_planned" once
	// closed, "reopened" once reopened, "" before either.
	reason string
}

// OpenIssue opens an issue in repo as spec.Author, as a user does on
// GitHub's pages, and returns it.
func (g *GitHub) OpenIssue(t T, repo string, spec IssueSpec) Issue {
	t.Helper()
	r := g.repo(t, repo)
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.addIssueLocked(r, cmp.Or(spec.Author, "octocat"), spec.Title, spec.Body, spec.Labels).Issue
	out.Labels = slices.Clone(out.Labels)
	return out
}

// LabelPull puts labels on pull request number, as a user does; the
// list of issues, which shows pull requests too, then finds it by them.
// It panics if there is no such pull request.
func (g *GitHub) LabelPull(repo string, number int, labels ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.mustPullLocked(repo, number)
	p.labels = append(p.labels, labels...)
}

// Issues returns the issues of repo, in number order, with the comments
// posted on each through the API.
func (g *GitHub) Issues(repo string) []Issue {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.repos[repo]
	if r == nil {
		return nil
	}
	var out []Issue
	for _, is := range r.issues {
		i := is.Issue
		i.Labels = slices.Clone(i.Labels)
		for _, c := range g.comments {
			if c.repo == repo && c.number == i.Number && !c.byUser {
				i.Comments = append(i.Comments, c.Body)
			}
		}
		out = append(out, i)
	}
	return out
}

// addIssueLocked opens an issue in r by author, with the repository's
// next number, titled "Issue #N" when title is "".
func (g *GitHub) addIssueLocked(r *repo, author, title, body string, labels []string) *issue {
	r.numbers++
	g.lastID++
	now := githubNow()
	is := &issue{Issue: Issue{Number: r.numbers, Title: cmp.Or(title, fmt.Sprintf("Issue #%d", r.numbers)),
		Body: body, Author: author, Labels: slices.Clone(labels), Open: true}, id: g.lastID, created: now, updated: now}
	r.issues = append(r.issues, is)
	return is
}

// issueLocked is the issue number of r, or nil.
func issueLocked(r *repo, number int) *issue {
	i, ok := slices.BinarySearchFunc(r.issues, number, func(is *issue, n int) int { return cmp.Compare(is.Number, n) })
	if !ok {
		return nil
	}
	return r.issues[i]
}

// issueInput is the body of POST issues and PATCH issues/N: each field
// nil when absent.
type issueInput struct {
	Title       *string   `json:"title"`
	Body        *string   `json:"body"`
	Labels      *[]string `json:"labels"`
	State       *string   `json:"state"`
	StateReason *string   `json:"state_reason"`
}

// valid checks in's fields as GitHub does, answering 422 if one is
// wrong; creating, the title is required.
func (in issueInput) valid(w http.ResponseWriter, creating bool) bool {
	field := func(name, code string) bool {
		validationFailed(w, gh.Error{Resource: "Issue", Field: name, Code: code})
		return false
	}
	switch {
	case creating && in.Title == nil:
		return field("title", "missing_field")
	case in.Title != nil && strings.TrimSpace(*in.Title) == "":
		return field("title", "missing_field")
	case in.Title != nil && utf8.RuneCountInString(*in.Title) > 256:
		return field("title", "custom")
	case in.Body != nil && utf8.RuneCountInString(*in.Body) > maxCommentLen:
		return field("body", "custom")
	case in.State != nil && *in.State != "open" && *in.State != "closed":
		return field("state", "invalid")
	case in.StateReason != nil && !slices.Contains([]string{"completed", "not_planned", "reopened"}, *in.StateReason):
		return field("state_reason", "invalid")
	}
	return true
}

// createIssue answers POST issues: an issue by the caller, with labels
// GitHub creates if the repository lacks them.
func (g *GitHub) createIssue(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	var in issueInput
	if !decodeJSON(w, r, &in) || !in.valid(w, true) {
		return
	}
	var labels []string
	if in.Labels != nil {
		labels = *in.Labels
	}
	g.mu.Lock()
	out := g.issueJSONLocked(rp, g.addIssueLocked(rp, g.callerOf(r).login, *in.Title, deref(in.Body), labels))
	g.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

// editIssue answers PATCH issues/N: a new title, body, labels or state.
// The fake edits issues only, not pull requests.
func (g *GitHub) editIssue(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	var in issueInput
	if !decodeJSON(w, r, &in) || !in.valid(w, false) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	is := issueLocked(rp, n)
	if is == nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	now := githubNow()
	if in.Title != nil {
		is.Title = *in.Title
	}
	if in.Body != nil {
		is.Body = *in.Body
	}
	if in.Labels != nil {
		is.Labels = slices.Clone(*in.Labels)
	}
	switch {
	case in.State != nil && *in.State == "closed" && is.Open:
		is.Open, is.closedAt, is.reason = false, now, cmp.Or(deref(in.StateReason), "completed")
	case in.State != nil && *in.State == "open" && !is.Open:
		is.Open, is.closedAt, is.reason = true, time.Time{}, "reopened"
	}
	is.updated = now
	writeJSON(w, http.StatusOK, g.issueJSONLocked(rp, is))
}

// listIssues answers GET issues: a repository's issues and pull
// requests, as GitHub lists them, in state (open, the default, closed or
// all), carrying every label of labels (comma-separated) and opened by
// creator when given, sorted by sort (created, the default, or updated)
// in direction (desc by default), a page at a time. A pull request has
// pull_request set.
func (g *GitHub) listIssues(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	q := r.URL.Query()
	st, by, dir := cmp.Or(q.Get("state"), "open"), cmp.Or(q.Get("sort"), "created"), cmp.Or(q.Get("direction"), "desc")
	if !knownParams(w, "Issue", map[string][]string{
		"state": {st, "open", "closed", "all"}, "sort": {by, "created", "updated"}, "direction": {dir, "asc", "desc"},
	}) {
		return
	}
	var labels []string
	if l := q.Get("labels"); l != "" {
		labels = strings.Split(l, ",")
	}
	creator := q.Get("creator")
	keep := func(open bool, author string, have []string) bool {
		return (st == "all" || st == state(open)) && (creator == "" || strings.EqualFold(creator, author)) &&
			hasLabels(have, labels)
	}
	type item struct {
		number           int
		created, updated time.Time
		json             *gh.Issue
	}
	var items []item
	g.mu.Lock()
	for _, is := range rp.issues {
		if keep(is.Open, is.Author, is.Labels) {
			items = append(items, item{is.Number, is.created, is.updated, g.issueJSONLocked(rp, is)})
		}
	}
	for _, p := range rp.pulls {
		if keep(p.Open, p.Author, p.labels) {
			items = append(items, item{p.Number, p.created, p.updated, g.pullIssueJSONLocked(rp, p)})
		}
	}
	g.mu.Unlock()
	slices.SortFunc(items, func(a, b item) int {
		c := a.created.Compare(b.created)
		if by == "updated" {
			c = a.updated.Compare(b.updated)
		}
		return flip(dir, cmp.Or(c, cmp.Compare(a.number, b.number)))
	})
	lo, hi := g.paginate(w, r, len(items))
	out := []*gh.Issue{}
	for _, it := range items[lo:hi] {
		out = append(out, it.json)
	}
	writeJSON(w, http.StatusOK, out)
}

// hasLabels reports whether have holds every label of want, GitHub's
// label names being the same in any case.
func hasLabels(have, want []string) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, strings.TrimSpace(w)) }) {
			return false
		}
	}
	return true
}

// issueJSONLocked is issue is of rp as the REST API shows it.
func (g *GitHub) issueJSONLocked(rp *repo, is *issue) *gh.Issue {
	api := fmt.Sprintf("%srepos/%s", g.APIURL(), rp.fullName)
	self := fmt.Sprintf("%s/issues/%d", api, is.Number)
	comments := 0
	for _, c := range g.comments {
		if c.repo == rp.fullName && c.number == is.Number {
			comments++
		}
	}
	out := &gh.Issue{
		ID:                gh.Int64(is.id),
		NodeID:            gh.String(fmt.Sprintf("I_kwDO%d", is.id)),
		Number:            gh.Int(is.Number),
		State:             gh.String(state(is.Open)),
		Locked:            gh.Bool(false),
		Title:             gh.String(is.Title),
		Body:              gh.String(is.Body),
		User:              g.user(is.Author),
		Labels:            []*gh.Label{},
		Assignees:         []*gh.User{},
		Comments:          gh.Int(comments),
		AuthorAssociation: gh.String("NONE"),
		URL:               gh.String(self),
		HTMLURL:           gh.String(fmt.Sprintf("%s/%s/issues/%d", g.url, rp.fullName, is.Number)),
		CommentsURL:       gh.String(self + "/comments"),
		EventsURL:         gh.String(self + "/events"),
		LabelsURL:         gh.String(self + "/labels{/name}"),
		RepositoryURL:     gh.String(api),
		CreatedAt:         &gh.Timestamp{Time: is.created},
		UpdatedAt:         &gh.Timestamp{Time: is.updated},
	}
	if !is.closedAt.IsZero() {
		out.ClosedAt = &gh.Timestamp{Time: is.closedAt}
	}
	if is.reason != "" {
		out.StateReason = gh.String(is.reason)
	}
	for _, l := range is.Labels {
		id := labelID(rp.fullName, l)
		out.Labels = append(out.Labels, &gh.Label{
			ID: gh.Int64(id), NodeID: gh.String(fmt.Sprintf("LA_kwDO%d", id)), URL: gh.String(api + "/labels/" + l),
			Name: gh.String(l), Color: gh.String("ededed"), Default: gh.Bool(false),
		})
	}
	return out
}

// pullIssueJSONLocked is pull request p of rp as the list of issues
// shows it: an issue with links to the pull request.
func (g *GitHub) pullIssueJSONLocked(rp *repo, p *pull) *gh.Issue {
	out := g.issueJSONLocked(rp, &issue{
		Issue: Issue{Number: p.Number, Title: fmt.Sprintf("Pull request #%d", p.Number), Author: p.Author, Labels: p.labels, Open: p.Open},
		id:    rp.id*100000 + int64(p.Number), created: p.created, updated: p.updated, closedAt: p.closedAt,
	})
	api := fmt.Sprintf("%srepos/%s/pulls/%d", g.APIURL(), rp.fullName, p.Number)
	web := fmt.Sprintf("%s/%s/pull/%d", g.url, rp.fullName, p.Number)
	out.HTMLURL = gh.String(web)
	out.PullRequestLinks = &gh.PullRequestLinks{URL: gh.String(api), HTMLURL: gh.String(web),
		DiffURL: gh.String(web + ".diff"), PatchURL: gh.String(web + ".patch")}
	return out
}

// labelID is the made-up id of label name of repo, the same for the same
// name in any case.
func labelID(repo, name string) int64 {
	h := fnv.New32a()
	h.Write([]byte(repo + "\x00" + strings.ToLower(name)))
	return int64(h.Sum32())
}
