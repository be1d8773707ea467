package server

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// chunkOverhead is room kept in an output comment for its heading and markup.
const chunkOverhead = 1024

// renderPlan renders the results of one plan command as comment bodies of
// at most max bytes each. Usually that is one comment. When the outputs do
// not fit, the first comment keeps every project's result and summary line,
// and the outputs follow in numbered comments.
func renderPlan(results []projectResult, max int) []string {
	full := renderResults(results, true)
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
	first := renderResults(results, false) +
		fmt.Sprintf("\n_The full output is too long for one comment; it follows in comments 2 to %d._\n", n)
	bodies := []string{clip(first, max)}
	for i, c := range chunks {
		bodies = append(bodies, c.render(i+2, n))
	}
	return bodies
}

func renderResults(results []projectResult, withOutput bool) string {
	var b strings.Builder
	if len(results) > 1 {
		failed := 0
		for _, r := range results {
			if r.Outcome != outcomeSucceeded {
				failed++
			}
		}
		fmt.Fprintf(&b, "### atoll %s: %d projects", results[0].Command, len(results))
		if failed > 0 {
			fmt.Fprintf(&b, ", %d not planned", failed)
		}
		b.WriteString("\n\n")
	}
	for i, r := range results {
		if i > 0 {
			b.WriteString("\n---\n\n")
		}
		renderResult(&b, r, withOutput)
	}
	return b.String()
}

func renderResult(b *strings.Builder, r projectResult, withOutput bool) {
	name := fmt.Sprintf("`%s` in workspace `%s`", r.Project.Dir, r.Project.Workspace)
	again := "`" + rerunCommand(r) + "`"
	switch r.Outcome {
	case outcomeSucceeded:
		fmt.Fprintf(b, "#### ✅ %s: %s succeeded\n\n", name, r.Command)
	case outcomeFailed:
		fmt.Fprintf(b, "#### ❌ %s: %s failed\n\n", name, r.Command)
	case outcomeLocked:
		h := r.Holder
		fmt.Fprintf(b, "#### 🔒 %s: locked by #%d\n\n", name, h.Pull)
		fmt.Fprintf(b, "Nothing ran: pull request #%d holds this project's lock (taken for @%s on %s).\n"+
			"Once #%d is merged or closed, or lets the lock go, comment %s to plan it here.\n",
			h.Pull, h.User, h.Time.UTC().Format("2006-01-02 15:04 UTC"), h.Pull, again)
		return
	default:
		fmt.Fprintf(b, "#### ⚠️ %s: not run\n\n%s\n", name, r.Summary)
		return
	}
	codeBlock(b, r.Summary)
	if withOutput && r.Output != "" {
		b.WriteString("\n<details><summary>Full output</summary>\n\n")
		codeBlock(b, strings.TrimRight(r.Output, "\n"))
		b.WriteString("\n</details>\n")
	}
	fmt.Fprintf(b, "\nTo plan again: %s\n", again)
}

// rerunCommand is the comment that plans the same project again.
func rerunCommand(r projectResult) string {
	cmd := "atoll plan -d " + r.Project.Dir
	if r.Project.Workspace != "default" {
		cmd += " -w " + r.Project.Workspace
	}
	return cmd
}

// codeBlock writes s fenced, with a fence longer than any run of backticks
// in s so that output cannot close it early.
func codeBlock(b *strings.Builder, s string) {
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	fmt.Fprintf(b, "%s\n%s\n%s\n", fence, s, fence)
}

// outputChunk is one piece of a project's output too long for one comment.
type outputChunk struct {
	result      projectResult
	text        string
	part, parts int
}

func (c outputChunk) render(n, total int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### atoll %s output (%d/%d): `%s` in workspace `%s`, part %d of %d\n\n",
		c.result.Command, n, total, c.result.Project.Dir, c.result.Project.Workspace, c.part, c.parts)
	b.WriteString("<details><summary>Output</summary>\n\n")
	codeBlock(&b, strings.TrimRight(c.text, "\n"))
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
