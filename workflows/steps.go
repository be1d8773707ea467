package workflows

// Step is one run of the tool: its arguments after the binary name.
type Step struct {
	// Name says what the step does, for logs and comments ("init", "plan").
	Name string
	Args []string
}

// PlanSteps returns the steps that plan p into planFile: init, selecting
// the workspace when it is not the default, and plan.
func PlanSteps(p Project, planFile string) []Step {
	steps := []Step{{Name: "init", Args: []string{"init", "-input=false", "-no-color"}}}
	if p.Workspace != DefaultWorkspace {
		steps = append(steps, Step{Name: "workspace", Args: []string{"workspace", "select", "-or-create", "-no-color", p.Workspace}})
	}
	return append(steps, Step{Name: "plan", Args: []string{"plan", "-input=false", "-no-color", "-out=" + planFile}})
}
