// Package report owns what atoll says on a pull request: the result
// comments of a command (one per command, its summary table, each
// project's summary line verbatim with the full output collapsed, split
// over several comments when too long), the comment that stands while a
// command runs and is edited into its result, and the commit statuses.
// Rendered comments are checked against golden files in testdata.
package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/atoll-iac/atoll/runner/policy"
	"github.com/atoll-iac/atoll/workflows"
)

// chunkOverhead is room kept in an output comment for its heading and markup.
const chunkOverhead = 1024

// Running is the comment that stands while command runs on the projects
// sel selects.
func Running(command string, sel workflows.Command) string {
	switch {
	case sel.Project != "":
		return fmt.Sprintf(RunningMark+" Running %s for project `%s`…", command, workflows.Quote(sel.Project))
	case sel.Selects():
		return fmt.Sprintf(RunningMark+" Running %s for `%s` in workspace `%s`…", command, workflows.Quote(cmp.Or(sel.Dir, ".")), workflows.Quote(cmp.Or(sel.Workspace, workflows.DefaultWorkspace)))
	}
	return fmt.Sprintf(RunningMark+" Running %s for this pull request's projects…", command)
}

// Results renders the results of one command as comment bodies of at
// most max bytes each. Usually that is one comment. When the outputs do not
// fit, the first comment keeps every project's result and summary line,
// and the outputs follow in numbered comments.
func Results(results []Result, max int) []string {
	full := renderBody(results, true)
	if len(full) <= max {
		return []string{full}
	}
	var chunks []outputChunk
	for _, r := range results {
		parts := splitOutput(r.Output, max-chunkOverhead)
		for i, p := range parts {
			chunks = append(chunks, outputChunk{result: r, text: p, part: i + 1, parts: len(parts)})
		}
	}
	n := 1 + len(chunks)
	first := renderBody(results, false) +
		fmt.Sprintf("\n_The full output is too long for one comment; it follows in comments 2 to %d._\n", n)
	bodies := []string{clip(first, max)}
	for i, c := range chunks {
		bodies = append(bodies, c.render(i+2, n))
	}
	return bodies
}

func renderBody(results []Result, withOutput bool) string {
	var b strings.Builder
	if len(results) > 1 {
		renderTable(&b, results)
	}
	for i, r := range results {
		if i > 0 {
			b.WriteString("\n---\n\n")
		}
		renderResult(&b, r, withOutput)
	}
	return b.String()
}

// renderTable writes the summary that heads a comment on several projects.
func renderTable(b *strings.Builder, results []Result) {
	ok := 0
	for _, r := range results {
		if r.Outcome == Succeeded {
			ok++
		}
	}
	fmt.Fprintf(b, "### atoll %s: %d of %d projects succeeded\n\n", results[0].Command, ok, len(results))
	b.WriteString("| project | workspace | result | changes |\n| --- | --- | --- | --- |\n")
	for _, r := range results {
		fmt.Fprintf(b, "| %s | `%s` | %s | %s |\n", r.Title(), r.Project.Workspace, r.verdict(), r.counts())
	}
	b.WriteString("\n")
}

func renderResult(b *strings.Builder, r Result, withOutput bool) {
	fmt.Fprintf(b, "#### %s: %s in workspace `%s`\n\n", r.verdict(), r.Title(), r.Project.Workspace)
	again := "`" + rerunCommand(r) + "`"
	switch r.Outcome {
	case Locked:
		h := r.Holder
		if h.Pull == 0 {
			fmt.Fprintf(b, "Nothing ran: %s holds this project's lock (taken for `%s` on %s) until it ends.\n"+
				"Comment %s then to %s it here.\n",
				r.holderRef(), strings.ReplaceAll(h.User, "`", ""), h.Time.UTC().Format("2006-01-02 15:04 UTC"), again, r.Command)
			return
		}
		fmt.Fprintf(b, "Nothing ran: pull request %s holds this project's lock (taken for @%s on %s).\n",
			r.holderRef(), h.User, h.Time.UTC().Format("2006-01-02 15:04 UTC"))
		if r.Place > 0 {
			fmt.Fprintf(b, "This pull request is **%s in line** for it: atoll will %s it here on its own when its turn comes, "+
				"once %s is merged or closed, or runs `atoll unlock`. To leave the line, comment `atoll unlock` (which lets go of this pull request's other locks and plans too).\n",
				Ordinal(r.Place), r.Command, r.holderRef())
			return
		}
		fmt.Fprintf(b, "Once %s is merged or closed, or runs `atoll unlock`, comment %s to %s it here.\n", r.holderRef(), again, r.Command)
		return
	case Errored:
		fmt.Fprintf(b, "%s\n", r.Summary)
		return
	case Skipped:
		fmt.Fprintf(b, "Nothing ran: %s\n", r.Reason)
		return
	}
	CodeBlock(b, r.Summary)
	if r.Hint != "" {
		fmt.Fprintf(b, "\n%s\n", r.Hint)
	}
	if withOutput && r.Output != "" {
		b.WriteString("\n<details><summary>Full output</summary>\n\n")
		CodeBlock(b, strings.TrimRight(r.Output, "\n"))
		b.WriteString("\n</details>\n")
	}
	renderPolicies(b, r.Policies)
	switch {
	case r.Command == "plan" && r.Outcome == Succeeded && PolicyFailed(r.Policies):
		fmt.Fprintf(b, "\nA policy denied this plan: it is applied once the policy's owners approve it (`atoll approve_policies`). Or change the code and push, or plan again: %s\n", again)
	case r.Command == "plan" && r.Outcome == Succeeded:
		fmt.Fprintf(b, "\nTo apply: `%s` · to plan again: %s\n", ProjectCommand("apply", r.Name, r.Project), again)
	case r.Outcome == Failed && r.Hint == "":
		fmt.Fprintf(b, "\nTo %s again: %s\n", r.Command, again)
	}
}

// rerunCommand is the comment that runs the same command on the project.
func rerunCommand(r Result) string {
	cmd := ProjectCommand(r.Command, r.Name, r.Project)
	if len(r.Args) > 0 {
		cmd += " " + strings.Join(r.Args, " ")
	}
	return cmd
}

// ProjectCommand is the comment that runs command on one project: by
// name when it has one.
func ProjectCommand(command, name string, p workflows.Project) string {
	if name != "" {
		return "atoll " + command + " -p " + name
	}
	cmd := "atoll " + command + " -d " + p.Dir
	if p.Workspace != workflows.DefaultWorkspace {
		cmd += " -w " + p.Workspace
	}
	return cmd
}

// Ordinal is n as "1st", "2nd", "3rd", "4th"…
func Ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

// CodeBlock writes s fenced, with a fence longer than any run of backticks
// in s so that output cannot close it early.
func CodeBlock(b *strings.Builder, s string) {
	f := fence(s)
	fmt.Fprintf(b, "%s\n%s\n%s\n", f, s, f)
}

// fence is the fence CodeBlock puts around s.
func fence(s string) string {
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// outputChunk is one piece of a project's output too long for one comment.
type outputChunk struct {
	result      Result
	text        string
	part, parts int
}

func (c outputChunk) render(n, total int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### atoll %s output (%d/%d): `%s` in workspace `%s`, part %d of %d\n\n",
		c.result.Command, n, total, c.result.Project.Dir, c.result.Project.Workspace, c.part, c.parts)
	b.WriteString("<details><summary>Output</summary>\n\n")
	CodeBlock(&b, strings.TrimRight(c.text, "\n"))
	b.WriteString("\n</details>\n")
	return b.String()
}

// splitOutput cuts s into pieces of at most size bytes, at line ends where
// it can and never inside a UTF-8 sequence. Fence-lengthening backtick runs
// are assumed short; a fence grows by at most their length.
func splitOutput(s string, size int) []string {
	var parts []string
	for len(s) > size {
		cut := strings.LastIndexByte(s[:size], '\n') + 1
		if cut == 0 {
			cut = size
			for cut > 0 && !utf8.RuneStart(s[cut]) {
				cut--
			}
		}
		parts = append(parts, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		parts = append(parts, s)
	}
	return parts
}

// clip shortens s to at most max bytes, saying so.
func clip(s string, max int) string {
	const note = "\n\n_…cut: too long for one comment._\n"
	if len(s) <= max {
		return s
	}
	cut := max - len(note)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + note
}

// PolicyFailed reports whether a policy set denied the plan.
func PolicyFailed(results []policy.Result) bool {
	return slices.ContainsFunc(results, func(r policy.Result) bool { return !r.Passed() })
}

// renderPolicies writes what each policy set said of the plan.
func renderPolicies(b *strings.Builder, results []policy.Result) {
	if len(results) == 0 {
		return
	}
	b.WriteString("\n**Policy checks**\n\n")
	for _, r := range results {
		mark, verdict := "✅", "passed"
		if !r.Passed() {
			mark, verdict = "❌", "failed"
		}
		fmt.Fprintf(b, "- %s `%s` %s\n", mark, workflows.Quote(r.Set), verdict)
		for _, m := range r.Failures {
			fmt.Fprintf(b, "  - %s\n", policyLine(m))
		}
		for _, m := range r.Warnings {
			fmt.Fprintf(b, "  - ⚠️ %s\n", policyLine(m))
		}
	}
}

// maxPolicyLine bounds a policy's message in a comment, in runes.
const maxPolicyLine = 500

// policyLine is a policy's message on one line, in a code span: the
// policy is the server's, but it may quote what the pull request wrote.
func policyLine(m string) string {
	m = strings.Map(func(r rune) rune {
		switch {
		case r == '`':
			return '\''
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, strings.Join(strings.Fields(m), " "))
	if r := []rune(m); len(r) > maxPolicyLine {
		m = string(r[:maxPolicyLine]) + "…"
	}
	return "`" + m + "`"
}
