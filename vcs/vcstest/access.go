package vcstest

import (
	"fmt"
	"net/http"
	"strings"
)

// roles maps each repository role to the legacy permission GitHub's API
// reports beside it: maintain reads as write, triage as read.
var roles = map[string]string{
	"admin": "admin", "maintain": "write", "write": "write",
	"triage": "read", "read": "read", "none": "none",
}

// SetPermission gives user a role on repo: admin, maintain, write, triage,
// read or none. Users without one have GitHubOptions.DefaultPermission.
// It panics on an unknown role.
func (g *GitHub) SetPermission(repo, user, permission string) {
	if _, ok := roles[permission]; !ok {
		panic(fmt.Sprintf("fake github: unknown permission %q", permission))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.perms[userKey{repo, user}] = permission
}

// AddTeamMember makes user an active member of team teamSlug in org.
// Teams exist once they have a member.
func (g *GitHub) AddTeamMember(org, teamSlug, user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.teams[userKey{org + "/" + teamSlug, user}] = true
}

func (g *GitHub) roleLocked(repo, user string) string {
	if p, ok := g.perms[userKey{repo, user}]; ok {
		return p
	}
	return g.defaultPerm
}

// association is a user's author_association on repo: OWNER for the
// repository's owner, COLLABORATOR for anyone with a role, else NONE.
func (g *GitHub) association(repo, user string) string {
	owner, _, _ := strings.Cut(repo, "/")
	g.mu.Lock()
	role := g.roleLocked(repo, user)
	g.mu.Unlock()
	switch {
	case user == owner:
		return "OWNER"
	case role != "none":
		return "COLLABORATOR"
	}
	return "NONE"
}

// getPermission answers collaborators/USER/permission: the legacy
// permission, and the role as role_name.
func (g *GitHub) getPermission(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	login := r.PathValue("user")
	g.mu.Lock()
	role := g.roleLocked(rp.fullName, login)
	g.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"permission": roles[role],
		"role_name":  role,
		"user":       g.user(login),
	})
}

// getTeamMembership answers orgs/ORG/teams/SLUG/memberships/USER: 200 for
// a member, otherwise 404 as GitHub does.
func (g *GitHub) getTeamMembership(w http.ResponseWriter, r *http.Request) {
	org, team, login := r.PathValue("org"), r.PathValue("team"), r.PathValue("user")
	g.mu.Lock()
	member := g.teams[userKey{org + "/" + team, login}]
	g.mu.Unlock()
	if !member {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"url":   fmt.Sprintf("%sorgs/%s/teams/%s/memberships/%s", g.APIURL(), org, team, login),
		"role":  "member",
		"state": "active",
	})
}
