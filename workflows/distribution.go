package workflows

import (
	"fmt"
	"strings"
)

// Distribution is a flavour of the tool that plans and applies: OpenTofu
// or Terraform. It knows its binary's name and which configuration files
// it reads. The zero value is no distribution chosen: the server's.
type Distribution string

// The distributions atoll runs, as configs and flags name them.
const (
	OpenTofu  Distribution = "opentofu"
	Terraform Distribution = "terraform"
)

// ParseDistribution reads a distribution's name, as a project config's
// terraform_distribution or the --tf-distribution flag gives it.
func ParseDistribution(s string) (Distribution, error) {
	switch d := Distribution(s); d {
	case OpenTofu, Terraform:
		return d, nil
	}
	return "", fmt.Errorf("unknown distribution %q: want %s or %s", s, OpenTofu, Terraform)
}

// Binary is the usual name of the distribution's binary: tofu or
// terraform.
func (d Distribution) Binary() string {
	if d == Terraform {
		return "terraform"
	}
	return "tofu"
}

// Title is how messages name the distribution: OpenTofu or Terraform.
func (d Distribution) Title() string {
	if d == Terraform {
		return "Terraform"
	}
	return "OpenTofu"
}

// reads reports whether d reads the configuration file name of a
// directory holding the configuration files present: Terraform skips
// OpenTofu's own files (.tofu, .tofu.json), and OpenTofu skips a .tf or
// .tf.json file that a .tofu or .tofu.json file of the same name stands
// in for. Every file counts for the zero Distribution.
func (d Distribution) reads(name string, present map[string]bool) bool {
	tofuFile := strings.HasSuffix(name, ".tofu") || strings.HasSuffix(name, ".tofu.json")
	switch d {
	case Terraform:
		return !tofuFile
	case OpenTofu:
		if base, ok := strings.CutSuffix(name, ".tf"); ok {
			return !present[base+".tofu"]
		}
		if base, ok := strings.CutSuffix(name, ".tf.json"); ok {
			return !present[base+".tofu.json"]
		}
	}
	return true
}
