// Package tool owns running OpenTofu and Terraform: finding the binary a
// project's version constraint asks for (installed, or downloaded and
// verified), running a step with a clean environment and a private HOME,
// capping its output, and redacting secrets from it. It runs what it is
// told; deciding what to run belongs to workflows and the job layer.
package tool

import (
	"errors"
	"fmt"
	"os/exec"

	"github.com/atoll-iac/atoll/workflows"
)

// Tool is a tofu or terraform binary.
type Tool struct {
	Distribution workflows.Distribution
	Path         string
}

// FindTool resolves the binary for a distribution: bin when given (a path,
// or a name looked up on PATH), else the distribution's usual name on PATH.
func FindTool(distribution workflows.Distribution, bin string) (Tool, error) {
	if _, err := workflows.ParseDistribution(string(distribution)); err != nil {
		return Tool{}, err
	}
	name := distribution.Binary()
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
