// Package runner owns execution: per-pull-request workspaces checked out
// with git, finding the tofu or terraform binary, running tool steps with a
// clean environment and capturing their output, the durable queue of
// tasks that runs work after a webhook is answered, and the plan records
// and files an apply needs (kept locally, or in Redis for every replica).
// It runs what it is told; deciding what to run belongs to workflows and
// server.
package runner

import (
	"errors"
	"fmt"
	"os/exec"
)

// Distributions atoll runs.
const (
	OpenTofu  = "opentofu"
	Terraform = "terraform"
)

// Tool is a tofu or terraform binary.
type Tool struct {
	Distribution string
	Path         string
}

// FindTool resolves the binary for a distribution: bin when given (a path,
// or a name looked up on PATH), else the distribution's usual name on PATH.
func FindTool(distribution, bin string) (Tool, error) {
	var name string
	switch distribution {
	case OpenTofu:
		name = "tofu"
	case Terraform:
		name = "terraform"
	default:
		return Tool{}, fmt.Errorf("unknown distribution %q (want %s or %s)", distribution, OpenTofu, Terraform)
	}
	if bin != "" {
		name = bin
	}
	path, err := exec.LookPath(name)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) && bin == "" {
			return Tool{}, fmt.Errorf("no %s binary %q on PATH: install it or name one with --tf-bin", distribution, name)
		}
		return Tool{}, fmt.Errorf("%s binary %q: %w", distribution, name, err)
	}
	return Tool{Distribution: distribution, Path: path}, nil
}
