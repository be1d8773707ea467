package workflows

// Step is one run of the tool: its arguments after the binary name.
type Step struct {
	// Name says what the step does, for logs and comments ("init", "plan").
	Name string
	Args []string
}

// PlanSteps returns the steps that plan p into planFile: init, selecting
// the workspace when it is not the default, and plan with the extra
// arguments the user gave.
func PlanSteps(p Project, planFile string, extra []string) []Step {
	steps := []Step{{Name: "init", Args: []string{"init", "-input=false", "-no-color"}}}
	if p.Workspace != DefaultWorkspace {
		steps = append(steps, selectWorkspace(p.Workspace))
	}
	args := append([]string{"plan", "-input=false", "-no-color", "-out=" + planFile}, extra...)
	return append(steps, Step{Name: "plan", Args: args})
}

// ApplySteps returns the steps that apply p's saved planFile: selecting the
// workspace when it is not the default, and apply. The checkout still holds
// what init made for the plan.
func ApplySteps(p Project, planFile string, extra []string) []Step {
	var steps []Step
	if p.Workspace != DefaultWorkspace {
		steps = append(steps, selectWorkspace(p.Workspace))
	}
	args := append([]string{"apply", "-input=false", "-no-color"}, extra...)
	return append(steps, Step{Name: "apply", Args: append(args, planFile)})
}

func selectWorkspace(ws string) Step {
	return Step{Name: "workspace", Args: []string{"workspace", "select", "-or-create", "-no-color", ws}}
}
