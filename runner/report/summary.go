package report

import (
	"regexp"
	"strings"
)

// The tool's summary lines, as OpenTofu and Terraform print them.
var (
	planLine    = summaryLine{"Plan: ", regexp.MustCompile(`^Plan: \d+ to add, \d+ to change, \d+ to destroy\.$`)}
	applyLine   = summaryLine{"Apply complete! ", regexp.MustCompile(`^Apply complete! Resources: \d+ added, \d+ changed, \d+ destroyed\.$`)}
	noChanges   = summaryLine{"No changes.", regexp.MustCompile(`^No changes\..*$`)}
	outputsOnly = summaryLine{"Changes to Outputs:", regexp.MustCompile(`^Changes to Outputs:$`)}
	errorRE     = regexp.MustCompile(`(?m)^(?:│ )?(Error: .*)$`)

	planCounts  = regexp.MustCompile(`Plan: (\d+) to add, (\d+) to change, (\d+) to destroy\.`)
	applyCounts = regexp.MustCompile(`Resources: (\d+) added, (\d+) changed, (\d+) destroyed\.`)
)

// summaryLine is a line of output that re matches whole, and that begins
// with prefix.
type summaryLine struct {
	prefix string
	re     *regexp.Regexp
}

// find returns the first line of out that l matches, without its line
// end, or "". Only the lines that begin with l's prefix go through the
// regexp: a plan's megabytes of output are skimmed for the prefix, not
// scanned by the regexp, which no literal speeds up behind a line start.
func (l summaryLine) find(out string) string {
	for from := 0; ; {
		i := strings.Index(out[from:], l.prefix)
		if i < 0 {
			return ""
		}
		start := from + i
		end := len(out)
		if j := strings.IndexByte(out[start:], '\n'); j >= 0 {
			end = start + j
		}
		if (start == 0 || out[start-1] == '\n') && l.re.MatchString(out[start:end]) {
			return out[start:end]
		}
		from = start + 1
	}
}

// PlanSummary finds the tool's summary line in plan output, verbatim.
func PlanSummary(out string) string {
	for _, l := range []summaryLine{planLine, noChanges, outputsOnly} {
		if m := l.find(out); m != "" {
			return strings.TrimSpace(m)
		}
	}
	return "Plan finished."
}

// ApplySummary finds the tool's summary line in apply output, verbatim.
func ApplySummary(out string) string {
	if m := applyLine.find(out); m != "" {
		return m
	}
	return "Apply finished."
}

// ErrorLine returns the tool's first error line, or fallback.
func ErrorLine(out, fallback string) string {
	if m := errorRE.FindStringSubmatch(out); m != nil {
		return strings.TrimSpace(m[1])
	}
	return fallback
}
