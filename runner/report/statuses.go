package report

import (
	"fmt"

	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/vcs"
)

// Status is the commit status of command ("plan", "apply") on a project,
// which target names ("DIR/WORKSPACE").
func Status(command, target string, state vcs.State, desc string) vcs.Status {
	return vcs.Status{Context: fmt.Sprintf("atoll/%s: %s", command, target), State: state, Description: desc}
}

// Aggregates are the statuses that sum up every project of a pull request
// with plan records recs, for branch protection to require: atoll/plan
// succeeds when each project has a plan, atoll/apply when each plan is
// applied. None when there are no records.
func Aggregates(recs []plans.Record) []vcs.Status {
	if len(recs) == 0 {
		return nil
	}
	var planned, applied, applyFailed int
	for _, rec := range recs {
		switch rec.State {
		case plans.Planned:
			planned++
		case plans.ApplyFailed:
			planned++
			applyFailed++
		case plans.Applied:
			planned++
			applied++
		}
	}
	n := len(recs)
	plan := vcs.Status{Context: "atoll/plan", State: vcs.Failure, Description: fmt.Sprintf("%d/%d projects planned", planned, n)}
	if planned == n {
		plan.State = vcs.Success
	}
	apply := vcs.Status{Context: "atoll/apply", State: vcs.Pending, Description: fmt.Sprintf("%d/%d projects applied", applied, n)}
	switch {
	case applied == n:
		apply.State = vcs.Success
	case applyFailed > 0 || planned < n:
		apply.State = vcs.Failure
	}
	return []vcs.Status{plan, apply}
}
