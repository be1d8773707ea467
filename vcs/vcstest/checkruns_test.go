package vcstest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// installationClient is a client with a token of installation id.
func installationClient(t *testing.T, g *vcstest.GitHub, app *vcstest.App, id int64) *gh.Client {
	t.Helper()
	jwtClient := newClient(t, g, appJWT(t, appKey(t, app), goodClaims(app, time.Now())))
	tok, _, err := jwtClient.Apps.CreateInstallationToken(context.Background(), id, nil)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, g, tok.GetToken())
}

func TestAppCheckRuns(t *testing.T) {
	t.Parallel()
	g, app, acme, _ := newAppFixture(t, vcstest.AppOptions{})
	ctx := context.Background()
	c := installationClient(t, g, app, acme)
	sha := g.Pull("acme/infra", 1).HeadSHA
	g.AddCheckRun(t, "acme/infra", sha, "ci/build", "completed", "success")

	created, resp, err := c.Checks.CreateCheckRun(ctx, "acme", "infra", gh.CreateCheckRunOptions{
		Name: "atoll/plan", HeadSHA: sha, Status: gh.String("in_progress"), ExternalID: gh.String("job-1"),
	})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating a check run: %v", err)
	}
	if created.GetID() == 0 || created.GetHeadSHA() != sha || created.GetStatus() != "in_progress" || created.Conclusion != nil ||
		created.StartedAt == nil || created.CompletedAt != nil || created.GetApp().GetSlug() != app.Slug ||
		created.GetApp().GetID() != app.ID || created.GetExternalID() != "job-1" || created.GetCheckSuite().GetID() == 0 ||
		created.GetHTMLURL() == "" || created.GetDetailsURL() != g.URL()+"/apps/"+app.Slug ||
		created.GetOutput().GetAnnotationsCount() != 0 || created.GetOutput().Title != nil {
		t.Errorf("created = %s", gh.Stringify(created))
	}

	updated, _, err := c.Checks.UpdateCheckRun(ctx, "acme", "infra", created.GetID(), gh.UpdateCheckRunOptions{
		Status: gh.String("completed"), Conclusion: gh.String("success"), DetailsURL: gh.String("https://atoll.example/jobs/1"),
		Output: &gh.CheckRunOutput{Title: gh.String("Plan: 1 to add"), Summary: gh.String("1 project"), Text: gh.String("```\n+ a\n```")},
	})
	if err != nil || updated.GetID() != created.GetID() || updated.GetName() != "atoll/plan" ||
		updated.GetStatus() != "completed" || updated.GetConclusion() != "success" || updated.CompletedAt == nil ||
		updated.GetDetailsURL() != "https://atoll.example/jobs/1" || updated.GetOutput().GetTitle() != "Plan: 1 to add" ||
		updated.GetOutput().GetSummary() != "1 project" || updated.GetOutput().GetText() != "```\n+ a\n```" {
		t.Fatalf("updated = %s, %v", gh.Stringify(updated), err)
	}

	listed, _, err := c.Checks.ListCheckRunsForRef(ctx, "acme", "infra", sha, nil)
	var names []string
	for _, r := range listed.CheckRuns {
		names = append(names, r.GetName()+"@"+r.GetApp().GetSlug()+"="+r.GetConclusion())
	}
	if err != nil || strings.Join(names, " ") != "atoll/plan@atoll-app=success ci/build@github-actions=success" {
		t.Errorf("listed, newest first = %v, %v", names, err)
	}

	other, _, err := installationClient(t, g, app, acme).Checks.CreateCheckRun(ctx, "acme", "network", gh.CreateCheckRunOptions{
		Name: "atoll/plan", HeadSHA: branchSHA(t, c, "acme", "network"), Status: gh.String("queued")})
	if err != nil {
		t.Fatal(err)
	}
	checkRunRefusals(t, g, c, refusalRuns{sha: sha, mainSHA: branchSHA(t, c, "acme", "infra"),
		appRun: created.GetID(), actionsRun: g.CheckRuns("acme/infra", sha)[1].ID, otherRun: other.GetID()})

	want := []vcstest.CheckRun{
		{ID: created.GetID(), Name: "atoll/plan", Status: "completed", Conclusion: "success", Title: "Plan: 1 to add",
			Summary: "1 project", Text: "```\n+ a\n```", App: app.Slug, Updates: 1},
		{ID: g.CheckRuns("acme/infra", sha)[1].ID, Name: "ci/build", Status: "completed", Conclusion: "success"},
	}
	got := g.CheckRuns("acme/infra", sha)
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("CheckRuns =\n%+v\nwant\n%+v", got, want)
	}
}

// branchSHA is the commit branch main of owner/name points at.
func branchSHA(t *testing.T, c *gh.Client, owner, name string) string {
	t.Helper()
	b, _, err := c.Repositories.GetBranch(context.Background(), owner, name, "main", 0)
	if err != nil {
		t.Fatal(err)
	}
	return b.GetCommit().GetSHA()
}

// refusalRuns are the commits and check runs checkRunRefusals tries.
type refusalRuns struct {
	// sha is acme/infra's pull request head, mainSHA its main, which a
	// run the test accepts may go on.
	sha, mainSHA string
	// appRun is a run the App created on sha, actionsRun one GitHub
	// Actions reported there, and otherRun one of acme/network.
	appRun, actionsRun, otherRun int64
}

// checkRunRefusals checks what GitHub refuses of check runs on
// acme/infra, with c an installation client of acme.
func checkRunRefusals(t *testing.T, g *vcstest.GitHub, c *gh.Client, runs refusalRuns) {
	t.Helper()
	sha, actionsRun, otherRun := runs.sha, runs.actionsRun, runs.otherRun
	ctx := context.Background()
	personal := newClient(t, g, g.Token())
	create := func(c *gh.Client, o gh.CreateCheckRunOptions) func() error {
		return func() error {
			_, _, err := c.Checks.CreateCheckRun(ctx, "acme", "infra", o)
			return err
		}
	}
	update := func(c *gh.Client, id int64, o gh.UpdateCheckRunOptions) func() error {
		return func() error { _, _, err := c.Checks.UpdateCheckRun(ctx, "acme", "infra", id, o); return err }
	}
	long, longest := strings.Repeat("é", 65536), strings.Repeat("é", 65535)
	output := func(text string) *gh.CheckRunOutput {
		return &gh.CheckRunOutput{Title: gh.String("t"), Summary: gh.String("s"), Text: gh.String(text)}
	}
	tests := []struct {
		name    string
		call    func() error
		status  int // 0: accepted
		message string
	}{
		{"personal token creates", create(personal, gh.CreateCheckRunOptions{Name: "x", HeadSHA: sha}),
			http.StatusForbidden, "You must authenticate via a GitHub App."},
		{"personal token updates", update(personal, actionsRun, gh.UpdateCheckRunOptions{Status: gh.String("queued")}),
			http.StatusForbidden, "You must authenticate via a GitHub App."},
		{"text of 65535 characters", create(c, gh.CreateCheckRunOptions{Name: "x", HeadSHA: runs.mainSHA, Output: output(longest)}), 0, ""},
		{"text of 65536 characters", create(c, gh.CreateCheckRunOptions{Name: "x", HeadSHA: sha, Output: output(long)}),
			http.StatusUnprocessableEntity, "Invalid request.\n\nOnly 65535 characters are allowed; 65536 were supplied."},
		{"summary of 65536 characters", update(c, runs.appRun, gh.UpdateCheckRunOptions{Output: &gh.CheckRunOutput{Summary: &long}}),
			http.StatusUnprocessableEntity, "Invalid request.\n\nOnly 65535 characters are allowed; 65536 were supplied."},
		{"unknown commit", create(c, gh.CreateCheckRunOptions{Name: "x", HeadSHA: strings.Repeat("0", 40)}),
			http.StatusUnprocessableEntity, "No commit found for SHA: " + strings.Repeat("0", 40)},
		{"a branch for a SHA", create(c, gh.CreateCheckRunOptions{Name: "x", HeadSHA: "main"}),
			http.StatusUnprocessableEntity, "No commit found for SHA: main"},
		{"no name", create(c, gh.CreateCheckRunOptions{HeadSHA: sha}),
			http.StatusUnprocessableEntity, "Invalid request.\n\n\"name\" wasn't supplied."},
		{"completed without a conclusion", create(c, gh.CreateCheckRunOptions{Name: "x", HeadSHA: sha, Status: gh.String("completed")}),
			http.StatusUnprocessableEntity, "Invalid request.\n\n\"conclusion\" wasn't supplied."},
		{"a status of GitHub's", create(c, gh.CreateCheckRunOptions{Name: "x", HeadSHA: sha, Status: gh.String("waiting")}),
			http.StatusUnprocessableEntity, "Invalid request.\n\nFor 'properties/status', \"waiting\" is not one of"},
		{"output without a title", create(c, gh.CreateCheckRunOptions{Name: "x", HeadSHA: sha, Output: &gh.CheckRunOutput{Summary: gh.String("s")}}),
			http.StatusUnprocessableEntity, "Invalid request.\n\n\"title\" wasn't supplied."},
		{"unknown run", update(c, 999999, gh.UpdateCheckRunOptions{Status: gh.String("queued")}), http.StatusNotFound, "Not Found"},
		{"another repository's run", update(c, otherRun, gh.UpdateCheckRunOptions{Status: gh.String("queued")}), http.StatusNotFound, "Not Found"},
		{"another App's run", update(c, actionsRun, gh.UpdateCheckRunOptions{Status: gh.String("queued")}),
			http.StatusForbidden, "check run can only be modified by the GitHub App that created it"},
		{"another installation's repository", func() error {
			_, _, err := c.Checks.CreateCheckRun(ctx, "globex", "infra", gh.CreateCheckRunOptions{Name: "x", HeadSHA: sha})
			return err
		}, http.StatusForbidden, "Resource not accessible by integration"},
	}
	for _, tt := range tests {
		err := tt.call()
		status, msg := refusal(err)
		switch {
		case tt.status == 0 && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.status != 0 && (status != tt.status || !strings.Contains(msg, tt.message)):
			t.Errorf("%s = %d %q, %v; want %d %q", tt.name, status, msg, err, tt.status, tt.message)
		}
	}
}
