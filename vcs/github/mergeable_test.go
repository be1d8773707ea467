package github

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// graphQLFailing answers every GraphQL request with answer (its status and
// body), as a GitHub Enterprise Server without GraphQL or a token that
// may not read the pull request would; REST requests go through.
type graphQLFailing struct {
	status int
	body   string
}

func (g graphQLFailing) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.URL.Path, "/graphql") {
		return http.DefaultTransport.RoundTrip(r)
	}
	return &http.Response{
		StatusCode: g.status,
		Header:     http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		Body:       io.NopCloser(strings.NewReader(g.body)),
		Request:    r,
	}, nil
}

// A pull request GitHub says is blocked is mergeable when only atoll's
// own pending statuses block it: anything else that branch protection may
// be waiting for keeps it unmergeable.
func TestBlockedPullRequestMergeable(t *testing.T) {
	t.Parallel()
	type fake struct {
		gh   *vcstest.GitHub
		f    *Forge
		head string
		pr   int
	}
	status := func(t *testing.T, x fake, context, state string) {
		t.Helper()
		if err := x.f.SetStatus(t.Context(), vcs.Repo{FullName: "acme/infra"}, x.head, vcs.Status{Context: context, State: vcs.State(state)}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, x fake)
		graphQL http.RoundTripper // nil: the fake's
		want    bool
	}{
		{name: "only atoll's pending status", want: true},
		{name: "another status failed", setup: func(t *testing.T, x fake) {
			status(t, x, "ci/build", "failure")
		}},
		{name: "another status pending", setup: func(t *testing.T, x fake) {
			status(t, x, "ci/build", "pending")
		}},
		{name: "another status passed after failing", want: true, setup: func(t *testing.T, x fake) {
			status(t, x, "ci/build", "failure")
			status(t, x, "ci/build", "success")
		}},
		{name: "a failing status on the second page", setup: func(t *testing.T, x fake) {
			for i := range 120 {
				status(t, x, fmt.Sprintf("ci/%03d", i), "success")
			}
			status(t, x, "zz/lint", "error")
		}},
		{name: "a check run failed", setup: func(t *testing.T, x fake) {
			x.gh.AddCheckRun(t, "acme/infra", x.head, "build", "completed", "failure")
		}},
		{name: "a check run pending", setup: func(t *testing.T, x fake) {
			x.gh.AddCheckRun(t, "acme/infra", x.head, "build", "in_progress", "")
		}},
		{name: "a check run queued", setup: func(t *testing.T, x fake) {
			x.gh.AddCheckRun(t, "acme/infra", x.head, "build", "queued", "")
		}},
		{name: "a check run cancelled", setup: func(t *testing.T, x fake) {
			x.gh.AddCheckRun(t, "acme/infra", x.head, "build", "completed", "cancelled")
		}},
		{name: "check runs passed, skipped or neutral", want: true, setup: func(t *testing.T, x fake) {
			x.gh.AddCheckRun(t, "acme/infra", x.head, "build", "completed", "success")
			x.gh.AddCheckRun(t, "acme/infra", x.head, "deploy", "completed", "skipped")
			x.gh.AddCheckRun(t, "acme/infra", x.head, "lint", "completed", "neutral")
		}},
		{name: "a check run passed on rerun", want: true, setup: func(t *testing.T, x fake) {
			x.gh.AddCheckRun(t, "acme/infra", x.head, "build", "completed", "failure")
			x.gh.AddCheckRun(t, "acme/infra", x.head, "build", "completed", "success")
		}},
		{name: "a failing check run on the second page", setup: func(t *testing.T, x fake) {
			x.gh.AddCheckRun(t, "acme/infra", x.head, "build", "completed", "failure") // oldest: listed last
			for i := range 120 {
				x.gh.AddCheckRun(t, "acme/infra", x.head, fmt.Sprintf("test-%03d", i), "completed", "success")
			}
		}},
		{name: "atoll's own check run pending", want: true, setup: func(t *testing.T, x fake) {
			x.gh.AddCheckRun(t, "acme/infra", x.head, "atoll/apply", "in_progress", "")
		}},
		{name: "review required", setup: func(t *testing.T, x fake) {
			x.gh.SetReviewDecision("acme/infra", x.pr, "REVIEW_REQUIRED")
		}},
		{name: "changes requested", setup: func(t *testing.T, x fake) {
			x.gh.SetReviewDecision("acme/infra", x.pr, "CHANGES_REQUESTED")
		}},
		{name: "approved", want: true, setup: func(t *testing.T, x fake) {
			x.gh.SetReviewDecision("acme/infra", x.pr, "APPROVED")
		}},
		{name: "GraphQL answers an error",
			graphQL: graphQLFailing{http.StatusOK, `{"errors":[{"type":"FORBIDDEN","message":"Resource not accessible by integration"}]}`}},
		{name: "GraphQL not served",
			graphQL: graphQLFailing{http.StatusNotFound, `{"message":"Not Found"}`}},
		{name: "GraphQL answers no pull request",
			graphQL: graphQLFailing{http.StatusOK, `{"data":{"repository":null}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_test"})
			g.CreateRepo(t, "acme/infra", nil)
			pr := g.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": "# x\n"}})
			g.SetMergeState("acme/infra", pr.Number, "blocked")
			cfg := Config{Token: "ghp_test", APIURL: g.APIURL()}
			if tt.graphQL != nil {
				cfg.HTTPClient = &http.Client{Transport: tt.graphQL}
			}
			f, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			x := fake{gh: g, f: f, head: pr.HeadSHA, pr: pr.Number}
			status(t, x, "atoll/apply", "pending") // required by branch protection
			status(t, x, "atoll/plan", "success")
			if tt.setup != nil {
				tt.setup(t, x)
			}
			pull, err := f.PullRequest(t.Context(), vcs.Repo{FullName: "acme/infra"}, pr.Number)
			if err != nil {
				t.Fatal(err)
			}
			if pull.Mergeable != tt.want {
				t.Errorf("Mergeable = %v, want %v", pull.Mergeable, tt.want)
			}
		})
	}
}

// A repository the forge cannot read the statuses or check runs of is an
// error, not a verdict.
func TestBlockedPullRequestAPIError(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_test"})
	g.CreateRepo(t, "acme/infra", nil)
	pr := g.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": "# x\n"}})
	g.SetMergeState("acme/infra", pr.Number, "blocked")
	f, err := New(Config{Token: "ghp_test", APIURL: g.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.blockedOnlyByAtoll(t.Context(), "acme", "infra", pr.Number, "0000000000000000000000000000000000000000"); err == nil ||
		!strings.Contains(err.Error(), "fetching the statuses of acme/infra@0000000") {
		t.Errorf("blockedOnlyByAtoll(unknown commit) = %v, want an error", err)
	}
}
