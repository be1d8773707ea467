package vcstest_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

func TestReviews(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	owner, name, _ := strings.Cut(repoName, "/")
	g.Review(t, repoName, 1, "bob", "APPROVED")
	g.Review(t, repoName, 1, "carol", "CHANGES_REQUESTED")
	p2 := g.PushToPull(t, repoName, 1, map[string]string{"main.tf": "# again\n"})
	g.Review(t, repoName, 1, "acme", "COMMENTED")

	var got []string
	opts := &gh.ListOptions{PerPage: 2}
	for {
		reviews, resp, err := c.PullRequests.ListReviews(context.Background(), owner, name, 1, opts)
		if err != nil {
			t.Fatal(err)
		}
		if opts.Page == 0 && resp.LastPage != 2 {
			t.Errorf("LastPage = %d, want 2", resp.LastPage)
		}
		for _, r := range reviews {
			if r.GetID() == 0 || r.GetNodeID() == "" || r.GetSubmittedAt().IsZero() || r.GetUser().GetID() == 0 {
				t.Errorf("review = %s", gh.Stringify(r))
			}
			head := map[string]string{p.HeadSHA: "old", p2.HeadSHA: "new"}[r.GetCommitID()]
			got = append(got, strings.Join([]string{r.GetUser().GetLogin(), r.GetState(), head, r.GetAuthorAssociation()}, " "))
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	want := []string{"bob APPROVED old COLLABORATOR", "carol CHANGES_REQUESTED old COLLABORATOR", "acme COMMENTED new OWNER"}
	if !slices.Equal(got, want) {
		t.Errorf("reviews = %q, want %q", got, want)
	}
}

func TestMergeableAndFork(t *testing.T) {
	t.Parallel()
	g, _ := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	owner, name, _ := strings.Cut(repoName, "/")
	fp := g.OpenPull(t, repoName, vcstest.PullSpec{Author: "forker", Fork: "forker/infra", Files: map[string]string{"x.tf": ""}})
	if fp.Fork != "forker/infra" {
		t.Errorf("OpenPull Fork = %q", fp.Fork)
	}
	g.SetMergeable(repoName, 2, false)

	fromAPI := func(n int) *gh.PullRequest {
		pr, _, err := c.PullRequests.Get(context.Background(), owner, name, n)
		if err != nil {
			t.Fatal(err)
		}
		return pr
	}
	fromHook := func(p vcstest.Pull) *gh.PullRequest {
		return parse(t, "pull_request", g.Payload(t, "pull_request", "opened", p, "", "")).(*gh.PullRequestEvent).GetPullRequest()
	}
	for src, pr := range map[string]*gh.PullRequest{"api": fromAPI(2), "webhook": fromHook(fp)} {
		head := pr.GetHead().GetRepo()
		if pr.Mergeable == nil || *pr.Mergeable || pr.GetMergeableState() != "dirty" ||
			head.GetFullName() != "forker/infra" || head.GetName() != "infra" || head.GetOwner().GetLogin() != "forker" ||
			!head.GetFork() || head.GetCloneURL() != g.URL()+"/git/forker/infra.git" || pr.GetHead().GetLabel() != "forker:pr-2" ||
			pr.GetHead().GetSHA() != fp.HeadSHA || pr.GetBase().GetRepo().GetFork() || pr.GetBase().GetRepo().GetFullName() != repoName ||
			strings.Contains(head.GetPullsURL(), repoName) {
			t.Errorf("%s: fork pull request = %s", src, gh.Stringify(pr))
		}
	}
	for src, pr := range map[string]*gh.PullRequest{"api": fromAPI(1), "webhook": fromHook(g.Pull(repoName, 1))} {
		if !pr.GetMergeable() || pr.GetMergeableState() != "clean" || pr.GetHead().GetRepo().GetFork() ||
			pr.GetHead().GetRepo().GetFullName() != repoName {
			t.Errorf("%s: pull request = %s", src, gh.Stringify(pr))
		}
	}

	// The fork is not served; its commits are in the base repository.
	if out, err := git(t, "", "-c", authConfig(g), "ls-remote", g.URL()+"/git/forker/infra.git"); err == nil {
		t.Errorf("ls-remote of the fork worked:\n%s", out)
	}
	dir := filepath.Join(t.TempDir(), "clone")
	if out, err := git(t, "", "-c", authConfig(g), "clone", "-q", "--single-branch", g.CloneURL(repoName), dir); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if out, err := git(t, dir, "-c", authConfig(g), "fetch", "-q", "origin", fp.HeadSHA); err != nil {
		t.Errorf("fetch %s: %v\n%s", fp.HeadSHA, err, out)
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	ctx := context.Background()
	owner, name, _ := strings.Cut(repoName, "/")
	g.OpenPull(t, repoName, vcstest.PullSpec{Branch: "feature/x"})

	cmp, _, err := c.Repositories.CompareCommits(ctx, owner, name, "main", p.HeadSHA, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldMain := cmp.GetBaseCommit().GetSHA()
	if cmp.GetStatus() != "ahead" || cmp.GetAheadBy() != 1 || cmp.GetBehindBy() != 0 || cmp.GetTotalCommits() != 1 ||
		cmp.GetMergeBaseCommit().GetSHA() != oldMain || len(oldMain) != 40 || len(cmp.Commits) != 1 ||
		cmp.Commits[0].GetSHA() != p.HeadSHA || len(cmp.Files) != 4 {
		t.Errorf("main...head = %s", gh.Stringify(cmp))
	}

	newMain := g.PushToMain(t, repoName, map[string]string{"README.md": "hi\n"})
	for _, tc := range []struct {
		base, head, status string
		ahead, behind      int
	}{
		{"main", "pr-1", "diverged", 1, 1},
		{"main", "feature/x", "diverged", 1, 1},
		{oldMain, "main", "ahead", 1, 0},
		{newMain, oldMain, "behind", 0, 1},
		{"main", newMain, "identical", 0, 0},
	} {
		cmp, _, err := c.Repositories.CompareCommits(ctx, owner, name, tc.base, tc.head, nil)
		if err != nil {
			t.Fatalf("%s...%s: %v", tc.base, tc.head, err)
		}
		if cmp.GetStatus() != tc.status || cmp.GetAheadBy() != tc.ahead || cmp.GetBehindBy() != tc.behind {
			t.Errorf("%s...%s = %s %d/%d, want %s %d/%d", tc.base, tc.head,
				cmp.GetStatus(), cmp.GetAheadBy(), cmp.GetBehindBy(), tc.status, tc.ahead, tc.behind)
		}
		if tc.base == "main" && (cmp.GetBaseCommit().GetSHA() != newMain || (tc.ahead == 1 && cmp.GetMergeBaseCommit().GetSHA() != oldMain)) {
			t.Errorf("%s...%s base %s, merge base %s", tc.base, tc.head, cmp.GetBaseCommit().GetSHA(), cmp.GetMergeBaseCommit().GetSHA())
		}
	}
	if _, resp, _ := c.Repositories.CompareCommits(ctx, owner, name, "main", "nope", nil); resp.StatusCode != 404 {
		t.Errorf("compare to an unknown ref = %d, want 404", resp.StatusCode)
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	ctx := context.Background()
	owner, name, _ := strings.Cut(repoName, "/")
	mergePath := "/api/v3/repos/" + repoName + "/pulls/1/merge"
	status := func(err error) int {
		var errResp *gh.ErrorResponse
		if !errors.As(err, &errResp) {
			t.Fatalf("error %v is not an ErrorResponse", err)
		}
		return errResp.Response.StatusCode
	}
	if g.GitHubRequests(mergePath) != 0 {
		t.Errorf("GitHubRequests before merging = %d", g.GitHubRequests(mergePath))
	}

	g.SetMergeable(repoName, 1, false)
	if _, _, err := c.PullRequests.Merge(ctx, owner, name, 1, "", nil); status(err) != http.StatusMethodNotAllowed {
		t.Errorf("merging an unmergeable pull request: %v", err)
	}
	g.SetMergeable(repoName, 1, true)
	_, _, err := c.PullRequests.Merge(ctx, owner, name, 1, "", &gh.PullRequestOptions{SHA: strings.Repeat("a", 40)})
	if status(err) != http.StatusConflict || !strings.Contains(err.Error(), "Head branch was modified") {
		t.Errorf("merging another head: %v", err)
	}
	if g.Merged(repoName, 1) || !g.Pull(repoName, 1).Open {
		t.Fatal("pull request merged or closed by a refused merge")
	}

	res, resp, err := c.PullRequests.Merge(ctx, owner, name, 1, "", &gh.PullRequestOptions{SHA: p.HeadSHA, MergeMethod: "merge"})
	if err != nil || resp.StatusCode != 200 || !res.GetMerged() || len(res.GetSHA()) != 40 || res.GetMessage() != "Pull Request successfully merged" {
		t.Fatalf("Merge = %s, %v", gh.Stringify(res), err)
	}
	if !g.Merged(repoName, 1) || g.Pull(repoName, 1).Open {
		t.Errorf("Merged = %v, Open = %v after merging", g.Merged(repoName, 1), g.Pull(repoName, 1).Open)
	}
	pr, _, err := c.PullRequests.Get(ctx, owner, name, 1)
	if err != nil || !pr.GetMerged() || pr.GetState() != "closed" || pr.MergedAt == nil || pr.ClosedAt == nil ||
		pr.GetMergeCommitSHA() != res.GetSHA() || pr.GetMergedBy().GetLogin() != "atoll-bot" {
		t.Errorf("merged pull request = %s, %v", gh.Stringify(pr), err)
	}
	if files, _, err := c.PullRequests.ListFiles(ctx, owner, name, 1, nil); err != nil || len(files) != 4 {
		t.Errorf("files of the merged pull request = %d, %v; want 4", len(files), err)
	}
	dir := filepath.Join(t.TempDir(), "clone")
	if out, err := git(t, "", "-c", authConfig(g), "clone", "-q", g.CloneURL(repoName), dir); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	out, _ := git(t, dir, "-c", authConfig(g), "ls-remote", "origin", "refs/heads/main")
	parents, _ := git(t, dir, "rev-list", "--parents", "-n1", res.GetSHA())
	if !strings.HasPrefix(out, res.GetSHA()) || !strings.HasSuffix(strings.TrimSpace(parents), " "+p.HeadSHA) {
		t.Errorf("ls-remote main = %q, merge commit parents %q; want %s merging %s", out, parents, res.GetSHA(), p.HeadSHA)
	}
	if _, _, err := c.PullRequests.Merge(ctx, owner, name, 1, "", nil); status(err) != http.StatusMethodNotAllowed {
		t.Errorf("merging a merged pull request: %v", err)
	}
	if n := g.GitHubRequests(mergePath); n != 4 {
		t.Errorf("GitHubRequests(%s) = %d, want 4", mergePath, n)
	}

	// Squash and rebase: one new commit, and the pull request's two
	// replayed, each with one parent.
	for _, method := range []string{"squash", "rebase"} {
		n := g.OpenPull(t, repoName, vcstest.PullSpec{Files: map[string]string{method + ".tf": "# 1\n"}}).Number
		g.PushToPull(t, repoName, n, map[string]string{method + ".tf": "# 2\n"})
		res, _, err := c.PullRequests.Merge(ctx, owner, name, n, "", &gh.PullRequestOptions{MergeMethod: method, CommitTitle: "Squashed"})
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if out, err := git(t, dir, "-c", authConfig(g), "fetch", "-q", "origin"); err != nil {
			t.Fatalf("fetch: %v\n%s", err, out)
		}
		want := map[string]string{"squash": "Squashed", "rebase": "Update pull request #3\nPull request #3"}[method]
		log, _ := git(t, dir, "log", "--format=%s", "--no-merges", "origin/main~"+map[string]string{"squash": "1", "rebase": "2"}[method]+"..origin/main")
		if tip, _ := git(t, dir, "rev-parse", "origin/main"); strings.TrimSpace(log) != want || strings.TrimSpace(tip) != res.GetSHA() {
			t.Errorf("%s: main %s log %q, want %s log %q", method, tip, log, res.GetSHA(), want)
		}
	}

	if p4 := g.ClosePull(t, repoName, g.OpenPull(t, repoName, vcstest.PullSpec{}).Number); p4.Open {
		t.Error("ClosePull left it open")
	}
	if _, _, err := c.PullRequests.Merge(ctx, owner, name, 4, "", nil); status(err) != http.StatusMethodNotAllowed || g.Merged(repoName, 4) {
		t.Errorf("merging a closed pull request: %v", err)
	}
}
