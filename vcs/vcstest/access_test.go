package vcstest_test

import (
	"context"
	"strings"
	"testing"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

func TestPermissions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner, name, _ := strings.Cut(repoName, "/")
	// permission reads the legacy permission and the role of user.
	permission := func(c *gh.Client, user string) (string, string) {
		t.Helper()
		req, err := c.NewRequest("GET", "repos/"+repoName+"/collaborators/"+user+"/permission", nil)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Permission string `json:"permission"`
			RoleName   string `json:"role_name"`
			User       struct {
				Login string `json:"login"`
			} `json:"user"`
		}
		if _, err := c.Do(ctx, req, &out); err != nil || out.User.Login != user {
			t.Fatalf("permission of %s: %+v, %v", user, out, err)
		}
		return out.Permission, out.RoleName
	}

	g, _ := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	level, _, err := c.Repositories.GetPermissionLevel(ctx, owner, name, "bob")
	if err != nil || level.GetPermission() != "write" || level.GetUser().GetLogin() != "bob" {
		t.Errorf("GetPermissionLevel(bob) = %s, %v; want write", gh.Stringify(level), err)
	}
	for role, legacy := range map[string]string{
		"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read", "none": "none",
	} {
		g.SetPermission(repoName, "bob", role)
		if p, r := permission(c, "bob"); p != legacy || r != role {
			t.Errorf("SetPermission(%s): permission %s, role_name %s; want %s", role, p, r, legacy)
		}
	}
	if _, resp, _ := c.Repositories.GetPermissionLevel(ctx, owner, "nope", "bob"); resp.StatusCode != 404 {
		t.Errorf("permission on an unknown repository = %d, want 404", resp.StatusCode)
	}

	g, _ = newFixture(t, vcstest.GitHubOptions{DefaultPermission: "triage"})
	if p, r := permission(newClient(t, g, g.Token()), "carol"); p != "read" || r != "triage" {
		t.Errorf("DefaultPermission triage: permission %s, role_name %s", p, r)
	}
}

func TestTeams(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitHub(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	ctx := context.Background()
	g.AddTeamMember("acme", "platform", "alice")

	m, resp, err := c.Teams.GetTeamMembershipBySlug(ctx, "acme", "platform", "alice")
	if err != nil || resp.StatusCode != 200 || m.GetRole() != "member" || m.GetState() != "active" ||
		m.GetURL() != g.APIURL()+"orgs/acme/teams/platform/memberships/alice" {
		t.Errorf("membership of alice = %s, %v", gh.Stringify(m), err)
	}
	for _, q := range [][3]string{{"acme", "platform", "bob"}, {"acme", "other", "alice"}, {"other", "platform", "alice"}} {
		_, resp, err := c.Teams.GetTeamMembershipBySlug(ctx, q[0], q[1], q[2])
		if resp == nil || resp.StatusCode != 404 || !strings.Contains(err.Error(), "Not Found") {
			t.Errorf("membership %v: %v; want 404", q, err)
		}
	}
}
