package policy

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// planJSON plans src with the real tofu and returns `tofu show -json` of
// the plan.
func planJSON(t testing.TB, src string) []byte {
	t.Helper()
	tofu, err := exec.LookPath("tofu")
	if err != nil {
		t.Fatalf("this test needs OpenTofu: %v. Build it with scripts/install-tofu (see README)", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, args := range [][]string{{"init", "-input=false"}, {"plan", "-input=false", "-out=plan"}, {"show", "-json", "plan"}} {
		cmd := exec.Command(tofu, args...)
		cmd.Dir = dir
		if out, err = cmd.Output(); err != nil {
			t.Fatalf("tofu %s: %v", args[0], err)
		}
	}
	return out
}

// TestCheck evaluates a conftest-style policy (Rego v0, main) and a Rego
// v1 one (violation objects, a deny_ rule, its own namespace) on real
// plans.
func TestCheck(t *testing.T) {
	t.Parallel()
	c, err := Load(t.Context(), []Set{
		{Name: "conftest", Path: "testdata/conftest"},
		{Name: "limits", Path: "testdata/v1", Namespaces: []string{"terraform.limits"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	plan := planJSON(t, `resource "terraform_data" "a" {
  input = "forbidden"
}
resource "terraform_data" "b" {
  input = "too-big"
}
`)
	got, err := c.Check(t.Context(), plan)
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Set: "conftest", Failures: []string{"terraform_data.a: input must not be forbidden"}, Warnings: []string{"this plan changes more than one resource"}},
		{Set: "limits", Failures: []string{"terraform_data.b is too big"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Check = %+v\nwant %+v", got, want)
	}
	if got[0].Passed() || got[1].Passed() {
		t.Error("sets with failures passed")
	}

	fine, err := c.Check(t.Context(), planJSON(t, "resource \"terraform_data\" \"a\" {\n  input = \"ok\"\n}\n"))
	if err != nil || !fine[0].Passed() || !fine[1].Passed() || len(fine[0].Warnings) != 0 {
		t.Errorf("Check of an allowed plan = %+v, %v", fine, err)
	}
}

// TestLoadErrors: what cannot be a policy set says so, naming the set.
func TestLoadErrors(t *testing.T) {
	t.Parallel()
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "p.rego"), []byte("package main\ndeny contains msg if {\n"), 0o644)
	link := t.TempDir()
	os.Symlink("/etc/passwd", filepath.Join(link, "p.rego"))
	for _, tt := range []struct{ path, want string }{
		{t.TempDir(), "no .rego file"},
		{bad, filepath.Join(bad, "p.rego") + ":3: rego_parse_error"},
		{link, "is not a regular file"},
		{filepath.Join(bad, "missing"), "no such file"},
	} {
		if _, err := Load(t.Context(), []Set{{Name: "s", Path: tt.path}}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s) = %v, want %q", tt.path, err, tt.want)
		}
	}
}

// TestLoadRefusesRulesElsewhere: a set whose rules are in no namespace
// it reads would pass every plan: it is refused.
func TestLoadRefusesRulesElsewhere(t *testing.T) {
	t.Parallel()
	if _, err := Load(t.Context(), []Set{{Name: "limits", Path: "testdata/v1"}}); err == nil || !strings.Contains(err.Error(), "no deny, violation or warn rule in package main") {
		t.Errorf("Load of rules outside main = %v", err)
	}
}
