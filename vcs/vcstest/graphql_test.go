package vcstest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

const minimizeMutation = `mutation($id: ID!, $classifier: ReportedContentClassifiers!) {
  minimizeComment(input: {subjectId: $id, classifier: $classifier}) { minimizedComment { isMinimized minimizedReason } }
}`

// graphQL POSTs a query to the fake's GraphQL endpoint as a raw client
// would, and decodes the answer.
func graphQL(t *testing.T, g *vcstest.GitHub, token, query string, vars map[string]any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequest(http.MethodPost, g.URL()+"/api/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// decode is doc decoded, for equalJSON.
func decode(t *testing.T, doc string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCommentLookupAndMinimize(t *testing.T) {
	t.Parallel()
	g, _ := newFixture(t, vcstest.GitHubOptions{})
	c := newClient(t, g, g.Token())
	ctx := context.Background()
	owner, name, _ := strings.Cut(repoName, "/")
	var ids []string
	for _, body := range []string{"Plan 1", "Plan 2"} {
		cm, _, err := c.Issues.CreateComment(ctx, owner, name, 1, &gh.IssueComment{Body: gh.String(body)})
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := c.Issues.GetComment(ctx, owner, name, cm.GetID())
		if err != nil || got.GetNodeID() != cm.GetNodeID() || got.GetNodeID() != fmt.Sprint("IC_kwDO", cm.GetID()) ||
			got.GetBody() != body || got.GetUser().GetLogin() != "atoll-bot" || got.GetHTMLURL() == "" || got.CreatedAt == nil {
			t.Errorf("GetComment = %s, %v", gh.Stringify(got), err)
		}
		ids = append(ids, got.GetNodeID())
	}
	if _, resp, _ := c.Issues.GetComment(ctx, owner, name, 999); resp.StatusCode != 404 {
		t.Errorf("GetComment(unknown) = %d, want 404", resp.StatusCode)
	}

	status, out := graphQL(t, g, g.Token(), minimizeMutation, map[string]any{"id": ids[0], "classifier": "OUTDATED"})
	want := `{"data":{"minimizeComment":{"minimizedComment":{"isMinimized":true,"minimizedReason":"outdated"}}}}`
	if status != 200 || !equalJSON(out, decode(t, want)) {
		t.Errorf("minimizeComment = %d %v", status, out)
	}
	// githubv4's shape: one $input, and an alias.
	status, out = graphQL(t, g, g.Token(),
		`mutation($input:MinimizeCommentInput!){m:minimizeComment(input:$input){minimizedComment{isMinimized,minimizedReason}}}`,
		map[string]any{"input": map[string]any{"subjectId": ids[1], "classifier": "OFF_TOPIC"}})
	want = `{"data":{"m":{"minimizedComment":{"isMinimized":true,"minimizedReason":"off-topic"}}}}`
	if status != 200 || !equalJSON(out, decode(t, want)) {
		t.Errorf("minimizeComment with $input = %d %v", status, out)
	}
	got := g.Comments(repoName, 1)
	if len(got) != 2 || !got[0].Minimized || got[0].MinimizedReason != "outdated" || got[1].MinimizedReason != "off-topic" {
		t.Errorf("Comments = %+v", got)
	}

	_, out = graphQL(t, g, g.Token(), minimizeMutation, map[string]any{"id": "IC_nope", "classifier": "OUTDATED"})
	want = `{"data":{"minimizeComment":null},"errors":[{"type":"NOT_FOUND","path":["minimizeComment"],` +
		`"message":"Could not resolve to a node with the global id of 'IC_nope'"}]}`
	if !equalJSON(out, decode(t, want)) {
		t.Errorf("unknown node id = %v", out)
	}
	for _, q := range []string{`query { viewer { login } }`, `mutation { addComment(input: {}) { clientMutationId } }`} {
		status, out = graphQL(t, g, g.Token(), q, nil)
		errs, _ := out["errors"].([]any)
		if _, hasData := out["data"]; status != 200 || hasData || len(errs) != 1 || !strings.Contains(fmt.Sprint(errs[0]), "doesn't exist on type") {
			t.Errorf("%s = %d %v", q, status, out)
		}
	}
	if status, _ := graphQL(t, g, "wrong", minimizeMutation, nil); status != 401 {
		t.Errorf("GraphQL with a wrong token = %d, want 401", status)
	}
	if n := g.GitHubRequests("/api/graphql"); n != 5 {
		t.Errorf("GitHubRequests(/api/graphql) = %d, want 5", n)
	}
}
