package vcstest_test

import (
	"path/filepath"
	"strings"
	"testing"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

func TestGitLabMerge(t *testing.T) {
	t.Parallel()
	g, p := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	accept := func(iid int, o *gl.AcceptMergeRequestOptions) (*gl.MergeRequest, *gl.Response, error) {
		return c.MergeRequests.AcceptMergeRequest(glRepo, iid, o)
	}

	// Refusals, none of which changes anything.
	g.SetMergeable(glRepo, 1, false)
	if _, resp, err := accept(1, nil); glStatus(t, resp, err) != 405 || glMessage(err) != "405 Method Not Allowed" {
		t.Errorf("merging a conflict: %v", err)
	}
	g.SetMergeable(glRepo, 1, true)
	g.SetMergeStatus(glRepo, 1, "ci_must_pass")
	if mr, _, _ := c.MergeRequests.GetMergeRequest(glRepo, 1, nil); mr.DetailedMergeStatus != "ci_must_pass" || mr.MergeStatus != "can_be_merged" {
		t.Errorf("SetMergeStatus(ci_must_pass): %s / %s", mr.DetailedMergeStatus, mr.MergeStatus)
	}
	if _, resp, err := accept(1, nil); glStatus(t, resp, err) != 405 {
		t.Errorf("merging while CI must pass: %v", err)
	}
	g.SetMergeStatus(glRepo, 1, "")
	_, resp, err := accept(1, &gl.AcceptMergeRequestOptions{SHA: gl.Ptr(strings.Repeat("a", 40))})
	if glStatus(t, resp, err) != 409 || glMessage(err) != "SHA does not match HEAD of source branch: "+p.HeadSHA {
		t.Errorf("merging another head: %v", err)
	}
	g.SetPermission(glRepo, "atoll-bot", "reporter")
	if _, resp, err := accept(1, nil); glStatus(t, resp, err) != 401 {
		t.Errorf("merging as a reporter: %v", err)
	}
	g.SetPermission(glRepo, "atoll-bot", "maintainer")
	if g.Merged(glRepo, 1) || !g.Pull(glRepo, 1).Open || !g.BranchExists(glRepo, "pr-1") {
		t.Fatal("a refused merge changed the merge request")
	}

	mr, resp, err := accept(1, &gl.AcceptMergeRequestOptions{SHA: gl.Ptr(p.HeadSHA), ShouldRemoveSourceBranch: gl.Ptr(true)})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("AcceptMergeRequest = %v", err)
	}
	if mr.State != "merged" || mr.MergedBy.Username != "atoll-bot" || mr.MergedAt == nil || len(mr.MergeCommitSHA) != 40 ||
		!mr.ShouldRemoveSourceBranch || mr.DetailedMergeStatus != "not_open" || mr.ClosedAt != nil {
		t.Errorf("merged merge request = %s", mr)
	}
	if !g.Merged(glRepo, 1) || g.Pull(glRepo, 1).Open || g.BranchExists(glRepo, "pr-1") {
		t.Errorf("Merged %v, Open %v, source branch kept %v", g.Merged(glRepo, 1), g.Pull(glRepo, 1).Open, g.BranchExists(glRepo, "pr-1"))
	}
	if diffs, _, err := c.MergeRequests.ListMergeRequestDiffs(glRepo, 1, nil); err != nil || len(diffs) != 4 {
		t.Errorf("diffs of the merged merge request: %d, %v", len(diffs), err)
	}
	dir := filepath.Join(t.TempDir(), "clone")
	if out, err := git(t, "", "-c", glAuth(g), "clone", "-q", g.CloneURL(glRepo), dir); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	parents, _ := git(t, dir, "rev-list", "--parents", "-n1", "HEAD")
	msg, _ := git(t, dir, "log", "-1", "--format=%B")
	if !strings.HasPrefix(parents, mr.MergeCommitSHA) || !strings.HasSuffix(strings.TrimSpace(parents), " "+p.HeadSHA) ||
		!strings.HasPrefix(msg, "Merge branch 'pr-1' into 'main'") || !strings.Contains(msg, "See merge request "+glRepo+"!1") {
		t.Errorf("main is %q, %q; want %s merging %s", parents, msg, mr.MergeCommitSHA, p.HeadSHA)
	}
	if _, resp, err := accept(1, nil); glStatus(t, resp, err) != 405 {
		t.Errorf("merging a merged merge request: %v", err)
	}

	// Squash: one commit on main; drafts and closed ones are refused.
	sq := g.OpenPull(t, glRepo, vcstest.PullSpec{Files: map[string]string{"s.tf": "# 1\n"}})
	g.PushToPull(t, glRepo, sq.Number, map[string]string{"s.tf": "# 2\n"})
	mr, _, err = accept(sq.Number, &gl.AcceptMergeRequestOptions{Squash: gl.Ptr(true), SquashCommitMessage: gl.Ptr("Squashed")})
	if err != nil || len(mr.SquashCommitSHA) != 40 || mr.MergeCommitSHA != "" || !g.BranchExists(glRepo, sq.Branch) {
		t.Fatalf("squash = %s, %v", mr, err)
	}
	if out, err := git(t, dir, "-c", glAuth(g), "pull", "-q", "--ff-only"); err != nil {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	if log, _ := git(t, dir, "log", "-1", "--format=%H %P %s"); log != mr.SquashCommitSHA+" "+strings.Fields(parents)[0]+" Squashed\n" {
		t.Errorf("squashed main = %q", log)
	}
	draft := g.OpenPull(t, glRepo, vcstest.PullSpec{Draft: true})
	if _, resp, err := accept(draft.Number, nil); glStatus(t, resp, err) != 405 {
		t.Errorf("merging a draft: %v", err)
	}
	closed := g.ClosePull(t, glRepo, g.OpenPull(t, glRepo, vcstest.PullSpec{}).Number)
	if _, resp, err := accept(closed.Number, nil); glStatus(t, resp, err) != 405 || g.Merged(glRepo, closed.Number) {
		t.Errorf("merging a closed merge request: %v", err)
	}
}

func TestGitLabDeleteBranch(t *testing.T) {
	t.Parallel()
	g, _ := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	g.OpenPull(t, glRepo, vcstest.PullSpec{Branch: "feature/x"})
	if resp, err := c.Branches.DeleteBranch(glRepo, "feature/x"); err != nil || resp.StatusCode != 204 || g.BranchExists(glRepo, "feature/x") {
		t.Errorf("DeleteBranch(feature/x) = %v; exists %v", err, g.BranchExists(glRepo, "feature/x"))
	}
	if resp, err := c.Branches.DeleteBranch(glRepo, "feature/x"); glStatus(t, resp, err) != 404 {
		t.Errorf("deleting it again: %v", err)
	}
	if resp, err := c.Branches.DeleteBranch(glRepo, "main"); glStatus(t, resp, err) != 405 || !g.BranchExists(glRepo, "main") {
		t.Errorf("deleting main: %v", err)
	}
	g.SetPermission(glRepo, "atoll-bot", "reporter")
	if resp, err := c.Branches.DeleteBranch(glRepo, "pr-1"); glStatus(t, resp, err) != 403 || !g.BranchExists(glRepo, "pr-1") {
		t.Errorf("deleting as a reporter: %v", err)
	}
}
