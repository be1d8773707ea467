package vcstest

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// validValues checks that each query parameter's value, the first of its
// list, is one of the rest, answering 400 as GitLab does if not.
func validValues(w http.ResponseWriter, params map[string][]string) bool {
	for name, vals := range params {
		if !slices.Contains(vals[1:], vals[0]) {
			paramError(w, name+" does not have a valid value")
			return false
		}
	}
	return true
}

// timeValue reads query parameter name, an ISO 8601 time, answering 400
// as GitLab does if it is not one. It is the zero time when absent.
func timeValue(w http.ResponseWriter, q url.Values, name string) (time.Time, bool) {
	s := q.Get(name)
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		paramError(w, name+" is invalid")
		return time.Time{}, false
	}
	return t, true
}

// orderedBy compares a and b, created or updated at those times, by
// order_by (created_at or updated_at) and then id, in sort order.
func orderedBy(orderBy, sort string, aCreated, aUpdated, bCreated, bUpdated time.Time, aID, bID int64) int {
	c := aCreated.Compare(bCreated)
	if orderBy == "updated_at" {
		c = aUpdated.Compare(bUpdated)
	}
	return flip(sort, cmp.Or(c, cmp.Compare(aID, bID)))
}

// listMRs answers GET /projects/:id/merge_requests: the project's merge
// requests in state (opened, closed, merged, locked or all, the default)
// updated at or after updated_after, ordered by order_by (created_at, the
// default, or updated_at) in sort order (desc, the default, or asc), a
// page at a time, each as a list shows it (mrBasicJSON).
func (g *GitLab) listMRs(w http.ResponseWriter, r *http.Request) {
	p := g.projectFor(w, r)
	if p == nil {
		return
	}
	q := r.URL.Query()
	st, order, dir := cmp.Or(q.Get("state"), "all"), cmp.Or(q.Get("order_by"), "created_at"), cmp.Or(q.Get("sort"), "desc")
	if !validValues(w, map[string][]string{
		"state":    {st, "opened", "closed", "merged", "locked", "all"},
		"order_by": {order, "created_at", "updated_at"},
		"sort":     {dir, "asc", "desc"},
	}) {
		return
	}
	after, ok := timeValue(w, q, "updated_after")
	if !ok {
		return
	}
	g.mu.Lock()
	var mrs []mergeRequest
	for _, mr := range p.mrs {
		if (st == "all" || st == mr.state()) && !mr.updated.Before(after) {
			mrs = append(mrs, *mr)
		}
	}
	g.mu.Unlock()
	slices.SortFunc(mrs, func(a, b mergeRequest) int {
		return orderedBy(order, dir, a.created, a.updated, b.created, b.updated, a.id, b.id)
	})
	lo, hi := g.paginate(w, r, len(mrs))
	out := []map[string]any{}
	for _, mr := range mrs[lo:hi] {
		snap, notes := g.snapshot(p, mr.Number)
		out = append(out, g.mrBasicJSON(p, snap, notes))
	}
	writeJSON(w, http.StatusOK, out)
}

// listNotes answers GET merge_requests/:iid/notes: every note on the
// merge request, atoll's and users', ordered by order_by (created_at, the
// default, or updated_at) in sort order (desc, the default, or asc), a
// page at a time, each as getNote shows it.
func (g *GitLab) listNotes(w http.ResponseWriter, r *http.Request) {
	p, mr := g.mrFor(w, r)
	if mr == nil {
		return
	}
	q := r.URL.Query()
	order, dir := cmp.Or(q.Get("order_by"), "created_at"), cmp.Or(q.Get("sort"), "desc")
	if !validValues(w, map[string][]string{"order_by": {order, "created_at", "updated_at"}, "sort": {dir, "asc", "desc"}}) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var notes []*note
	for _, n := range g.notes {
		if n.project == p.path && n.noteable == "MergeRequest" && n.iid == mr.Number {
			notes = append(notes, n)
		}
	}
	slices.SortFunc(notes, func(a, b *note) int {
		return orderedBy(order, dir, a.created, a.updated, b.created, b.updated, a.ID, b.ID)
	})
	lo, hi := g.paginate(w, r, len(notes))
	out := []map[string]any{}
	for _, n := range notes[lo:hi] {
		out = append(out, g.noteJSONLocked(n))
	}
	writeJSON(w, http.StatusOK, out)
}

// simpleProjectFields are what a project has with simple=true: GitLab's
// BasicProjectDetails.
var simpleProjectFields = []string{
	"id", "description", "name", "name_with_namespace", "path", "path_with_namespace", "created_at",
	"default_branch", "tag_list", "topics", "ssh_url_to_repo", "http_url_to_repo", "web_url", "readme_url",
	"avatar_url", "forks_count", "star_count", "last_activity_at", "namespace",
}

// listProjects answers GET /projects: the projects the bot is a member
// of, which are all a private GitLab shows it with membership=true or
// without, ordered by order_by (created_at, the default, id, name or
// path) in sort order (desc, the default, or asc), a page at a time, as
// GET /projects/:id shows them or, with simple=true, their basic fields.
func (g *GitLab) listProjects(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	order, dir := cmp.Or(q.Get("order_by"), "created_at"), cmp.Or(q.Get("sort"), "desc")
	if !validValues(w, map[string][]string{"order_by": {order, "created_at", "id", "name", "path"}, "sort": {dir, "asc", "desc"}}) {
		return
	}
	simple, _ := strconv.ParseBool(q.Get("simple"))
	g.mu.Lock()
	defer g.mu.Unlock()
	var projects []*project
	for _, p := range g.projects {
		if _, member := g.projectAccessLocked(p.path, g.bot); member {
			projects = append(projects, p)
		}
	}
	slices.SortFunc(projects, func(a, b *project) int {
		switch order {
		case "name":
			return flip(dir, cmp.Or(cmp.Compare(projectName(a.path), projectName(b.path)), cmp.Compare(a.id, b.id)))
		case "path":
			return flip(dir, cmp.Or(cmp.Compare(a.path, b.path), cmp.Compare(a.id, b.id)))
		}
		return flip(dir, cmp.Compare(a.id, b.id)) // all were created at firstCommit
	})
	lo, hi := g.paginate(w, r, len(projects))
	out := []map[string]any{}
	for _, p := range projects[lo:hi] {
		full := g.projectJSONLocked(p.path, p.id)
		if simple {
			basic := map[string]any{}
			for _, k := range simpleProjectFields {
				basic[k] = full[k]
			}
			full = basic
		}
		out = append(out, full)
	}
	writeJSON(w, http.StatusOK, out)
}
