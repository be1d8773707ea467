package vcstest_test

import (
	"slices"
	"strings"
	"testing"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// Commit statuses follow GitLab's state machine: a pending or running
// status is updated in place, and some moves are refused.
func TestGitLabStatuses(t *testing.T) {
	t.Parallel()
	g, p := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	const name = "atoll/plan: ./default"
	set := func(state string) (*gl.CommitStatus, *gl.Response, error) {
		return c.Commits.SetCommitStatus(glRepo, p.HeadSHA, &gl.SetCommitStatusOptions{
			State: gl.BuildStateValue(state), Name: gl.Ptr(name), Description: gl.Ptr("plan " + state),
			TargetURL: gl.Ptr("https://atoll.example/jobs/1"),
		})
	}
	refused := func(event, from string) string {
		return `Cannot transition status via :` + event + ` from :` + from + ` (Reason(s): Status cannot transition via "` + event + `")`
	}

	var ids []int
	for _, step := range []struct {
		state, refusal string
	}{
		{"pending", ""},
		{"pending", refused("enqueue", "pending")},
		{"running", ""},
		{"running", refused("run", "running")},
		{"pending", refused("enqueue", "running")},
		{"skipped", refused("skip", "running")},
		{"success", ""},
		{"success", ""}, // a finished status is replaced by a new one
		{"pending", ""},
		{"failed", ""},
		{"canceled", ""},
	} {
		s, resp, err := set(step.state)
		if step.refusal != "" {
			if glStatus(t, resp, err) != 400 || glMessage(err) != step.refusal {
				t.Errorf("%s after %v: %v; want 400 %s", step.state, g.StatusHistory(glRepo, p.HeadSHA, name), err, step.refusal)
			}
			continue
		}
		if err != nil || resp.StatusCode != 201 || s.Status != step.state || s.Name != name || s.SHA != p.HeadSHA ||
			s.Ref != "pr-1" || s.Author.Username != "atoll-bot" || s.TargetURL != "https://atoll.example/jobs/1" || s.PipelineId == 0 {
			t.Fatalf("%s: %+v, %v", step.state, s, err)
		}
		ids = append(ids, s.ID)
	}
	want := []string{"pending", "running", "success", "success", "pending", "failed", "canceled"}
	if h := g.StatusHistory(glRepo, p.HeadSHA, name); !slices.Equal(h, want) {
		t.Errorf("StatusHistory = %q, want %q", h, want)
	}
	// pending, running and success are one status; each later one is new.
	if ids[0] != ids[1] || ids[1] != ids[2] || ids[3] == ids[2] || ids[4] == ids[3] || ids[5] != ids[4] || ids[6] == ids[5] {
		t.Errorf("status ids %v", ids)
	}

	// Latest per name; the name defaults as GitLab's does.
	if _, _, err := c.Commits.SetCommitStatus(glRepo, p.HeadSHA, &gl.SetCommitStatusOptions{State: gl.Success}); err != nil {
		t.Fatal(err)
	}
	s := g.Statuses(glRepo, p.HeadSHA)
	if len(s) != 2 || s[0].Context != name || s[0].State != "canceled" || s[0].Description != "plan canceled" ||
		s[0].TargetURL != "https://atoll.example/jobs/1" || s[1].Context != "default" || s[1].State != "success" {
		t.Errorf("Statuses = %+v", s)
	}

	// A state GitLab does not have; a commit the project lacks.
	_, resp, err := set("done")
	if glStatus(t, resp, err) != 400 || glMessage(err) != "state does not have a valid value" {
		t.Errorf("state done: %v", err)
	}
	_, resp, err = c.Commits.SetCommitStatus(glRepo, strings.Repeat("0", 40), &gl.SetCommitStatusOptions{State: gl.Success})
	if glStatus(t, resp, err) != 404 {
		t.Errorf("status of an unknown commit: %v", err)
	}
}

// The statuses a commit has are listed as GitLab lists them: the latest
// state of each, whoever set it.
func TestGitLabListStatuses(t *testing.T) {
	t.Parallel()
	g, p := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	g.SetStatus(t, p.Repo, p.HeadSHA, "ci/build", "running")
	if _, _, err := c.Commits.SetCommitStatus(p.Repo, p.HeadSHA, &gl.SetCommitStatusOptions{State: gl.Running, Name: gl.Ptr("atoll/plan")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Commits.SetCommitStatus(p.Repo, p.HeadSHA, &gl.SetCommitStatusOptions{State: gl.Success, Name: gl.Ptr("atoll/plan")}); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Commits.GetCommitStatuses(p.Repo, p.HeadSHA, nil)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, s := range got {
		states[s.Name] = s.Status
	}
	if len(got) != 2 || states["ci/build"] != "running" || states["atoll/plan"] != "success" {
		t.Errorf("statuses = %v (%d listed), want ci/build running and atoll/plan success", states, len(got))
	}
}
