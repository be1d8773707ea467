package vcstest_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// get fetches a page of the fake, with no token, and returns its status
// and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// A person can read a pull request's conversation in a browser: atoll's
// Markdown rendered, the author's text escaped, the head's statuses.
func TestPullRequestPage(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{})
	client := newClient(t, g, g.Token())
	ctx := context.Background()
	g.PostComment(t, p, "mallory", "<script>alert(1)</script> [click](javascript:evil) atoll plan")
	answer := "### atoll plan: 1 of 1 projects succeeded\n\n| project | result |\n| --- | --- |\n| `.` | ✅ plan succeeded |\n\n" +
		"<details><summary>Full output</summary>\n\n```\nPlan: 1 to add, 0 to change, 0 to destroy.\n```\n\n</details>\n"
	if _, _, err := client.Issues.CreateComment(ctx, "acme", "infra.live", p.Number, &gh.IssueComment{Body: gh.String(answer)}); err != nil {
		t.Fatal(err)
	}
	g.Review(t, repoName, p.Number, "bob", "APPROVED")
	if _, _, err := client.Repositories.CreateStatus(ctx, "acme", "infra.live", p.HeadSHA, &gh.RepoStatus{State: gh.String("success"), Context: gh.String("atoll/plan"), Description: gh.String("1/1 projects planned")}); err != nil {
		t.Fatal(err)
	}

	code, page := get(t, g.URL()+"/"+repoName+"/pull/1")
	if code != http.StatusOK {
		t.Fatalf("GET the pull request's page: %d\n%s", code, page)
	}
	for _, want := range []string{
		"<h4>atoll plan: 1 of 1 projects succeeded</h4>",
		"<tr><th>project</th><th>result</th></tr>",
		"<tr><td><code>.</code></td><td>✅ plan succeeded</td></tr>",
		"<details><summary>Full output</summary>",
		"<pre>Plan: 1 to add, 0 to change, 0 to destroy.</pre>",
		"&lt;script&gt;alert(1)&lt;/script&gt; click atoll plan",
		"<b>bob</b> approved these changes",
		"✓ <b>atoll/plan</b> — 1/1 projects planned",
		`<span class="state open">open</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "javascript:") {
		t.Errorf("the author's HTML or link reached the page:\n%s", page)
	}
	if strings.Index(page, "mallory") > strings.Index(page, "atoll plan: 1 of 1") {
		t.Errorf("comments out of order:\n%s", page)
	}

	// The page's version moves with what it shows, so that it reloads.
	version := regexp.MustCompile(`<meta name="version" content="([^"]*)">`)
	before := version.FindStringSubmatch(page)
	if _, _, err := client.Issues.CreateComment(ctx, "acme", "infra.live", p.Number, &gh.IssueComment{Body: gh.String("more")}); err != nil {
		t.Fatal(err)
	}
	_, page = get(t, g.URL()+"/"+repoName+"/pull/1")
	if after := version.FindStringSubmatch(page); before == nil || after == nil || before[1] == after[1] {
		t.Errorf("the page's version did not change with a new comment: %v, then %v", before, after)
	}

	code, index := get(t, g.URL()+"/")
	if code != http.StatusOK || !strings.Contains(index, `<a href="/acme/infra.live/pull/1">#1</a>`) {
		t.Errorf("the index (%d) does not link the pull request:\n%s", code, index)
	}
	for _, path := range []string{"/acme/infra.live/pull/2", "/acme/nothing/pull/1", "/acme/infra.live/pull/x", "/acme/infra.live/issues/1"} {
		if code, _ := get(t, g.URL()+path); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
}

// ParseMarkdown splits what atoll writes into the blocks both the pages
// and atoll testdrive render.
func TestParseMarkdown(t *testing.T) {
	t.Parallel()
	body := "#### ✅ done\ntext with `code`\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n---\n<details><summary>Out</summary>\n\n```\nx\n\ny\n```\n</details>\n"
	got := vcstest.ParseMarkdown(body)
	want := []vcstest.Block{
		{Kind: vcstest.Heading, Text: "✅ done"},
		{Kind: vcstest.Paragraph, Text: "text with `code`"},
		{Kind: vcstest.Paragraph},
		{Kind: vcstest.Table, Rows: [][]string{{"a", "b"}, {"1", "2"}}},
		{Kind: vcstest.Rule},
		{Kind: vcstest.Fold, Text: "Out"},
		{Kind: vcstest.Paragraph},
		{Kind: vcstest.Code, Lines: []string{"x", "", "y"}},
		{Kind: vcstest.Unfold},
	}
	if len(got) != len(want) {
		t.Fatalf("%d blocks, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Kind != want[i].Kind || got[i].Text != want[i].Text || strings.Join(got[i].Lines, "\n") != strings.Join(want[i].Lines, "\n") || len(got[i].Rows) != len(want[i].Rows) {
			t.Errorf("block %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
