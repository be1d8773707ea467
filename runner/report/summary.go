package report

import (
	"regexp"
	"strings"
)

// The tool's summary lines, as OpenTofu and Terraform print them.
var (
	planLine    = regexp.MustCompile(`(?m)^Plan: \d+ to add, \d+ to change, \d+ to destroy\.$`)
	applyLine   = regexp.MustCompile(`(?m)^Apply complete! Resources: \d+ added, \d+ changed, \d+ destroyed\.$`)
	noChanges   = regexp.MustCompile(`(?m)^No changes\..*$`)
	outputsOnly = regexp.MustCompile(`(?m)^Changes to Outputs:$`)
	errorRE     = regexp.MustCompile(`(?m)^(?:│ )?(Error: .*)$`)

	planCounts  = regexp.MustCompile(`Plan: (\d+) to add, (\d+) to change, (\d+) to destroy\.`)
	applyCounts = regexp.MustCompile(`Resources: (\d+) added, (\d+) changed, (\d+) destroyed\.`)
)

// PlanSummary finds the tool's summary line in plan output, verbatim.
func PlanSummary(out string) string {
	for _, re := range []*regexp.Regexp{planLine, noChanges, outputsOnly} {
		if m := re.FindString(out); m != "" {
			return strings.TrimSpace(m)
		}
	}
	return "Plan finished."
}

// ApplySummary finds the tool's summary line in apply output, verbatim.
func ApplySummary(out string) string {
	if m := applyLine.FindString(out); m != "" {
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
