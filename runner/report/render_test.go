package report

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner/policy"
	"github.com/atoll-iac/atoll/workflows"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./runner/report -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; got:\n%s", path, got)
	}
}

const samplePlan = `OpenTofu used the selected providers to generate the following execution
plan. Resource actions are indicated with the following symbols:
  + create

OpenTofu will perform the following actions:

  # terraform_data.x will be created
  + resource "terraform_data" "x" {
      + id     = (known after apply)
      + input  = "a"
    }

Plan: 1 to add, 0 to change, 0 to destroy.
`

const sampleError = `
Error: Unclosed configuration block

  on main.tf line 1, in resource "terraform_data" "x":
   1: resource "terraform_data" "x" {

There is no closing brace for this block before the end of the file.
`

const sampleApply = `terraform_data.x: Creating...
terraform_data.x: Creation complete after 0s [id=8e7a2b1c-0000-4000-8000-000000000000]

Apply complete! Resources: 1 added, 0 changed, 0 destroyed.
`

const sampleStale = `
Error: Saved plan is stale

The given plan file can no longer be applied because the state was changed
by another operation after the plan was created.
`

func TestRenderResults(t *testing.T) {
	t.Parallel()
	ok := Result{Project: workflows.Project{Dir: "infra", Workspace: "default"}, Command: "plan",
		Outcome: Succeeded, Summary: PlanSummary(samplePlan), Output: samplePlan}
	failed := Result{Project: workflows.Project{Dir: "net", Workspace: "staging"}, Command: "plan",
		Outcome: Failed, Step: "plan", Summary: ErrorLine(sampleError, "?"), Output: sampleError}
	locked := Result{Project: workflows.Project{Dir: "dns", Workspace: "default"}, Command: "plan",
		Outcome: Locked, Holder: locking.Lock{Pull: 7, User: "alice", Time: time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)}}
	denied := ok
	denied.Policies = []policy.Result{
		{Set: "no-forbidden", Failures: []string{"terraform_data.x: input must not be `forbidden`\nsecond line"}, Warnings: []string{"terraform_data.x is created"}},
		{Set: "tags"},
	}
	inLine := locked
	inLine.Place = 2
	lockedByAPI := locked
	lockedByAPI.Holder = locking.Lock{User: "api", Time: locked.Holder.Time}
	errored := Result{Project: workflows.Project{Dir: ".", Workspace: "default"}, Command: "plan"}.Internal("abc123")
	fences := ok
	fences.Output = "a ``` b ```` c\n"
	long := ok
	long.Output = strings.Repeat(samplePlan, 6)
	applied := Result{Project: workflows.Project{Dir: "infra", Workspace: "default"}, Command: "apply",
		Outcome: Succeeded, Summary: ApplySummary(sampleApply), Output: sampleApply}
	staleApply := Result{Project: workflows.Project{Dir: "net", Workspace: "default"}, Command: "apply",
		Outcome: Failed, Summary: ErrorLine(sampleStale, "?"), Output: sampleStale,
		Hint: "The state changed after this plan was made, so the tool refused it. Plan again: `atoll plan -d net`"}
	skipped := Result{Project: workflows.Project{Dir: "dns", Workspace: "default"}, Command: "apply"}.
		Skip("another command applied or discarded this plan meanwhile.")

	tests := []struct {
		name    string
		results []Result
		max     int
	}{
		{"plan_one", []Result{ok}, 65536},
		{"plan_many", []Result{ok, failed, locked, errored}, 65536},
		{"plan_backticks", []Result{fences}, 65536},
		{"plan_locked_by_api", []Result{lockedByAPI}, 65536},
		{"plan_in_line", []Result{ok, inLine}, 65536},
		{"plan_policy_failed", []Result{denied}, 65536},
		{"plan_split", []Result{long, failed}, 2500},
		{"apply_one", []Result{applied}, 65536},
		{"apply_many", []Result{applied, staleApply, skipped}, 65536},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bodies := Results(tt.results, tt.max)
			for i, b := range bodies {
				if len(b) > tt.max {
					t.Errorf("comment %d is %d bytes, over %d", i+1, len(b), tt.max)
				}
			}
			golden(t, filepath.Join("comments", tt.name+".md"), strings.Join(bodies, "\n<!-- next comment -->\n"))
		})
	}
}

func TestSplitOutputKeepsEverything(t *testing.T) {
	t.Parallel()
	out := strings.Repeat("línea de salida ✓\n", 5000) + strings.Repeat("x", 3000)
	parts := splitOutput(out, 1000)
	if strings.Join(parts, "") != out {
		t.Fatal("parts do not add up to the output")
	}
	for _, p := range parts {
		if len(p) > 1000 || !strings.HasSuffix(p, "\n") && p != parts[len(parts)-1] && !strings.HasPrefix(p, "x") {
			t.Fatalf("bad part of %d bytes: %q…", len(p), p[:20])
		}
	}
}

func TestSummaries(t *testing.T) {
	t.Parallel()
	tests := []struct{ out, want string }{
		{samplePlan, "Plan: 1 to add, 0 to change, 0 to destroy."},
		{"\nNo changes. Your infrastructure matches the configuration.\n\nOpenTofu has compared…", "No changes. Your infrastructure matches the configuration."},
		{"Changes to Outputs:\n  + o = \"b\"\n", "Changes to Outputs:"},
		{"something else", "Plan finished."},
	}
	for _, tt := range tests {
		if got := PlanSummary(tt.out); got != tt.want {
			t.Errorf("PlanSummary(%q) = %q, want %q", tt.out, got, tt.want)
		}
	}
	if got := ErrorLine("╷\n│ Error: No value for required variable\n│ \n", "?"); got != "Error: No value for required variable" {
		t.Errorf("errorLine = %q", got)
	}
}

// TestCommentsAreNotCommands: no comment atoll renders may read as a
// command, or atoll would answer itself. (Every comment atoll posts in the
// end-to-end tests is checked too.)
func TestCommentsAreNotCommands(t *testing.T) {
	t.Parallel()
	goldens, err := filepath.Glob(filepath.Join("testdata", "comments", "*.md"))
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden comments under testdata/comments: %v", err)
	}
	bodies := []string{Running("plan", workflows.Command{}), Running("apply", workflows.Command{Project: "atoll plan"})}
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	for _, b := range bodies {
		if _, isCmd, _ := workflows.ParseComment(b, nil); isCmd {
			t.Errorf("atoll's own comment reads as a command:\n%s", b)
		}
	}
}

func TestOrdinal(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 10: "10th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 22: "22nd", 101: "101st", 111: "111th", 112: "112th"} {
		if got := Ordinal(n); got != want {
			t.Errorf("Ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}
