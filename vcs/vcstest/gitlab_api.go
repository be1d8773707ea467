package vcstest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// routeAPI registers the REST API subset atoll calls, under /api/v4/.
// Path parameters arrive URL-escaped, as go-gitlab sends them: a project
// is a numeric id or its escaped path ("acme%2Fsub%2Finfra"), a branch
// one escaped segment.
func (g *GitLab) routeAPI(mux *http.ServeMux) {
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, g.authorized(h)) }
	const mr = "/api/v4/projects/{id}/merge_requests/{iid}"
	handle("GET /api/v4/user", g.getUser)
	handle("GET /api/v4/users", g.listUsers)
	handle("GET /api/v4/projects", g.listProjects)
	handle("GET /api/v4/projects/{id}", g.getProject)
	handle("GET /api/v4/projects/{id}/merge_requests", g.listMRs)
	handle("GET "+mr, g.getMR)
	handle("GET "+mr+"/diffs", g.listDiffs)
	handle("GET "+mr+"/approvals", g.getApprovals)
	handle("PUT "+mr+"/merge", g.acceptMR)
	handle("GET "+mr+"/notes", g.listNotes)
	handle("POST "+mr+"/notes", g.createNote)
	handle("GET "+mr+"/notes/{note}", g.getNote)
	handle("PUT "+mr+"/notes/{note}", g.updateNote)
	handle("POST "+mr+"/notes/{note}/award_emoji", g.awardEmoji)
	handle("GET /api/v4/projects/{id}/issues", g.listIssues)
	handle("POST /api/v4/projects/{id}/issues", g.createIssue)
	handle("PUT /api/v4/projects/{id}/issues/{iid}", g.updateIssue)
	handle("POST /api/v4/projects/{id}/issues/{iid}/notes", g.createIssueNote)
	handle("POST /api/v4/projects/{id}/statuses/{sha}", g.createStatus)
	handle("GET /api/v4/projects/{id}/repository/commits/{sha}/statuses", g.listStatuses)
	handle("GET /api/v4/projects/{id}/members/all/{user}", g.getProjectMember)
	handle("GET /api/v4/groups/{id}/members/all/{user}", g.getGroupMember)
	handle("DELETE /api/v4/projects/{id}/repository/branches/{branch}", g.deleteBranch)
	handle("GET /api/v4/projects/{id}/repository/branches/{branch}", g.getBranch)
	handle("GET /api/v4/projects/{id}/repository/commits/{sha}", g.getCommit)
	handle("/api/v4/", g.unhandledAPI)
}

// authorized lets through requests that carry the token in a
// PRIVATE-TOKEN header or as "Authorization: Bearer TOKEN", metered.
func (g *GitLab) authorized(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, bearer, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if r.Header.Get("PRIVATE-TOKEN") != g.token && (!strings.EqualFold(scheme, "bearer") || bearer != g.token) {
			glError(w, http.StatusUnauthorized, "401 Unauthorized")
			return
		}
		g.mu.Lock()
		g.apiRequests = append(g.apiRequests, r.URL.EscapedPath())
		g.mu.Unlock()
		g.meter.serve(w, r, next)
	})
}

// unhandledAPI answers as GitLab does for a route it does not have.
func (g *GitLab) unhandledAPI(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.unhandled = append(g.unhandled, r.Method+" "+r.URL.EscapedPath())
	g.mu.Unlock()
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
}

// glError answers {"message": msg}, the shape of most of GitLab's errors.
func glError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

// paramError answers 400 {"error": msg}, as GitLab's parameter validation
// does: "body is missing", "state does not have a valid value".
func paramError(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg})
}

// decodeBody reads a JSON request body into v. go-gitlab sends every
// POST and PUT body as JSON.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength == 0 {
		return true
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(v); err != nil {
		paramError(w, "The request body is not valid JSON")
		return false
	}
	return true
}

// paginate reads a list request's per_page (default 20, at most 100) and
// page, sets GitLab's offset pagination headers for a list of n items,
// and returns the bounds of the page's items.
func (g *GitLab) paginate(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage < 1 {
		perPage = 20
	}
	perPage = min(perPage, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	pages := max(1, (n+perPage-1)/perPage)
	next, prev := "", ""
	if page < pages {
		next = strconv.Itoa(page + 1)
	}
	if page > 1 {
		prev = strconv.Itoa(page - 1)
	}
	h := w.Header()
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Next-Page", next)
	h.Set("X-Prev-Page", prev)
	h.Set("X-Total", strconv.Itoa(n))
	h.Set("X-Total-Pages", strconv.Itoa(pages))

	base := g.url + r.URL.EscapedPath()
	href := func(page string) string {
		q.Set("page", page)
		q.Set("per_page", strconv.Itoa(perPage))
		return fmt.Sprintf("<%s?%s>", base, q.Encode())
	}
	var links []string
	if prev != "" {
		links = append(links, href(prev)+`; rel="prev"`)
	}
	if next != "" {
		links = append(links, href(next)+`; rel="next"`)
	}
	links = append(links, href("1")+`; rel="first"`, href(strconv.Itoa(pages))+`; rel="last"`)
	h.Set("Link", strings.Join(links, ", "))
	return min((page-1)*perPage, n), min(page*perPage, n)
}

// projectFor finds the project a request names by id or path, answering
// 404 if the fake has none.
func (g *GitLab) projectFor(w http.ResponseWriter, r *http.Request) *project {
	g.mu.Lock()
	p := g.projectLocked(r.PathValue("id"))
	g.mu.Unlock()
	if p == nil {
		glError(w, http.StatusNotFound, "404 Project Not Found")
	}
	return p
}

// projectLocked is the project whose numeric id or path is id, or nil.
func (g *GitLab) projectLocked(id string) *project {
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		for _, p := range g.projects {
			if p.id == n {
				return p
			}
		}
		return nil
	}
	return g.projects[id]
}

// mrFor finds the merge request a request names, answering 404 as GitLab
// does if the fake has none.
func (g *GitLab) mrFor(w http.ResponseWriter, r *http.Request) (*project, *mergeRequest) {
	p := g.projectFor(w, r)
	if p == nil {
		return nil, nil
	}
	iid, err := strconv.Atoi(r.PathValue("iid"))
	g.mu.Lock()
	mr := g.mrLocked(p.path, iid)
	g.mu.Unlock()
	if err != nil || mr == nil {
		glError(w, http.StatusNotFound, "404 Not found")
		return nil, nil
	}
	return p, mr
}

func (g *GitLab) getUser(w http.ResponseWriter, _ *http.Request) {
	u := g.userBasic(g.bot)
	created := time.Unix(firstCommit, 0).UTC()
	for k, v := range map[string]any{
		"created_at": apiTime(created), "bio": "", "location": "", "public_email": nil, "skype": "",
		"linkedin": "", "twitter": "", "discord": "", "website_url": "", "organization": "",
		"job_title": "", "pronouns": nil, "bot": false, "work_information": nil, "local_time": nil,
		"last_sign_in_at": apiTime(created), "confirmed_at": apiTime(created),
		"last_activity_on": now().Format(time.DateOnly), "email": g.bot + "@example.com",
		"theme_id": 1, "color_scheme_id": 1, "projects_limit": 100000,
		"current_sign_in_at": apiTime(created), "identities": []any{}, "can_create_group": true,
		"can_create_project": true, "two_factor_enabled": false, "external": false,
		"private_profile": false, "commit_email": g.bot + "@example.com",
	} {
		u[k] = v
	}
	writeJSON(w, http.StatusOK, u)
}

// listUsers answers GET /users: with ?username=, the one user of that
// name or none; else every user the fake knows, by id.
func (g *GitLab) listUsers(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("username")
	g.mu.Lock()
	var names []string
	for u := range g.users {
		if name == "" || strings.EqualFold(u, name) {
			names = append(names, u)
		}
	}
	g.mu.Unlock()
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(userID(a), userID(b)) })
	lo, hi := g.paginate(w, r, len(names))
	out := []any{}
	for _, u := range names[lo:hi] {
		out = append(out, g.userBasic(u))
	}
	writeJSON(w, http.StatusOK, out)
}

// userBasic is the API's short form of a user.
func (g *GitLab) userBasic(username string) map[string]any {
	return map[string]any{
		"id":         userID(username),
		"username":   username,
		"name":       username,
		"state":      "active",
		"locked":     false,
		"avatar_url": fmt.Sprintf("https://www.gravatar.com/avatar/%x?s=80&d=identicon", userID(username)),
		"web_url":    g.url + "/" + username,
	}
}

// getProject answers GET /projects/:id, for a project the fake serves or
// one a merge request comes from.
func (g *GitLab) getProject(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	g.mu.Lock()
	var out map[string]any
	if p := g.projectLocked(id); p != nil {
		out = g.projectJSONLocked(p.path, p.id)
	} else {
		for path, n := range g.forks {
			if path == id || strconv.FormatInt(n, 10) == id {
				out = g.projectJSONLocked(path, n)
			}
		}
	}
	g.mu.Unlock()
	if out == nil {
		glError(w, http.StatusNotFound, "404 Project Not Found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// projectJSONLocked is a project as GET /projects/:id shows it to the
// bot.
func (g *GitLab) projectJSONLocked(path string, id int64) map[string]any {
	web := g.webURL(path)
	api := fmt.Sprintf("%sprojects/%d", g.APIURL(), id)
	ns := parentGroup(path)
	names := strings.Split(path, "/")
	created := time.Unix(firstCommit, 0)
	lastActivity := created
	if p := g.projects[path]; p != nil {
		for _, mr := range p.mrs {
			if mr.updated.After(lastActivity) {
				lastActivity = mr.updated
			}
		}
	}
	var access any
	if level, ok := g.projectAccessLocked(path, g.bot); ok {
		access = map[string]any{"access_level": level, "notification_level": 3}
	}
	return map[string]any{
		"id":                  id,
		"description":         "",
		"name":                projectName(path),
		"name_with_namespace": strings.Join(names, " / "),
		"path":                projectName(path),
		"path_with_namespace": path,
		"created_at":          apiTime(created),
		"default_branch":      "main",
		"tag_list":            []any{},
		"topics":              []any{},
		"ssh_url_to_repo":     g.sshURL(path),
		"http_url_to_repo":    g.CloneURL(path),
		"web_url":             web,
		"readme_url":          nil,
		"avatar_url":          nil,
		"forks_count":         0,
		"star_count":          0,
		"last_activity_at":    apiTime(lastActivity),
		"namespace": map[string]any{
			"id": g.groups[ns], "name": projectName(ns), "path": projectName(ns), "kind": "group",
			"full_path": ns, "parent_id": g.parentIDLocked(ns), "avatar_url": nil, "web_url": g.url + "/groups/" + ns,
		},
		"visibility":             "private",
		"empty_repo":             false,
		"archived":               false,
		"issues_enabled":         true,
		"merge_requests_enabled": true,
		"merge_method":           "merge",
		"_links": map[string]any{
			"self": api, "issues": api + "/issues", "merge_requests": api + "/merge_requests",
			"repo_branches": api + "/repository/branches", "labels": api + "/labels",
			"events": api + "/events", "members": api + "/members", "cluster_agents": api + "/cluster_agents",
		},
		"permissions": map[string]any{"project_access": access, "group_access": nil},
	}
}

// parentIDLocked is the id of the group holding group grp, or nil (JSON
// null) for a top-level group or one the fake does not have.
func (g *GitLab) parentIDLocked(grp string) any {
	if id, ok := g.groups[parentGroup(grp)]; ok {
		return id
	}
	return nil
}

// sshURL is a project's SSH clone URL, which the fake does not serve.
func (g *GitLab) sshURL(path string) string {
	u, _ := url.Parse(g.url)
	return "git@" + u.Hostname() + ":" + path + ".git"
}
