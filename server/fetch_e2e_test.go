package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// TestAutoplanWhenTheForgeFailsToServeGit has the forge answer the
// checkout's git requests 500: a failure that passes is tried again, and
// one that does not fails the plan status and says how to try again.
func TestAutoplanWhenTheForgeFailsToServeGit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// fails is how many git requests the forge answers 500; < 0: all.
		fails int
		// want is in the autoplan's comment; status is atoll/plan's.
		want   []string
		status string
	}{
		{name: "once", fails: 1, want: []string{"Plan: 1 to add, 0 to change, 0 to destroy."}, status: "success"},
		{name: "always", fails: -1, status: "failure", want: []string{
			"**atoll could not check out this pull request**", "the forge answered HTTP 500, 4 times in a row",
			"to try again, comment `atoll plan`",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, testOptions{})
			e.gh.CreateRepo(t, "acme/infra", nil)
			pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"main.tf": oneResource}})
			e.gh.FailGit(tt.fails)
			mustStatus(t, e.gh.SendPullRequest(t, e.events, "opened", pr), http.StatusAccepted, "queued")
			cs := e.waitComments(t, pr, 1)
			if len(cs) != 1 {
				t.Fatalf("want one comment, got %+v", cs)
			}
			for _, want := range tt.want {
				if !strings.Contains(cs[0].Body, want) {
					t.Errorf("the autoplan's comment lacks %q:\n%s", want, cs[0].Body)
				}
			}
			if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan"); st.State != tt.status {
				t.Errorf("atoll/plan status = %+v, want %s", st, tt.status)
			}
			if tt.fails >= 0 {
				return
			}
			// Once the forge is well again, the command the comment
			// names plans.
			e.gh.FailGit(0)
			if c := e.say(t, pr, "alice", "atoll plan"); !strings.Contains(c.Body, "Plan: 1 to add") {
				t.Errorf("atoll plan once the forge is back:\n%s", c.Body)
			}
			if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan"); st.State != "success" {
				t.Errorf("atoll/plan status once planned = %+v, want success", st)
			}
		})
	}
}
