package tool

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkPlanStep measures one `tofu plan` step of a one-resource
// configuration, confined and not: what the sandbox costs a step.
func BenchmarkPlanStep(b *testing.B) {
	tofu, err := exec.LookPath("tofu")
	if err != nil {
		b.Fatalf("this benchmark needs OpenTofu on PATH: %v (see scripts/install-tofu)", err)
	}
	for _, sb := range []struct {
		name    string
		sandbox Sandbox
	}{
		{"confined", Sandbox{On: true, OwnPIDs: true}},
		{"unconfined", Sandbox{}},
	} {
		b.Run(sb.name, func(b *testing.B) {
			root := b.TempDir()
			dir := filepath.Join(root, "repo")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte("resource \"terraform_data\" \"x\" {\n  input = 1\n}\n"), 0o644); err != nil {
				b.Fatal(err)
			}
			r := New(Config{Tool: Tool{Path: tofu}, Env: os.Environ(), Sandbox: sb.sandbox})
			step := Step{Dir: dir, Checkout: dir, Home: filepath.Join(root, "home")}
			step.Args, step.Init = []string{"init", "-input=false", "-no-color"}, true
			if out, err := r.Run(b.Context(), step); err != nil {
				b.Fatalf("init: %v\n%s", err, out)
			}
			step.Args, step.Init = []string{"plan", "-input=false", "-no-color", "-out=" + filepath.Join(dir, "plan")}, false
			for b.Loop() {
				if out, err := r.Run(b.Context(), step); err != nil {
					b.Fatalf("plan: %v\n%s", err, out)
				}
			}
		})
	}
}
