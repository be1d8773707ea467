package report

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner/policy"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// Outcome is how running a command on one project ended.
type Outcome int

// Outcomes.
const (
	Succeeded Outcome = iota + 1
	// Failed: the tool ran and failed; its output says why.
	Failed
	// Locked: another pull request holds the project's lock; nothing ran.
	Locked
	// Errored: atoll failed; the log has the detail.
	Errored
	// Skipped: nothing ran, as there was nothing left to do, or something
	// stood in the way (Reason says what).
	Skipped
	// Stale: the plan was made, but another pull request's apply changed
	// the project's state since (Summary says whose): it is not applied.
	Stale
)

// Result is what a command did to one project.
type Result struct {
	Project workflows.Project
	// Name is the project's name in the repository config, if any.
	Name    string
	Command string
	Outcome Outcome
	// Summary is the tool's own summary line, or its first error line.
	Summary string
	// Reason says, in sentences, why nothing ran, when Outcome is Skipped.
	Reason string
	// Output is the output of the steps shown.
	Output string
	// Step names the step that failed.
	Step string
	// Hint, when set, says what to do about the result.
	Hint string
	// Args are what a state command worked on (workflows.Command.Args):
	// running it again takes them too.
	Args []string
	// Policies are what the policy sets said of a plan; none when no
	// policy checks ran.
	Policies []policy.Result
	// Holder holds the lock when Outcome is Locked, and HolderRef is how
	// comments refer to its pull request ("#7", "!7"; "#N" when empty).
	Holder    locking.Lock
	HolderRef string
	// Place, when Outcome is Locked, is the pull request's place in line
	// for the lock, from 1; 0 when it is not in line.
	Place int
}

// holderRef is how the result refers to the pull request holding the
// lock, or to the run that holds it for no pull request (Pull 0).
func (r Result) holderRef() string {
	switch {
	case r.Holder.Pull == 0 && r.Holder.User == "drift": // runner.DriftOperator
		return "atoll's drift check of the branch"
	case r.Holder.Pull == 0:
		return "a run asked for through atoll's API"
	case r.HolderRef != "":
		return r.HolderRef
	}
	return fmt.Sprintf("#%d", r.Holder.Pull)
}

// Skip returns r skipped: nothing ran, for reason (in sentences).
func (r Result) Skip(reason string) Result {
	r.Outcome, r.Reason = Skipped, reason
	return r
}

// Internal returns r as atoll's own failure, which the log of job jobID
// details.
func (r Result) Internal(jobID string) Result {
	r.Outcome = Errored
	r.Summary = fmt.Sprintf("atoll hit an internal error (job %s); the server's log has the details.", jobID)
	r.Output = ""
	return r
}

// HasFailed reports whether the command did not do what it should have:
// the tool failed, atoll did, or another pull request held the lock. A
// project skipped for want of anything to do did not fail.
func (r Result) HasFailed() bool {
	return r.Outcome == Failed || r.Outcome == Errored || r.Outcome == Locked || r.Outcome == Stale
}

// State is the commit status state that stands for r.
func (r Result) State() vcs.State {
	if r.Outcome == Succeeded {
		return vcs.Success
	}
	return vcs.Failure
}

// StatusDescription is r in a commit status's few words.
func (r Result) StatusDescription() string {
	switch r.Outcome {
	case Succeeded:
		return r.Summary
	case Locked:
		if r.Place > 0 {
			return fmt.Sprintf("locked by %s; %s in line", r.holderRef(), Ordinal(r.Place))
		}
		return "locked by " + r.holderRef()
	case Failed:
		return r.Command + " failed: " + r.Summary
	case Stale:
		return r.Summary
	case Skipped:
		reason, _, _ := strings.Cut(r.Reason, "\n")
		return "not run: " + strings.TrimSuffix(reason, ":")
	}
	return "internal error"
}

// Title names the project: its directory, and its name when it has one.
func (r Result) Title() string {
	if r.Name != "" {
		return fmt.Sprintf("`%s` (`%s`)", r.Name, r.Project.Dir)
	}
	return fmt.Sprintf("`%s`", r.Project.Dir)
}

// verdict is a result in a few words, with its mark.
func (r Result) verdict() string {
	switch r.Outcome {
	case Succeeded:
		return "✅ " + r.Command + " succeeded"
	case Failed:
		return "❌ " + r.Command + " failed"
	case Locked:
		if r.Place > 0 {
			return fmt.Sprintf("🔒 locked by %s, %s in line", r.holderRef(), Ordinal(r.Place))
		}
		return "🔒 locked by " + r.holderRef()
	case Skipped:
		return "⏭️ skipped"
	case Stale:
		return "🕰️ stale"
	}
	return "⚠️ not run"
}

// counts returns the resources to add (or added), change and destroy, as
// "+1 ~0 -0", from a successful result's summary; "" when it has none.
func (r Result) counts() string {
	if r.Outcome != Succeeded {
		return ""
	}
	if strings.HasPrefix(r.Summary, "No changes.") {
		return "+0 ~0 -0"
	}
	for _, re := range []*regexp.Regexp{planCounts, applyCounts} {
		if m := re.FindStringSubmatch(r.Summary); m != nil {
			return fmt.Sprintf("+%s ~%s -%s", m[1], m[2], m[3])
		}
	}
	return ""
}
