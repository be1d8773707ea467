package report

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// TestCheckRun renders projects' results as check runs: the summary line
// as the title, the changes and any hint in the summary, the output as
// the text, cut from the start to fit.
func TestCheckRun(t *testing.T) {
	t.Parallel()
	ok := Result{Project: workflows.Project{Dir: "infra", Workspace: "default"}, Command: "plan",
		Outcome: Succeeded, Summary: PlanSummary(samplePlan), Output: samplePlan}
	failed := Result{Project: workflows.Project{Dir: "net", Workspace: "staging"}, Name: "network", Command: "plan",
		Outcome: Failed, Step: "plan", Summary: ErrorLine(sampleError, "?"), Output: sampleError, Hint: "Fix it and push."}
	long := ok
	long.Output = strings.Repeat("a line of a long plan\n", 100) + samplePlan
	// A plan whose output would stretch the fence past the limit.
	backticks := ok
	backticks.Output = strings.Repeat("`", 600) + "\n" + samplePlan
	for _, tt := range []struct {
		name string
		r    Result
		max  int
	}{
		{"plan_ok", ok, 65535},
		{"plan_failed", failed, 65535},
		{"plan_cut", long, 1024},
		{"plan_backticks", backticks, 1024},
	} {
		t.Run(tt.name, func(t *testing.T) {
			run := CheckRun(tt.r.Project.Dir+"/"+tt.r.Project.Workspace, tt.r, tt.max)
			if len(run.Summary) > tt.max || len(run.Text) > tt.max {
				t.Errorf("summary %d and text %d bytes, over %d", len(run.Summary), len(run.Text), tt.max)
			}
			got := fmt.Sprintf("name: %s\nstate: %s\ntitle: %s\n\n-- summary --\n%s\n-- text --\n%s", run.Name, run.State, run.Title, run.Summary, run.Text)
			golden(t, filepath.Join("checks", tt.name+".md"), got)
		})
	}
	if run := CheckRunning("plan", "infra/default", "planning…"); run.Name != "atoll/plan: infra/default" || run.State != vcs.Running {
		t.Errorf("CheckRunning = %+v", run)
	}
}
