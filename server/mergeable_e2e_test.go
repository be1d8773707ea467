package server

import (
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/workflows"
)

// Branch protection that requires atoll/apply keeps GitHub's
// mergeable_state "blocked" until the apply runs, so atoll looks past its
// own statuses: but a failing check run (GitHub Actions reports those,
// not statuses) or a review still required blocks the merge too, and the
// apply with it.
func TestMergeableBlockedByCheckRun(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: func(c *Config) {
		c.ApplyRequirements = workflows.Requirements{Mergeable: true}
	}})
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	e.gh.SetMergeState("acme/infra", pr.Number, "blocked")
	e.gh.AddCheckRun(t, "acme/infra", pr.HeadSHA, "test", "completed", "failure")

	c := e.say(t, pr, "bob", "atoll apply")
	if !strings.Contains(c.Body, "will not apply yet") || !strings.Contains(c.Body, "**mergeable**") {
		t.Fatalf("apply while a check run fails:\n%s", c.Body)
	}
	e.gh.AddCheckRun(t, "acme/infra", pr.HeadSHA, "test", "completed", "success") // rerun, passed
	e.gh.SetReviewDecision("acme/infra", pr.Number, "REVIEW_REQUIRED")
	if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "**mergeable**") {
		t.Fatalf("apply while a review is required:\n%s", c.Body)
	}
	if st := e.status("acme/infra", pr.HeadSHA, "atoll/apply: ./default"); st.State != "" {
		t.Errorf("refused applies set a status: %+v", st)
	}
	e.gh.SetReviewDecision("acme/infra", pr.Number, "APPROVED")
	if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "Apply complete! Resources: 1 added") {
		t.Fatalf("apply once only atoll blocks the merge:\n%s", c.Body)
	}
}
