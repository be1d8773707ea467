package workflows

import (
	"fmt"
	"strings"
)

// Requirements are what a pull request must be before a command runs on
// it: the server's --apply-requirements, a server config's or a project's
// apply_requirements and plan_requirements.
type Requirements struct {
	// Approved: an approving review by someone with write access other
	// than the author, and no such reviewer's latest review requesting
	// changes.
	Approved bool
	// Mergeable: the forge says it could merge the pull request.
	Mergeable bool
	// Undiverged: the head contains the base branch's tip.
	Undiverged bool
}

// ParseRequirements reads the requirements of command ("apply", "plan")
// from a comma-separated list of their names, as the --apply-requirements
// flag gives it; "" or "none" requires nothing.
func ParseRequirements(command, s string) (Requirements, error) {
	var names []string
	for _, name := range strings.Split(s, ",") {
		if name = strings.TrimSpace(name); name != "" && name != "none" {
			names = append(names, name)
		}
	}
	r, err := requirementsOf(command, names)
	if err != nil {
		return Requirements{}, fmt.Errorf("unknown %w", err)
	}
	return r, nil
}

// requirementsOf reads the requirements of command from their names.
func requirementsOf(command string, names []string) (Requirements, error) {
	var r Requirements
	for _, name := range names {
		switch name {
		case "approved":
			r.Approved = true
		case "mergeable":
			r.Mergeable = true
		case "undiverged":
			r.Undiverged = true
		default:
			return Requirements{}, fmt.Errorf("%s requirement %q: want approved, mergeable or undiverged", command, name)
		}
	}
	return r, nil
}

// optionalRequirements reads the requirements of command from a config's
// list of their names; nil when the config does not set the list.
func optionalRequirements(command string, names []string) (*Requirements, error) {
	if names == nil {
		return nil, nil
	}
	r, err := requirementsOf(command, names)
	return &r, err
}

// And is what r and o require together.
func (r Requirements) And(o Requirements) Requirements {
	return Requirements{
		Approved:   r.Approved || o.Approved,
		Mergeable:  r.Mergeable || o.Mergeable,
		Undiverged: r.Undiverged || o.Undiverged,
	}
}
