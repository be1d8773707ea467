package vcstest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

func TestCombinedStatus(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	ctx := context.Background()
	owner, name, _ := strings.Cut(repoName, "/")

	cs, _, err := c.Repositories.GetCombinedStatus(ctx, owner, name, p.HeadSHA, nil)
	if err != nil || cs.GetState() != "pending" || cs.GetTotalCount() != 0 || cs.GetSHA() != p.HeadSHA {
		t.Fatalf("no statuses: %s, %v", gh.Stringify(cs), err)
	}
	set := func(context, state string) {
		t.Helper()
		if _, _, err := c.Repositories.CreateStatus(ctx, owner, name, p.HeadSHA,
			&gh.RepoStatus{Context: gh.String(context), State: gh.String(state)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 45 {
		set(fmt.Sprintf("ci/%02d", i), "success")
	}
	set("zz/lint", "failure")
	set("zz/lint", "success") // the latest counts
	if cs, _, err = c.Repositories.GetCombinedStatus(ctx, owner, name, p.HeadSHA, nil); err != nil || cs.GetState() != "success" {
		t.Errorf("all succeeded: %s, %v", cs.GetState(), err)
	}
	set("atoll/apply", "pending")
	var contexts []string
	opts := &gh.ListOptions{PerPage: 20}
	for {
		cs, resp, err := c.Repositories.GetCombinedStatus(ctx, owner, name, p.HeadSHA, opts)
		if err != nil {
			t.Fatal(err)
		}
		if cs.GetState() != "pending" || cs.GetTotalCount() != 47 {
			t.Errorf("page %d: state %s, total_count %d; want pending, 47", opts.Page, cs.GetState(), cs.GetTotalCount())
		}
		for _, s := range cs.Statuses {
			contexts = append(contexts, s.GetContext()+"="+s.GetState())
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if len(contexts) != 47 || contexts[0] != "atoll/apply=pending" || contexts[46] != "zz/lint=success" {
		t.Errorf("paged statuses = %v", contexts)
	}
	set("ci/07", "error")
	if cs, _, _ = c.Repositories.GetCombinedStatus(ctx, owner, name, p.HeadSHA, nil); cs.GetState() != "failure" {
		t.Errorf("with an error: state %s, want failure", cs.GetState())
	}
	if _, resp, _ := c.Repositories.GetCombinedStatus(ctx, owner, name, "0000000000000000000000000000000000000000", nil); resp.StatusCode != 422 {
		t.Errorf("unknown commit: %d, want 422", resp.StatusCode)
	}
}

func TestCheckRuns(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	ctx := context.Background()
	owner, name, _ := strings.Cut(repoName, "/")

	g.AddCheckRun(t, repoName, p.HeadSHA, "build", "completed", "failure")
	g.AddCheckRun(t, repoName, p.HeadSHA, "lint", "in_progress", "")
	for i := range 30 {
		g.AddCheckRun(t, repoName, p.HeadSHA, fmt.Sprintf("test-%02d", i), "completed", "success")
	}
	g.AddCheckRun(t, repoName, p.HeadSHA, "build", "completed", "success") // a rerun

	var runs []string
	opts := &gh.ListCheckRunsOptions{ListOptions: gh.ListOptions{PerPage: 7}}
	for {
		res, resp, err := c.Checks.ListCheckRunsForRef(ctx, owner, name, p.HeadSHA, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.GetTotal() != 32 {
			t.Errorf("total_count %d, want 32", res.GetTotal())
		}
		for _, r := range res.CheckRuns {
			if r.GetHeadSHA() != p.HeadSHA || r.GetApp().GetSlug() != "github-actions" || r.StartedAt == nil ||
				(r.GetStatus() == "completed") != (r.CompletedAt != nil) {
				t.Errorf("check run %s", gh.Stringify(r))
			}
			runs = append(runs, r.GetName()+"="+r.GetStatus()+"/"+r.GetConclusion())
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if len(runs) != 32 || runs[0] != "build=completed/success" || runs[31] != "lint=in_progress/" {
		t.Errorf("check runs, newest first = %v", runs)
	}
	all, _, err := c.Checks.ListCheckRunsForRef(ctx, owner, name, p.HeadSHA, &gh.ListCheckRunsOptions{
		CheckName: gh.String("build"), Filter: gh.String("all")})
	if err != nil || all.GetTotal() != 2 || all.CheckRuns[1].GetConclusion() != "failure" {
		t.Errorf("filter=all check_name=build: %s, %v", gh.Stringify(all), err)
	}
	none, _, err := c.Checks.ListCheckRunsForRef(ctx, owner, name, "main", nil)
	if err != nil || none.GetTotal() != 0 || none.CheckRuns == nil {
		t.Errorf("a commit without check runs: %s, %v", gh.Stringify(none), err)
	}
}

func TestMergeStateAndReviewDecision(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	ctx := context.Background()
	owner, name, _ := strings.Cut(repoName, "/")

	g.SetMergeState(repoName, p.Number, "blocked")
	pr, _, err := c.PullRequests.Get(ctx, owner, name, p.Number)
	if err != nil || !pr.GetMergeable() || pr.GetMergeableState() != "blocked" {
		t.Errorf("blocked: mergeable %v, mergeable_state %q, %v", pr.GetMergeable(), pr.GetMergeableState(), err)
	}
	if _, resp, _ := c.PullRequests.Merge(ctx, owner, name, p.Number, "", nil); resp.StatusCode != 405 {
		t.Errorf("merging a blocked pull request: %d, want 405", resp.StatusCode)
	}
	g.SetMergeable(repoName, p.Number, false)
	if pr, _, _ = c.PullRequests.Get(ctx, owner, name, p.Number); pr.GetMergeable() || pr.GetMergeableState() != "dirty" {
		t.Errorf("blocked and conflicting: mergeable %v, mergeable_state %q", pr.GetMergeable(), pr.GetMergeableState())
	}
	g.SetMergeable(repoName, p.Number, true)
	g.SetMergeState(repoName, p.Number, "")
	if pr, _, _ = c.PullRequests.Get(ctx, owner, name, p.Number); !pr.GetMergeable() || pr.GetMergeableState() != "clean" {
		t.Errorf("unblocked: mergeable %v, mergeable_state %q", pr.GetMergeable(), pr.GetMergeableState())
	}

	const query = `query($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) { pullRequest(number: $number) { reviewDecision } }
}`
	vars := map[string]any{"owner": owner, "name": name, "number": p.Number}
	if _, out := graphQL(t, g, g.Token(), query, vars); !equalJSON(out, decode(t, `{"data":{"repository":{"pullRequest":{"reviewDecision":null}}}}`)) {
		t.Errorf("no review required: %v", out)
	}
	g.SetReviewDecision(repoName, p.Number, "CHANGES_REQUESTED")
	if _, out := graphQL(t, g, g.Token(), query, vars); !equalJSON(out, decode(t, `{"data":{"repository":{"pullRequest":{"reviewDecision":"CHANGES_REQUESTED"}}}}`)) {
		t.Errorf("changes requested: %v", out)
	}
	literal := fmt.Sprintf(`{ r: repository(owner: %q, name: %q) { nameWithOwner pr: pullRequest(number: %d) { number reviewDecision __typename } } }`,
		owner, name, p.Number)
	want := fmt.Sprintf(`{"data":{"r":{"nameWithOwner":%q,"pr":{"__typename":"PullRequest","number":%d,"reviewDecision":"CHANGES_REQUESTED"}}}}`, repoName, p.Number)
	if _, out := graphQL(t, g, g.Token(), literal, nil); !equalJSON(out, decode(t, want)) {
		t.Errorf("literal arguments and aliases: %v", out)
	}
	vars["number"] = 99
	want = `{"data":{"repository":{"pullRequest":null}},"errors":[{"type":"NOT_FOUND","path":["repository","pullRequest"],` +
		`"message":"Could not resolve to a PullRequest with the number of 99."}]}`
	if _, out := graphQL(t, g, g.Token(), query, vars); !equalJSON(out, decode(t, want)) {
		t.Errorf("unknown pull request: %v", out)
	}
	vars["name"] = "nope"
	want = `{"data":{"repository":null},"errors":[{"type":"NOT_FOUND","path":["repository"],` +
		`"message":"Could not resolve to a Repository with the name 'acme/nope'."}]}`
	if _, out := graphQL(t, g, g.Token(), query, vars); !equalJSON(out, decode(t, want)) {
		t.Errorf("unknown repository: %v", out)
	}
	_, out := graphQL(t, g, g.Token(), `{ repository(owner: "acme", name: "x") { pullRequest(number: 1) { mergeStateStatus } } }`, nil)
	if _, ok := out["data"]; ok || !strings.Contains(fmt.Sprint(out["errors"]), "Field 'mergeStateStatus' doesn't exist on type 'PullRequest'") {
		t.Errorf("unknown field: %v", out)
	}
}
