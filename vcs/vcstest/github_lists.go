package vcstest

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	gh "github.com/google/go-github/v60/github"
)

// detailOnly are the fields of a pull request that pulls/N has and the
// list of pull requests does not (GitHub's pull-request-simple).
var detailOnly = []string{
	"merged", "mergeable", "rebaseable", "mergeable_state", "merged_by", "comments", "review_comments",
	"maintainer_can_modify", "commits", "additions", "deletions", "changed_files",
}

// listPulls answers GET pulls: a repository's pull requests in state
// (open, the default, closed or all), sorted by sort (created, the
// default, or updated) in direction (desc by default when sorting by
// created, asc otherwise, as GitHub documents), a page at a time. Each is
// shaped as pulls/N, less the fields only a single pull request has.
func (g *GitHub) listPulls(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	q := r.URL.Query()
	st, by := cmp.Or(q.Get("state"), "open"), cmp.Or(q.Get("sort"), "created")
	dir := q.Get("direction")
	if dir == "" {
		dir = "asc"
		if by == "created" {
			dir = "desc"
		}
	}
	if !knownParams(w, "PullRequest", map[string][]string{
		"state": {st, "open", "closed", "all"}, "sort": {by, "created", "updated"}, "direction": {dir, "asc", "desc"},
	}) {
		return
	}
	g.mu.Lock()
	var pulls []pull
	for _, p := range rp.pulls {
		if st == "all" || st == state(p.Open) {
			pulls = append(pulls, *p)
		}
	}
	g.mu.Unlock()
	slices.SortFunc(pulls, func(a, b pull) int {
		c := a.created.Compare(b.created)
		if by == "updated" {
			c = a.updated.Compare(b.updated)
		}
		return flip(dir, cmp.Or(c, cmp.Compare(a.Number, b.Number)))
	})

	base, err := g.revParse(r.Context(), rp.bare, "refs/heads/main")
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	lo, hi := g.paginate(w, r, len(pulls))
	out := []map[string]any{}
	for _, p := range pulls[lo:hi] {
		pr, err := g.pullJSON(p.Pull, base)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		for _, k := range detailOnly {
			delete(pr, k)
		}
		out = append(out, pr)
	}
	writeJSON(w, http.StatusOK, out)
}

// knownParams checks that each query parameter's value, the first of its
// list, is one of the rest, answering 422 as GitHub does if not.
func knownParams(w http.ResponseWriter, resource string, params map[string][]string) bool {
	for name, vals := range params {
		if !slices.Contains(vals[1:], vals[0]) {
			validationFailed(w, gh.Error{Resource: resource, Field: name, Code: "invalid"})
			return false
		}
	}
	return true
}

// flip is c for direction asc and its reverse for desc.
func flip(direction string, c int) int {
	if direction == "desc" {
		return -c
	}
	return c
}

// listRepoComments answers GET issues/comments: every comment in the
// repository, on issues and pull requests, atoll's and users', updated at
// or after since (RFC 3339), a page at a time. They come by ascending id,
// or sorted by sort (created or updated) in direction (asc by default),
// which GitHub ignores without sort.
func (g *GitHub) listRepoComments(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	q := r.URL.Query()
	by, dir := q.Get("sort"), cmp.Or(q.Get("direction"), "asc")
	if !knownParams(w, "IssueComment", map[string][]string{
		"sort": {cmp.Or(by, "created"), "created", "updated"}, "direction": {dir, "asc", "desc"},
	}) {
		return
	}
	var since time.Time
	if s := q.Get("since"); s != "" {
		var err error
		if since, err = time.Parse(time.RFC3339, s); err != nil {
			validationFailed(w, gh.Error{Resource: "IssueComment", Field: "since", Code: "invalid"})
			return
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var comments []*comment
	for _, c := range g.comments {
		if c.repo == rp.fullName && !c.updated.Before(since) {
			comments = append(comments, c)
		}
	}
	if by != "" {
		slices.SortFunc(comments, func(a, b *comment) int {
			c := a.created.Compare(b.created)
			if by == "updated" {
				c = a.updated.Compare(b.updated)
			}
			return flip(dir, cmp.Or(c, cmp.Compare(a.ID, b.ID)))
		})
	}
	lo, hi := g.paginate(w, r, len(comments))
	out := []*gh.IssueComment{}
	for _, c := range comments[lo:hi] {
		out = append(out, g.commentJSONLocked(c))
	}
	writeJSON(w, http.StatusOK, out)
}

// listUserRepos answers GET /user/repos: the repositories the bot can
// see, sorted by full_name (asc by default) or, for sort created, updated
// or pushed, by creation (desc by default), a page at a time, each shaped
// as a payload's repository with the bot's permissions.
func (g *GitHub) listUserRepos(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	by := cmp.Or(q.Get("sort"), "full_name")
	dir := q.Get("direction")
	if dir == "" {
		dir = "desc"
		if by == "full_name" {
			dir = "asc"
		}
	}
	if !knownParams(w, "Repository", map[string][]string{
		"sort": {by, "full_name", "created", "updated", "pushed"}, "direction": {dir, "asc", "desc"},
	}) {
		return
	}
	g.mu.Lock()
	var repos []*repo
	roles := map[string]string{}
	for _, rp := range g.repos {
		if role := g.roleLocked(rp.fullName, g.bot); role != "none" {
			repos, roles[rp.fullName] = append(repos, rp), role
		}
	}
	g.mu.Unlock()
	slices.SortFunc(repos, func(a, b *repo) int {
		if by == "full_name" {
			return flip(dir, cmp.Compare(a.fullName, b.fullName))
		}
		return flip(dir, cmp.Compare(a.id, b.id))
	})
	lo, hi := g.paginate(w, r, len(repos))
	out := []map[string]any{}
	for _, rp := range repos[lo:hi] {
		doc, err := g.fixtureDoc("pull_request.opened.json", rp.fullName)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		item := object(doc, "repository")
		g.fillRepo(item, rp.fullName)
		item["permissions"] = rolePermissions(roles[rp.fullName])
		out = append(out, item)
	}
	writeJSON(w, http.StatusOK, out)
}

// rolePermissions is a repository's permissions for a user with role, as
// GitHub lists them beside the repository.
func rolePermissions(role string) map[string]bool {
	rank := map[string]int{"read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}[role]
	return map[string]bool{"pull": rank >= 1, "triage": rank >= 2, "push": rank >= 3, "maintain": rank >= 4, "admin": rank >= 5}
}
