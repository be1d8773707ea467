package vcstest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// accessLevels are GitLab's access levels by name; none is no membership.
// The fake GitHub's roles name the nearest level, so that a test can
// drive either fake.
var accessLevels = map[string]int{
	"none": 0, "guest": 10, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50,
	"read": 20, "triage": 20, "write": 30, "maintain": 40, "admin": 50,
}

// SetPermission gives user an access level on project repo: guest,
// reporter, developer, maintainer, owner or none; or one of the fake
// GitHub's roles, as the nearest level (read and triage are reporter,
// write developer, maintain maintainer, admin owner). A user's access is the
// highest of what SetPermission and SetGroupPermission gave on the
// project and the groups above it, as GitLab's members/all reports it;
// users given nothing have GitLabOptions.DefaultAccess. The bot is a user
// like any other: merging and deleting branches need developer. It
// panics on an unknown level.
func (g *GitLab) SetPermission(repo, user, level string) {
	g.setAccess("project:"+repo, user, level)
}

// SetGroupPermission makes user a member of group ("acme" or
// "acme/platform") with an access level, as SetPermission's, inherited by
// the group's subgroups and projects. Groups exist once a project is in
// them or a member is added. It panics on an unknown level.
func (g *GitLab) SetGroupPermission(group, user, level string) {
	g.setAccess("group:"+group, user, level)
	g.mu.Lock()
	defer g.mu.Unlock()
	for grp := group; grp != ""; grp = parentGroup(grp) {
		g.groupIDLocked(grp)
	}
}

func (g *GitLab) setAccess(scope, user, level string) {
	n, ok := accessLevels[level]
	if !ok {
		panic(fmt.Sprintf("fake gitlab: unknown access level %q", level))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.access[userKey{scope, user}] = n
	g.meetLocked(user)
}

// projectAccessLocked is user's access level on the project at path, and
// whether that makes it a member.
func (g *GitLab) projectAccessLocked(path, user string) (int, bool) {
	level, set := g.access[userKey{"project:" + path, user}]
	if l, ok := g.explicitGroupLocked(parentGroup(path), user); ok {
		level, set = max(level, l), true
	}
	if !set {
		level = g.defaultAccess
	}
	return level, level > 0
}

// groupAccessLocked is user's access level on group grp, inherited from
// the groups above it, and whether that makes it a member.
func (g *GitLab) groupAccessLocked(grp, user string) (int, bool) {
	level, _ := g.explicitGroupLocked(grp, user)
	return level, level > 0
}

// explicitGroupLocked is the highest level SetGroupPermission gave user
// on grp and the groups above it, and whether it gave any, none included.
func (g *GitLab) explicitGroupLocked(grp, user string) (level int, set bool) {
	for ; grp != ""; grp = parentGroup(grp) {
		if l, ok := g.access[userKey{"group:" + grp, user}]; ok {
			level, set = max(level, l), true
		}
	}
	return level, set
}

// getProjectMember answers projects/:id/members/all/:user_id: the user's
// access, direct or inherited from groups, or 404 if it has none.
func (g *GitLab) getProjectMember(w http.ResponseWriter, r *http.Request) {
	p := g.projectFor(w, r)
	if p == nil {
		return
	}
	g.memberAnswer(w, r, func(user string) (int, bool) { return g.projectAccessLocked(p.path, user) })
}

// getGroupMember answers groups/:id/members/all/:user_id, the group named
// by id or full path.
func (g *GitLab) getGroupMember(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	g.mu.Lock()
	grp := ""
	for path, n := range g.groups {
		if path == id || strconv.FormatInt(n, 10) == id {
			grp = path
		}
	}
	g.mu.Unlock()
	if grp == "" {
		glError(w, http.StatusNotFound, "404 Group Not Found")
		return
	}
	g.memberAnswer(w, r, func(user string) (int, bool) { return g.groupAccessLocked(grp, user) })
}

// memberAnswer answers a members/all/:user_id request with the member
// access reports, or 404.
func (g *GitLab) memberAnswer(w http.ResponseWriter, r *http.Request, access func(user string) (int, bool)) {
	id, _ := strconv.ParseInt(r.PathValue("user"), 10, 64)
	g.mu.Lock()
	user, level, member := "", 0, false
	for u := range g.users {
		if userID(u) == id {
			user = u
			level, member = access(u)
		}
	}
	g.mu.Unlock()
	if !member {
		glError(w, http.StatusNotFound, "404 Not found")
		return
	}
	out := g.userBasic(user)
	out["access_level"] = level
	out["created_at"] = apiTime(time.Unix(firstCommit, 0))
	out["expires_at"] = nil
	out["membership_state"] = "active"
	writeJSON(w, http.StatusOK, out)
}

// Approve records that user approved merge request iid, as the button in
// GitLab's page does, which touches its updated_at. Approving twice is
// one approval. No webhook is sent.
func (g *GitLab) Approve(t T, repo string, iid int, user string) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	mr := g.mrLocked(repo, iid)
	if mr == nil {
		t.Fatalf("fake gitlab: no merge request %s!%d", repo, iid)
	}
	g.meetLocked(user)
	if !slices.ContainsFunc(mr.approvals, func(a approval) bool { return a.user == user }) {
		mr.approvals = append(mr.approvals, approval{user: user, at: now()})
		mr.touch()
	}
}

// Unapprove withdraws user's approval of merge request iid, if any. No
// webhook is sent.
func (g *GitLab) Unapprove(t T, repo string, iid int, user string) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	mr := g.mrLocked(repo, iid)
	if mr == nil {
		t.Fatalf("fake gitlab: no merge request %s!%d", repo, iid)
	}
	n := len(mr.approvals)
	if mr.approvals = slices.DeleteFunc(mr.approvals, func(a approval) bool { return a.user == user }); len(mr.approvals) < n {
		mr.touch()
	}
}

// Review is the fake GitHub's Review in GitLab's terms, so that a test can
// drive either fake: APPROVED approves, DISMISSED withdraws the approval,
// and CHANGES_REQUESTED and COMMENTED leave approvals as they are, GitLab's
// free tier having no review that blocks a merge.
func (g *GitLab) Review(t T, repo string, iid int, user, state string) {
	t.Helper()
	switch state {
	case "APPROVED":
		g.Approve(t, repo, iid, user)
	case "DISMISSED":
		g.Unapprove(t, repo, iid, user)
	case "CHANGES_REQUESTED", "COMMENTED":
		if g.Pull(repo, iid).Number == 0 {
			t.Fatalf("fake gitlab: no merge request %s!%d", repo, iid)
		}
	default:
		t.Fatalf("fake gitlab: review state %q is none of APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED", state)
	}
}

// getApprovals answers merge_requests/:iid/approvals in the shape of
// GitLab's free tier: whether anyone approved, who, in order, and what the
// bot may do.
func (g *GitLab) getApprovals(w http.ResponseWriter, r *http.Request) {
	p, mr := g.mrFor(w, r)
	if mr == nil {
		return
	}
	g.mu.Lock()
	approvals := slices.Clone(mr.approvals)
	level, _ := g.projectAccessLocked(p.path, g.bot)
	g.mu.Unlock()
	by := []any{}
	botApproved := false
	for _, a := range approvals {
		by = append(by, map[string]any{"user": g.userBasic(a.user)})
		botApproved = botApproved || a.user == g.bot
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"user_has_approved": botApproved,
		"user_can_approve":  !botApproved && level >= accessLevels["developer"],
		"approved":          len(approvals) > 0,
		"approved_by":       by,
	})
}
