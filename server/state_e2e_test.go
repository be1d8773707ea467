package server

import (
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// TestImportAndStateRm changes a project's real local state from a pull
// request, on each forge: an import is refused until the pull request is
// approved, then imports the resource (the next plan changes it instead
// of creating it) and discards the saved plan; state rm takes it out of
// the state again (the next plan creates it).
func TestImportAndStateRm(t *testing.T) {
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"main.tf": oneResource})
		if c := e.say(t, pr, "bob", "atoll import terraform_data.web 7d1b6c2e-0000-4000-8000-000000000001"); !strings.Contains(c.Body, "will not import yet") {
			t.Errorf("import before approval:\n%s", c.Body)
		}
		e.f.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
		c := e.say(t, pr, "bob", "atoll import terraform_data.web 7d1b6c2e-0000-4000-8000-000000000001")
		for _, want := range []string{"import succeeded", "Import successful!", "saved plan is discarded", "`atoll plan -d .`"} {
			if !strings.Contains(c.Body, want) {
				t.Errorf("import's answer lacks %q:\n%s", want, c.Body)
			}
		}
		if st := e.status("acme/infra", pr.HeadSHA, "atoll/plan: ./default"); st.State != f.failure || !strings.Contains(st.Description, "plan discarded") {
			t.Errorf("plan status after the import: %+v", st)
		}
		if c := e.say(t, pr, "bob", "atoll apply"); !strings.Contains(c.Body, "no plan waiting to be applied") {
			t.Errorf("apply of the discarded plan:\n%s", c.Body)
		}
		if c := e.say(t, pr, "bob", "atoll plan"); !strings.Contains(c.Body, "Plan: 0 to add, 1 to change, 0 to destroy.") {
			t.Errorf("plan after the import: the resource should be in the state:\n%s", c.Body)
		}
		if c := e.say(t, pr, "bob", "atoll state rm terraform_data.web"); !strings.Contains(c.Body, "Successfully removed 1 resource instance(s).") {
			t.Errorf("state rm:\n%s", c.Body)
		}
		if c := e.say(t, pr, "bob", "atoll plan"); !strings.Contains(c.Body, "Plan: 1 to add, 0 to change, 0 to destroy.") {
			t.Errorf("plan after state rm: the resource should be out of the state:\n%s", c.Body)
		}
	})
}

// TestStateCommandNeedsOneProject: a state command on a pull request
// that changes two projects must name one; named, it runs there, and a
// failure is the tool's.
func TestStateCommandNeedsOneProject(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"a/main.tf": oneResource, "b/main.tf": oneResource}})
	e.gh.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
	if c := e.say(t, pr, "bob", "atoll state rm terraform_data.web"); !strings.Contains(c.Body, "changes the state of one project, and this selects 2") {
		t.Errorf("state rm with two projects:\n%s", c.Body)
	}
	// Named, b's state rm runs, and fails as the tool does: b's state
	// has no such resource.
	if c := e.say(t, pr, "bob", "atoll state rm -d b terraform_data.web"); !strings.Contains(c.Body, "state rm failed") || !strings.Contains(c.Body, "No state file was found!") || !strings.Contains(c.Body, "To state rm again: `atoll state rm -d b terraform_data.web`") {
		t.Errorf("state rm of what the state lacks, in b:\n%s", c.Body)
	}
}
