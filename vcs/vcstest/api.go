package vcstest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	gh "github.com/google/go-github/v60/github"
)

const docsURL = "https://docs.github.com/rest"

// routeAPI registers the REST API subset atoll calls, as GitHub Enterprise
// Server lays it out under /api/v3/.
func (g *GitHub) routeAPI(mux *http.ServeMux) {
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, g.authorized(h)) }
	handle("GET /api/v3/user", g.getUser)
	mux.HandleFunc("GET /api/v3/rate_limit", g.rateLimit) // unmetered, as on GitHub
	handle("GET /api/v3/user/repos", g.listUserRepos)
	handle("GET /api/v3/repos/{owner}/{repo}", g.getRepo)
	handle("GET /api/v3/repos/{owner}/{repo}/branches/{branch...}", g.getBranch)
	handle("GET /api/v3/repos/{owner}/{repo}/commits/{ref...}", g.getCommit)
	handle("GET /api/v3/repos/{owner}/{repo}/pulls", g.listPulls)
	handle("GET /api/v3/repos/{owner}/{repo}/pulls/{n}", g.getPull)
	handle("GET /api/v3/repos/{owner}/{repo}/pulls/{n}/files", g.listFiles)
	handle("GET /api/v3/repos/{owner}/{repo}/pulls/{n}/reviews", g.listReviews)
	handle("PUT /api/v3/repos/{owner}/{repo}/pulls/{n}/merge", g.mergePull)
	handle("DELETE /api/v3/repos/{owner}/{repo}/git/refs/{ref...}", g.deleteRef)
	handle("GET /api/v3/repos/{owner}/{repo}/compare/{basehead}", g.compare)
	handle("GET /api/v3/repos/{owner}/{repo}/collaborators/{user}/permission", g.getPermission)
	handle("GET /api/v3/orgs/{org}/teams/{team}/memberships/{user}", g.getTeamMembership)
	handle("GET /api/v3/repos/{owner}/{repo}/issues", g.listIssues)
	handle("POST /api/v3/repos/{owner}/{repo}/issues", g.createIssue)
	handle("PATCH /api/v3/repos/{owner}/{repo}/issues/{n}", g.editIssue)
	handle("POST /api/v3/repos/{owner}/{repo}/issues/{n}/comments", g.createComment)
	handle("GET /api/v3/repos/{owner}/{repo}/issues/comments", g.listRepoComments)
	handle("GET /api/v3/repos/{owner}/{repo}/issues/comments/{id}", g.getComment)
	handle("PATCH /api/v3/repos/{owner}/{repo}/issues/comments/{id}", g.editComment)
	handle("POST /api/v3/repos/{owner}/{repo}/issues/comments/{id}/reactions", g.createReaction)
	handle("POST /api/v3/repos/{owner}/{repo}/statuses/{sha}", g.createStatus)
	handle("GET /api/v3/repos/{owner}/{repo}/commits/{ref}/status", g.combinedStatus)
	handle("GET /api/v3/repos/{owner}/{repo}/commits/{ref}/check-runs", g.listCheckRuns)
	handle("POST /api/v3/repos/{owner}/{repo}/check-runs", g.createCheckRun)
	handle("PATCH /api/v3/repos/{owner}/{repo}/check-runs/{id}", g.updateCheckRun)
	handle("/api/v3/", g.unhandledAPI)
	// GitHub Enterprise Server's GraphQL endpoint, beside /api/v3.
	handle("POST /api/graphql", g.graphQL)
	g.routeApp(mux)
}

// authorized lets through requests that carry the personal token or a
// live installation token, as "Bearer TOKEN" or "token TOKEN", metered.
// An installation token reaches only its installation's account.
func (g *GitHub) authorized(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, ok := g.authenticate(w, r)
		if !ok {
			return
		}
		g.meter.serve(w, r, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if g.withinInstallation(w, r) {
				next(w, r)
			}
		}))
	})
}

// caller is who an authenticated API request acts as.
type caller struct {
	// login is whom what the request does is done as: the personal
	// token's user (GitHubOptions.BotLogin) or the App's bot.
	login string
	// token is the installation token the request carries; nil for the
	// personal token.
	token *instToken
}

// callerKey keys a request's caller in its context.
type callerKey struct{}

// callerOf is who r authenticated as: the personal token's user unless
// authenticate found an installation token.
func (g *GitHub) callerOf(r *http.Request) caller {
	if c, ok := r.Context().Value(callerKey{}).(caller); ok {
		return c
	}
	return caller{login: g.bot}
}

// tokenOK reports whether r carries the personal token or a live
// installation token, and counts it among the API's requests; else it
// answers 401 as GitHub does.
func (g *GitHub) tokenOK(w http.ResponseWriter, r *http.Request) bool {
	_, ok := g.authenticate(w, r)
	return ok
}

// authenticate finds who r's credential stands for, "Bearer TOKEN" or
// "token TOKEN": the personal token or a live installation token. It
// counts r among the API's requests and returns it with its caller
// (callerOf); else it answers 401 as GitHub does.
func (g *GitHub) authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token") {
		apiError(w, http.StatusUnauthorized, string(badCredentials))
		return nil, false
	}
	c := caller{login: g.bot}
	if token != g.token {
		tok, err := g.installationToken(token)
		if err != nil {
			apiError(w, http.StatusUnauthorized, err.Error())
			return nil, false
		}
		c = caller{login: tok.bot, token: tok}
	}
	g.mu.Lock()
	g.apiRequests = append(g.apiRequests, r.URL.Path)
	g.mu.Unlock()
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, c)), true
}

// withinInstallation reports whether r's installation token, if it
// carries one, reaches what r asks for; if not, it answers 403 as GitHub
// does: for the user's own routes, and for the repositories and
// organization of an account other than the installation's.
func (g *GitHub) withinInstallation(w http.ResponseWriter, r *http.Request) bool {
	tok := g.callerOf(r).token
	if tok == nil {
		return true
	}
	owner := cmp.Or(r.PathValue("owner"), r.PathValue("org"))
	userRoute := r.URL.Path == "/api/v3/user" || strings.HasPrefix(r.URL.Path, "/api/v3/user/")
	if userRoute || owner != "" && !tok.covers(owner, r.PathValue("repo")) {
		apiError(w, http.StatusForbidden, "Resource not accessible by integration")
		return false
	}
	return true
}

func (g *GitHub) unhandledAPI(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.unhandled = append(g.unhandled, r.Method+" "+r.URL.Path)
	g.mu.Unlock()
	apiError(w, http.StatusNotFound, "Not Found")
}

func (g *GitHub) getUser(w http.ResponseWriter, _ *http.Request) {
	u := map[string]any{}
	g.setUser(u, g.bot)
	writeJSON(w, http.StatusOK, u)
}

func (g *GitHub) getPull(w http.ResponseWriter, r *http.Request) {
	rp, p, ok := g.pullFor(w, r)
	if !ok {
		return
	}
	base, err := g.revParse(r.Context(), rp.bare, "refs/heads/main")
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	pr, err := g.pullJSON(p, base)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, pr)
}

// pullJSON is pull request p as pulls/N shows it, based on main at
// baseSHA: the webhook payload's pull_request, which is the REST API's.
func (g *GitHub) pullJSON(p Pull, baseSHA string) (map[string]any, error) {
	doc, err := g.fixtureDoc("pull_request.opened.json", p.Repo)
	if err != nil {
		return nil, err
	}
	pr := object(doc, "pull_request")
	g.fillPull(pr, p, baseSHA)
	return pr, nil
}

// listFiles answers pulls/N/files a page at a time, with GitHub's Link
// header. A merged pull request keeps the files it changed.
func (g *GitHub) listFiles(w http.ResponseWriter, r *http.Request) {
	rp, p, ok := g.pullFor(w, r)
	if !ok {
		return
	}
	base := "refs/heads/main"
	g.mu.Lock()
	if m := g.statePullLocked(p.Repo, p.Number).merge; m != nil {
		base = m.base
	}
	g.mu.Unlock()
	files, err := g.changedFiles(r.Context(), rp.bare, base, p.HeadSHA)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	lo, hi := g.paginate(w, r, len(files))
	writeJSON(w, http.StatusOK, append([]*gh.CommitFile{}, files[lo:hi]...))
}

// paginate reads a list request's per_page (default 30, at most 100) and
// page, sets GitHub's Link header for a list of n items, and returns the
// bounds of the page's items.
func (g *GitHub) paginate(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage < 1 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	last := max(1, (n+perPage-1)/perPage)
	if link := linkHeader(g.url+r.URL.Path, q, page, last); link != "" {
		w.Header().Set("Link", link)
	}
	return min((page-1)*perPage, n), min(page*perPage, n)
}

// linkHeader is GitHub's pagination header: prev, next, last, first,
// each present when it leads somewhere else.
func linkHeader(base string, q url.Values, page, last int) string {
	var links []string
	add := func(rel string, n int) {
		q.Set("page", strconv.Itoa(n))
		links = append(links, fmt.Sprintf(`<%s?%s>; rel="%s"`, base, q.Encode(), rel))
	}
	if page > 1 {
		add("prev", min(page-1, last))
	}
	if page < last {
		add("next", page+1)
		add("last", last)
	}
	if page > 1 {
		add("first", 1)
	}
	return strings.Join(links, ", ")
}

// repoFor finds the repository a request names, answering 404 if the fake
// has none.
func (g *GitHub) repoFor(w http.ResponseWriter, r *http.Request) *repo {
	g.mu.Lock()
	rp := g.repos[r.PathValue("owner")+"/"+r.PathValue("repo")]
	g.mu.Unlock()
	if rp == nil {
		apiError(w, http.StatusNotFound, "Not Found")
	}
	return rp
}

// pullFor finds the pull request a request names, answering 404 if the
// fake has none.
func (g *GitHub) pullFor(w http.ResponseWriter, r *http.Request) (*repo, Pull, bool) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return nil, Pull{}, false
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	g.mu.Lock()
	p, ok := g.pullLocked(rp.fullName, n)
	g.mu.Unlock()
	if err != nil || !ok {
		apiError(w, http.StatusNotFound, "Not Found")
		return nil, Pull{}, false
	}
	return rp, p, true
}

// decodeJSON reads a request's JSON body into v, answering 400 as GitHub
// does if it cannot.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

// apiErrorBody is the shape of GitHub's error answers.
type apiErrorBody struct {
	Message          string     `json:"message"`
	Errors           []gh.Error `json:"errors,omitempty"`
	DocumentationURL string     `json:"documentation_url"`
}

func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiErrorBody{Message: msg, DocumentationURL: docsURL})
}

// validationFailed answers 422 as GitHub does for a field it rejects.
func validationFailed(w http.ResponseWriter, errs ...gh.Error) {
	writeJSON(w, http.StatusUnprocessableEntity, apiErrorBody{Message: "Validation Failed", Errors: errs, DocumentationURL: docsURL})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client hung up
}
