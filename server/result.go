package server

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// outcome is how running a command on one project ended.
type outcome int

const (
	outcomeSucceeded outcome = iota + 1
	// outcomeFailed: the tool ran and failed; its output says why.
	outcomeFailed
	// outcomeLocked: another pull request holds the project's lock; nothing ran.
	outcomeLocked
	// outcomeErrored: atoll failed; the log has the detail.
	outcomeErrored
	// outcomeSkipped: nothing ran, as there was nothing left to do.
	outcomeSkipped
)

// projectKey tells a repository's projects apart: two named projects
// may share a directory and workspace.
type projectKey struct {
	workflows.Project
	Name string
}

func keyOf(p workflows.ProjectConfig) projectKey { return projectKey{p.Project, p.Name} }

// projectResult is what a command did to one project.
type projectResult struct {
	Project workflows.Project
	// Name is the project's name in the repository config, if any.
	Name    string
	Command string
	// Tool runs the command; the server's default when zero.
	Tool    runner.Tool
	Outcome outcome
	// Summary is the tool's own summary line, or its first error line.
	Summary string
	// Output is the output of the last step run.
	Output string
	// Step names the step that failed.
	Step string
	// Hint, when set, says what to do about the result.
	Hint string
	// Holder holds the lock when Outcome is outcomeLocked.
	Holder locking.Lock
}

// failed reports whether the command did not do what it should have:
// the tool failed, atoll did, or another pull request held the lock. A
// project skipped for want of anything to do did not fail.
func (r projectResult) failed() bool {
	return r.Outcome == outcomeFailed || r.Outcome == outcomeErrored || r.Outcome == outcomeLocked
}

func (r projectResult) internal(jobID string) projectResult {
	r.Outcome = outcomeErrored
	r.Summary = fmt.Sprintf("atoll hit an internal error (job %s); the server's log has the details.", jobID)
	r.Output = ""
	return r
}

func (r projectResult) state() vcs.State {
	if r.Outcome == outcomeSucceeded {
		return vcs.Success
	}
	return vcs.Failure
}

func (r projectResult) statusDescription() string {
	switch r.Outcome {
	case outcomeSucceeded:
		return r.Summary
	case outcomeLocked:
		return fmt.Sprintf("locked by #%d", r.Holder.Pull)
	case outcomeFailed:
		return r.Command + " failed: " + r.Summary
	case outcomeSkipped:
		reason, _, _ := strings.Cut(strings.TrimPrefix(r.Summary, "Nothing ran: "), "\n")
		return "not run: " + strings.TrimSuffix(reason, ":")
	}
	return "internal error"
}

var (
	planCounts  = regexp.MustCompile(`Plan: (\d+) to add, (\d+) to change, (\d+) to destroy\.`)
	applyCounts = regexp.MustCompile(`Resources: (\d+) added, (\d+) changed, (\d+) destroyed\.`)
)

// counts returns the resources to add (or added), change and destroy, as
// "+1 ~0 -0", from a successful result's summary; "" when it has none.
func (r projectResult) counts() string {
	if r.Outcome != outcomeSucceeded {
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

var (
	planLine    = regexp.MustCompile(`(?m)^Plan: \d+ to add, \d+ to change, \d+ to destroy\.$`)
	applyLine   = regexp.MustCompile(`(?m)^Apply complete! Resources: \d+ added, \d+ changed, \d+ destroyed\.$`)
	noChanges   = regexp.MustCompile(`(?m)^No changes\..*$`)
	outputsOnly = regexp.MustCompile(`(?m)^Changes to Outputs:$`)
	errorRE     = regexp.MustCompile(`(?m)^(?:│ )?(Error: .*)$`)
)

// planSummary finds the tool's summary line in plan output, verbatim.
func planSummary(out string) string {
	for _, re := range []*regexp.Regexp{planLine, noChanges, outputsOnly} {
		if m := re.FindString(out); m != "" {
			return strings.TrimSpace(m)
		}
	}
	return "Plan finished."
}

// applySummary finds the tool's summary line in apply output, verbatim.
func applySummary(out string) string {
	if m := applyLine.FindString(out); m != "" {
		return m
	}
	return "Apply finished."
}

// errorLine returns the tool's first error line, or fallback.
func errorLine(out, fallback string) string {
	if m := errorRE.FindStringSubmatch(out); m != nil {
		return strings.TrimSpace(m[1])
	}
	return fallback
}
