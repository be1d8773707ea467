package workflows

import (
	"fmt"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"
)

// Policies is the server-side config's policies: the policy sets every
// plan is checked against, as Atlantis's repos.yaml writes them, so that
// an Atlantis config works as it is.
type Policies struct {
	// Owners may approve a failed policy of any set.
	Owners Owners
	Sets   []PolicySet
}

// PolicySet is one set of Rego policies.
type PolicySet struct {
	Name string
	// Path is an absolute path on the server: a .rego file or a
	// directory of them.
	Path string
	// Owners may approve this set's failures, besides the policies'
	// owners.
	Owners Owners
	// ApproveCount is how many owners' approvals a failure needs; 1 when
	// not set.
	ApproveCount int
}

// Owners are users and teams ("org/team").
type Owners struct {
	Users, Teams []string
}

type rawPolicies struct {
	ConftestVersion string         `yaml:"conftest_version"` // accepted: policies run in-process
	Owners          rawOwners      `yaml:"owners"`
	PolicySets      []rawPolicySet `yaml:"policy_sets"`
	line            int
}

type rawOwners struct {
	Users []string `yaml:"users"`
	Teams []string `yaml:"teams"`
}

type rawPolicySet struct {
	Name               string    `yaml:"name"`
	Path               string    `yaml:"path"`
	Source             string    `yaml:"source"`
	Owners             rawOwners `yaml:"owners"`
	ApproveCount       *int      `yaml:"approve_count"`
	PreventSelfApprove *bool     `yaml:"prevent_self_approve"` // accepted: atoll always prevents it
	line               int
}

var (
	policiesKeys  = []string{"conftest_version", "owners", "policy_sets"}
	policySetKeys = []string{"name", "path", "source", "owners", "approve_count", "prevent_self_approve"}
	ownersKeys    = []string{"users", "teams"}
)

func (p *rawPolicies) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "policies", policiesKeys); err != nil {
		return err
	}
	type plain rawPolicies
	p.line = n.Line
	return n.Decode((*plain)(p))
}

func (s *rawPolicySet) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "a policy set", policySetKeys); err != nil {
		return err
	}
	type plain rawPolicySet
	s.line = n.Line
	return n.Decode((*plain)(s))
}

func (o *rawOwners) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "owners", ownersKeys); err != nil {
		return err
	}
	type plain rawOwners
	return n.Decode((*plain)(o))
}

// convertPolicies checks raw and returns it as Policies.
func convertPolicies(raw rawPolicies) (*Policies, error) {
	p := &Policies{Owners: Owners(raw.Owners)}
	if len(raw.PolicySets) == 0 {
		return nil, &lineError{raw.line, "policies: no policy_sets"}
	}
	for _, s := range raw.PolicySets {
		fail := func(format string, args ...any) error {
			return &lineError{s.line, fmt.Sprintf("policy set %q: ", s.Name) + fmt.Sprintf(format, args...)}
		}
		switch {
		case s.Name == "":
			return nil, &lineError{s.line, "a policy set needs a name"}
		case slices.ContainsFunc(p.Sets, func(o PolicySet) bool { return o.Name == s.Name }):
			return nil, fail("a second set of that name")
		case s.Source != "" && s.Source != "local":
			return nil, fail("source %q: atoll reads policies from the server's file system only (source: local)", s.Source)
		case s.Path == "" || !filepath.IsAbs(s.Path):
			return nil, fail("path %q: want an absolute path on the server", s.Path)
		case s.ApproveCount != nil && *s.ApproveCount < 1:
			return nil, fail("approve_count %d: want at least 1", *s.ApproveCount)
		}
		set := PolicySet{Name: s.Name, Path: filepath.Clean(s.Path), Owners: Owners(s.Owners), ApproveCount: 1}
		if s.ApproveCount != nil {
			set.ApproveCount = *s.ApproveCount
		}
		p.Sets = append(p.Sets, set)
	}
	return p, nil
}
