package report

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// The summary lines' regexps as they were, each scanning all the output;
// the summaries must agree with them.
var (
	scanPlanLine    = regexp.MustCompile(`(?m)^Plan: \d+ to add, \d+ to change, \d+ to destroy\.$`)
	scanApplyLine   = regexp.MustCompile(`(?m)^Apply complete! Resources: \d+ added, \d+ changed, \d+ destroyed\.$`)
	scanNoChanges   = regexp.MustCompile(`(?m)^No changes\..*$`)
	scanOutputsOnly = regexp.MustCompile(`(?m)^Changes to Outputs:$`)
)

func scannedPlanSummary(out string) string {
	for _, re := range []*regexp.Regexp{scanPlanLine, scanNoChanges, scanOutputsOnly} {
		if m := re.FindString(out); m != "" {
			return strings.TrimSpace(m)
		}
	}
	return "Plan finished."
}

func scannedApplySummary(out string) string {
	if m := scanApplyLine.FindString(out); m != "" {
		return m
	}
	return "Apply finished."
}

var summarySeeds = []string{
	"",
	"Plan: 1 to add, 0 to change, 0 to destroy.",
	"x\nPlan: 1 to add, 0 to change, 0 to destroy.\n",
	"  Plan: 1 to add, 0 to change, 0 to destroy.\n",
	"Plan: 1 to add, 0 to change, 0 to destroy. and more\nPlan: 2 to add, 0 to change, 0 to destroy.\n",
	"Plan: 1 to add, 0 to change, 0 to destroy.\r\n",
	"Plan: Plan: 1 to add\nNo changes. Your infrastructure matches the configuration.\r\n",
	"\nNo changes.\nChanges to Outputs:\n",
	"Changes to Outputs:\n  + o = \"b\"\n",
	"Changes to Outputs: \n",
	"Apply complete! Resources: 1 added, 0 changed, 0 destroyed.\n",
	"\nApply complete! Resources: 1 added, 0 changed, 0 destroyed.\n\nOutputs:\n",
	"Apply complete! Resources: 1 added, 0 changed, 0 destroyed",
}

func TestSummariesAgreeWithTheScan(t *testing.T) {
	t.Parallel()
	for _, out := range summarySeeds {
		if got, want := PlanSummary(out), scannedPlanSummary(out); got != want {
			t.Errorf("PlanSummary(%q) = %q, want %q", out, got, want)
		}
		if got, want := ApplySummary(out), scannedApplySummary(out); got != want {
			t.Errorf("ApplySummary(%q) = %q, want %q", out, got, want)
		}
	}
}

func FuzzSummaries(f *testing.F) {
	for _, s := range summarySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, out string) {
		if got, want := PlanSummary(out), scannedPlanSummary(out); got != want {
			t.Errorf("PlanSummary(%q) = %q, want %q", out, got, want)
		}
		if got, want := ApplySummary(out), scannedApplySummary(out); got != want {
			t.Errorf("ApplySummary(%q) = %q, want %q", out, got, want)
		}
	})
}

// bigPlan is n resources' worth of what `tofu plan` prints.
func bigPlan(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  # terraform_data.r[%d] will be created\n  + resource \"terraform_data\" \"r\" {\n      + id     = (known after apply)\n      + input  = \"value-%d\"\n      + output = (known after apply)\n    }\n\n", i, i)
	}
	fmt.Fprintf(&b, "Plan: %d to add, 0 to change, 0 to destroy.\n", n)
	return b.String()
}

// BenchmarkPlanSummary finds the summary of 4 MB of plan output (20,000
// resources), skimming and by the regexp's scan.
func BenchmarkPlanSummary(b *testing.B) {
	out := bigPlan(20000)
	for _, bc := range []struct {
		name    string
		summary func(string) string
	}{
		{"skim", PlanSummary},
		{"scan", scannedPlanSummary},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(out)))
			for b.Loop() {
				bc.summary(out)
			}
		})
	}
}
