package vcstest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// What GitHub answers a JWT whose claims it refuses.
const (
	badIssuer    = errCredentials("'Issuer' claim ('iss') must be an Integer")
	badIssuedAt  = errCredentials("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")
	badExpiry    = errCredentials("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
	expiryTooFar = errCredentials("'Expiration time' claim ('exp') is too far in the future")
)

// routeApp registers the App's routes, authenticated with its JWT, and
// those an installation token reads about itself.
func (g *GitHub) routeApp(mux *http.ServeMux) {
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, g.appAuthorized(h)) }
	handle("GET /api/v3/app", g.getApp)
	handle("GET /api/v3/app/installations", g.listInstallations)
	handle("GET /api/v3/app/installations/{id}", g.getInstallation)
	handle("POST /api/v3/app/installations/{id}/access_tokens", g.createAccessToken)
	handle("GET /api/v3/app/hook/deliveries", g.listAppDeliveries)
	handle("GET /api/v3/app/hook/deliveries/{id}", g.getAppDelivery)
	handle("GET /api/v3/repos/{owner}/{repo}/installation", g.findInstallation)
	handle("GET /api/v3/orgs/{owner}/installation", g.findInstallation)
	handle("GET /api/v3/users/{owner}/installation", g.findInstallation)
	mux.Handle("GET /api/v3/installation/repositories", g.authorized(g.listInstallationRepos))
	mux.Handle("DELETE /api/v3/installation/token", g.authorized(g.revokeToken))
}

// appAuthorized lets through requests that carry the App's JWT as
// "Bearer JWT", metered; else it answers 401 as GitHub does.
func (g *GitHub) appAuthorized(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := g.verifyJWT(r, time.Now()); err != nil {
			apiError(w, http.StatusUnauthorized, err.Error())
			return
		}
		g.mu.Lock()
		g.apiRequests = append(g.apiRequests, r.URL.Path)
		g.mu.Unlock()
		g.meter.serve(w, r, next)
	})
}

// verifyJWT checks that r carries a JWT the App signed (RS256) at now, as
// GitHub does: iss the App's id, as a number or a string; iat at most 60
// seconds ahead; exp not past, and at most ten minutes after iat.
func (g *GitHub) verifyJWT(r *http.Request, now time.Time) error {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	g.mu.Lock()
	app := g.app
	g.mu.Unlock()
	if !strings.EqualFold(scheme, "bearer") || app == nil {
		return badJWT
	}
	claims := jwt.MapClaims{}
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}), jwt.WithoutClaimsValidation())
	if _, err := p.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return &app.key.PublicKey, nil }); err != nil {
		return badJWT
	}
	switch iss := claims["iss"].(type) {
	case float64:
		if iss != float64(app.ID) {
			return badJWT
		}
	case string:
		if iss != strconv.FormatInt(app.ID, 10) {
			return badJWT
		}
	default:
		return badIssuer
	}
	iat, ok := claims["iat"].(float64)
	if !ok || iat > float64(now.Unix()+60) {
		return badIssuedAt
	}
	exp, ok := claims["exp"].(float64)
	switch {
	case !ok || exp < float64(now.Unix()):
		return badExpiry
	case exp-iat > (10 * time.Minute).Seconds():
		return expiryTooFar
	}
	return nil
}

// getApp answers GET /app: the App the JWT stands for.
func (g *GitHub) getApp(w http.ResponseWriter, _ *http.Request) {
	g.mu.Lock()
	out := g.appJSONLocked()
	g.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// listInstallations answers GET /app/installations in installation
// order, a page at a time.
func (g *GitHub) listInstallations(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	lo, hi := g.paginate(w, r, len(g.app.installs))
	out := []map[string]any{}
	for _, in := range g.app.installs[lo:hi] {
		out = append(out, g.installationJSONLocked(in))
	}
	writeJSON(w, http.StatusOK, out)
}

// getInstallation answers GET /app/installations/ID, or 404.
func (g *GitHub) getInstallation(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	g.mu.Lock()
	defer g.mu.Unlock()
	in := g.installationLocked(id)
	if in == nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, g.installationJSONLocked(in))
}

// findInstallation answers GET repos/OWNER/REPO/installation, and the
// orgs/ and users/ forms: the installation on the owner's account, or
// 404 if there is none (or no such repository).
func (g *GitHub) findInstallation(w http.ResponseWriter, r *http.Request) {
	owner := r.PathValue("owner")
	g.mu.Lock()
	defer g.mu.Unlock()
	in := g.installationOfLocked(owner)
	if name := r.PathValue("repo"); name != "" && g.repos[owner+"/"+name] == nil {
		in = nil
	}
	if in == nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, g.installationJSONLocked(in))
}

// createAccessToken answers POST /app/installations/ID/access_tokens: a
// new token for the installation, 201, or 404 for one the App does not
// have. A body naming repositories (by name or id) narrows the token to
// those, which must be the account's; requested permissions are echoed,
// not enforced.
func (g *GitHub) createAccessToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Repositories  []string          `json:"repositories"`
		RepositoryIDs []int64           `json:"repository_ids"`
		Permissions   map[string]string `json:"permissions"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil || len(bytes.TrimSpace(body)) > 0 && json.Unmarshal(body, &in) != nil {
		apiError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	g.mu.Lock()
	inst := g.installationLocked(id)
	var tok *instToken
	repos, ok := []string(nil), false
	if inst != nil {
		if repos, ok = g.narrowLocked(inst.account, in.Repositories, in.RepositoryIDs); ok {
			tok = g.mintLocked(inst, repos)
		}
	}
	g.mu.Unlock()
	switch {
	case inst == nil:
		apiError(w, http.StatusNotFound, "Not Found")
		return
	case !ok:
		writeJSON(w, http.StatusUnprocessableEntity, apiErrorBody{DocumentationURL: docsURL,
			Message: "There is at least one repository that does not exist or is not accessible to the parent installation."})
		return
	}
	out := map[string]any{
		"token": tok.Token, "expires_at": tok.Expires.UTC().Format(time.RFC3339),
		"permissions": appPermissions, "repository_selection": "all",
	}
	if in.Permissions != nil {
		out["permissions"] = in.Permissions
	}
	if repos != nil {
		list, err := g.reposJSON(fullNames(inst.account, repos))
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		out["repository_selection"], out["repositories"] = "selected", list
	}
	writeJSON(w, http.StatusCreated, out)
}

// narrowLocked resolves the repositories a token is asked for, by name
// and by id, to their names in account; nil when none are asked for,
// false if one is not the account's.
func (g *GitHub) narrowLocked(account string, names []string, ids []int64) ([]string, bool) {
	if len(names) == 0 && len(ids) == 0 {
		return nil, true
	}
	out := []string{}
	for _, name := range names {
		if g.repos[account+"/"+name] == nil {
			return nil, false
		}
		out = append(out, name)
	}
	for _, id := range ids {
		found := false
		for _, rp := range g.repos {
			if owner, name, _ := strings.Cut(rp.fullName, "/"); rp.id == id && strings.EqualFold(owner, account) {
				out, found = append(out, name), true
			}
		}
		if !found {
			return nil, false
		}
	}
	return out, true
}

// fullNames is repositories names of owner, as "owner/name".
func fullNames(owner string, names []string) []string {
	out := make([]string, len(names))
	for i, name := range names {
		out[i] = owner + "/" + name
	}
	return out
}

// listInstallationRepos answers GET /installation/repositories for an
// installation token: the repositories it reaches, by full name, a page
// at a time.
func (g *GitHub) listInstallationRepos(w http.ResponseWriter, r *http.Request) {
	tok := g.callerOf(r).token
	if tok == nil {
		apiError(w, http.StatusForbidden,
			"You must authenticate with an installation access token in order to list repositories for an installation.")
		return
	}
	g.mu.Lock()
	var names []string
	for _, rp := range g.repos {
		if owner, name, _ := strings.Cut(rp.fullName, "/"); tok.covers(owner, name) {
			names = append(names, rp.fullName)
		}
	}
	g.mu.Unlock()
	slices.Sort(names)
	lo, hi := g.paginate(w, r, len(names))
	list, err := g.reposJSON(names[lo:hi])
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	selection := "all"
	if tok.repos != nil {
		selection = "selected"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"total_count": len(names), "repository_selection": selection, "repositories": list,
	})
}

// reposJSON is the repositories fullNames, each shaped as a payload's
// repository.
func (g *GitHub) reposJSON(fullNames []string) ([]map[string]any, error) {
	out := []map[string]any{}
	for _, full := range fullNames {
		doc, err := g.fixtureDoc("pull_request.opened.json", full)
		if err != nil {
			return nil, err
		}
		item := object(doc, "repository")
		g.fillRepo(item, full)
		out = append(out, item)
	}
	return out, nil
}

// revokeToken answers DELETE /installation/token: the installation token
// the request carries expires now, 204.
func (g *GitHub) revokeToken(w http.ResponseWriter, r *http.Request) {
	tok := g.callerOf(r).token
	if tok == nil {
		apiError(w, http.StatusForbidden, "Resource not accessible by personal access token")
		return
	}
	g.mu.Lock()
	tok.Expires = time.Now()
	g.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
