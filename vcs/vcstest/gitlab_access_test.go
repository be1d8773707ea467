package vcstest_test

import (
	"slices"
	"testing"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

func TestGitLabUsers(t *testing.T) {
	t.Parallel()
	g, _ := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	users, _, err := c.Users.ListUsers(&gl.ListUsersOptions{Username: gl.Ptr("alice")})
	if err != nil || len(users) != 1 || users[0].Username != "alice" || int64(users[0].ID) != g.UserID("alice") {
		t.Errorf("ListUsers(alice) = %+v, %v", users, err)
	}
	users, _, err = c.Users.ListUsers(&gl.ListUsersOptions{Username: gl.Ptr("nobody")})
	if err != nil || users == nil || len(users) != 0 {
		t.Errorf("ListUsers(nobody) = %+v, %v; want an empty list", users, err)
	}
}

// members/all reports the highest access a user has on a project or
// group, directly or through the groups above it.
func TestGitLabMembers(t *testing.T) {
	t.Parallel()
	g, _ := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	g.SetPermission(glRepo, "bob", "maintainer")
	g.SetGroupPermission("acme", "carol", "owner")
	g.SetPermission(glRepo, "dave", "none")
	g.SetGroupPermission("acme/platform", "dave", "reporter")
	g.SetGroupPermission("acme/platform", "erin", "guest")
	g.SetPermission(glRepo, "erin", "developer")
	g.SetPermission(glRepo, "frank", "none")
	g.SetPermission(glRepo, "zed", "read") // the fake GitHub's role

	for _, tc := range []struct {
		user           string
		project, group int // 0: not a member
	}{
		{"alice", 30, 0}, // DefaultAccess, and no group
		{"bob", 40, 0},
		{"carol", 50, 50}, // inherited from acme
		{"dave", 20, 20},  // the group's beats the project's none
		{"erin", 30, 10},  // the project's beats the group's
		{"frank", 0, 0},
		{"zed", 20, 0},
	} {
		id := int(g.UserID(tc.user))
		m, resp, err := c.ProjectMembers.GetInheritedProjectMember(glRepo, id)
		switch {
		case tc.project == 0:
			if glStatus(t, resp, err) != 404 {
				t.Errorf("%s on the project: %+v, %v; want 404", tc.user, m, err)
			}
		case err != nil || int(m.AccessLevel) != tc.project || m.Username != tc.user || m.ID != id:
			t.Errorf("%s on the project: %+v, %v; want %d", tc.user, m, err, tc.project)
		}
		gm, resp, err := c.GroupMembers.GetInheritedGroupMember("acme/platform", id)
		switch {
		case tc.group == 0:
			if glStatus(t, resp, err) != 404 {
				t.Errorf("%s in acme/platform: %+v, %v; want 404", tc.user, gm, err)
			}
		case err != nil || int(gm.AccessLevel) != tc.group || gm.Username != tc.user:
			t.Errorf("%s in acme/platform: %+v, %v; want %d", tc.user, gm, err, tc.group)
		}
	}
	if _, resp, err := c.GroupMembers.GetInheritedGroupMember("nope", int(g.UserID("carol"))); glStatus(t, resp, err) != 404 {
		t.Errorf("an unknown group: %v", err)
	}
	if _, resp, err := c.ProjectMembers.GetInheritedProjectMember(glRepo, 1); glStatus(t, resp, err) != 404 {
		t.Errorf("an unknown user: %v", err)
	}

	// With DefaultAccess none, users are members only where they are put.
	g, _ = newGitLabFixture(t, vcstest.GitLabOptions{DefaultAccess: "none"})
	c = newGitLabClient(t, g, g.Token())
	g.SetGroupPermission("acme/platform", "carol", "developer")
	if _, resp, err := c.ProjectMembers.GetInheritedProjectMember(glRepo, int(g.UserID("alice"))); glStatus(t, resp, err) != 404 {
		t.Errorf("alice with DefaultAccess none: %v", err)
	}
	if m, _, err := c.ProjectMembers.GetInheritedProjectMember(glRepo, int(g.UserID("carol"))); err != nil || m.AccessLevel != gl.DeveloperPermissions {
		t.Errorf("carol through acme/platform: %+v, %v", m, err)
	}
}

func TestGitLabApprovals(t *testing.T) {
	t.Parallel()
	g, _ := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	approvers := func() (bool, []string, *gl.MergeRequestApprovals) {
		t.Helper()
		a, _, err := c.MergeRequestApprovals.GetConfiguration(glRepo, 1)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range a.ApprovedBy {
			names = append(names, u.User.Username)
		}
		return a.Approved, names, a
	}
	if ok, names, a := approvers(); ok || len(names) != 0 || !a.UserCanApprove || a.UserHasApproved {
		t.Errorf("before any approval: approved %v by %q, %+v", ok, names, a)
	}
	g.Approve(t, glRepo, 1, "bob")
	g.Review(t, glRepo, 1, "carol", "APPROVED")
	g.Approve(t, glRepo, 1, "bob")
	g.Review(t, glRepo, 1, "dave", "COMMENTED")
	if ok, names, _ := approvers(); !ok || !slices.Equal(names, []string{"bob", "carol"}) {
		t.Errorf("approved %v by %q", ok, names)
	}
	g.Unapprove(t, glRepo, 1, "bob")
	g.Review(t, glRepo, 1, "carol", "DISMISSED")
	g.Approve(t, glRepo, 1, "atoll-bot")
	if ok, names, a := approvers(); !ok || !slices.Equal(names, []string{"atoll-bot"}) || !a.UserHasApproved || a.UserCanApprove {
		t.Errorf("after withdrawals: approved %v by %q, %+v", ok, names, a)
	}
}
