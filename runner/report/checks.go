package report

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/atoll-iac/atoll/vcs"
)

// checkName is the name of the check run of command on a project, which
// target names ("DIR/WORKSPACE"): its commit status's context.
func checkName(command, target string) string { return fmt.Sprintf("atoll/%s: %s", command, target) }

// CheckRunning is the check run of command on a project (target) while
// it runs: desc says what it does.
func CheckRunning(command, target, desc string) vcs.CheckRun {
	return vcs.CheckRun{Name: checkName(command, target), State: vcs.Running, Title: desc, Summary: desc}
}

// CheckRun is the check run of a project (target) once it has result
// r: the tool's summary and the changes in the summary, the output as
// the text, both at most max bytes.
func CheckRun(target string, r Result, max int) vcs.CheckRun {
	var summary strings.Builder
	fmt.Fprintf(&summary, "**%s**: %s in workspace `%s`\n", r.verdict(), r.Title(), r.Project.Workspace)
	if c := r.counts(); c != "" {
		fmt.Fprintf(&summary, "\nChanges: `%s` (add, change, destroy)\n", c)
	}
	if r.Reason != "" {
		fmt.Fprintf(&summary, "\n%s\n", r.Reason)
	}
	if r.Hint != "" {
		fmt.Fprintf(&summary, "\n%s\n", r.Hint)
	}
	run := vcs.CheckRun{Name: checkName(r.Command, target), State: r.State(), Title: r.StatusDescription(), Summary: clip(summary.String(), max)}
	if out := strings.TrimRight(r.Output, "\n"); out != "" {
		if len(fence(out)) > maxFence {
			// Output made to stretch the fence past the forge's limit:
			// its backticks show as quotes here (not in the comment).
			out = strings.ReplaceAll(out, "`", "'")
		}
		// The fences and their line ends take the rest of the limit.
		var text strings.Builder
		CodeBlock(&text, clipOutput(out, max-2*len(fence(out))-3))
		run.Text = text.String()
	}
	return run
}

// maxFence is the longest fence a check run's text gets.
const maxFence = 32

// clipOutput shortens output to at most max bytes, keeping its end,
// where the tool sums up, and saying so at the top.
func clipOutput(out string, max int) string {
	const note = "[…cut: the output's start is in the pull request's comment]\n"
	if len(out) <= max {
		return out
	}
	cut := len(out) - (max - len(note))
	for cut < len(out) && !utf8.RuneStart(out[cut]) {
		cut++
	}
	return note + out[cut:]
}
