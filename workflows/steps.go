package workflows

import "slices"

// Step is one thing a workflow does in a project's directory: run the tool
// (Args), run a command (Run), or set a variable for the steps after it
// (EnvName, to EnvValue or to what the command Run prints).
type Step struct {
	// Name says what the step does, for logs and comments ("init", "plan",
	// "run", "env").
	Name string
	// Args follow the tool's name, for tool steps.
	Args []string
	// Run is a command line, run by a shell, for run and env steps.
	Run string
	// EnvName and EnvValue are set by env steps.
	EnvName, EnvValue string
	// StdoutFile receives the step's standard output instead of the
	// comment (the show step's JSON).
	StdoutFile string
}

// Shown reports whether the step's output belongs in the result comment:
// init and workspace selection are noise unless they fail.
func (s Step) Shown() bool {
	return s.Name != "init" && s.Name != "workspace" && s.Name != "env" && s.StdoutFile == ""
}

// PlanSteps returns the default steps that plan p into planFile: init,
// selecting the workspace when it is not the default, and plan with the
// extra arguments the user gave.
func PlanSteps(p Project, planFile string, extra []string) []Step {
	return Workflow{}.withDefaults().PlanSteps(p, planFile, "", extra)
}

// ApplySteps returns the default steps that apply p's saved planFile.
func ApplySteps(p Project, planFile string, extra []string) []Step {
	return Workflow{}.withDefaults().ApplySteps(p, planFile, extra)
}

// PlanSteps returns w's plan stage for p. The workspace is selected after
// init (or first, without init); the plan writes planFile; show writes the
// plan as JSON to showFile; extra are the user's tool arguments, given to
// the plan step.
func (w Workflow) PlanSteps(p Project, planFile, showFile string, extra []string) []Step {
	return expand(w.withDefaults().Plan, p, func(s ConfigStep) Step {
		switch s.Name {
		case "init":
			return Step{Name: "init", Args: append([]string{"init", "-input=false", "-no-color"}, s.ExtraArgs...)}
		case "plan":
			args := append([]string{"plan", "-input=false", "-no-color", "-out=" + planFile}, s.ExtraArgs...)
			return Step{Name: "plan", Args: append(args, extra...)}
		case "show":
			return Step{Name: "show", Args: append(append([]string{"show", "-json"}, s.ExtraArgs...), planFile), StdoutFile: showFile}
		}
		return Step{Name: s.Name, Args: append([]string{s.Name}, s.ExtraArgs...)}
	})
}

// ApplySteps returns w's apply stage for p, applying planFile with the
// user's extra tool arguments.
func (w Workflow) ApplySteps(p Project, planFile string, extra []string) []Step {
	return expand(w.withDefaults().Apply, p, func(s ConfigStep) Step {
		if s.Name == "apply" {
			args := append(append([]string{"apply", "-input=false", "-no-color"}, s.ExtraArgs...), extra...)
			return Step{Name: "apply", Args: append(args, planFile)}
		}
		return Step{Name: s.Name, Args: append([]string{s.Name}, s.ExtraArgs...)}
	})
}

// expand turns config steps into steps, tool steps through tool, and puts
// the workspace selection in: right after the first init, so that the
// steps after it, run steps too, work in the project's workspace; without
// an init, before the first tool step.
func expand(stage []ConfigStep, p Project, tool func(ConfigStep) Step) []Step {
	var steps []Step
	selected := p.Workspace == DefaultWorkspace
	hasInit := slices.ContainsFunc(stage, func(s ConfigStep) bool { return s.Name == "init" })
	for _, s := range stage {
		if !selected && !hasInit && s.Name != "run" && s.Name != "env" {
			steps = append(steps, selectWorkspace(p.Workspace))
			selected = true
		}
		switch s.Name {
		case "run":
			steps = append(steps, Step{Name: "run", Run: s.Run})
		case "env":
			steps = append(steps, Step{Name: "env", EnvName: s.EnvName, EnvValue: s.EnvValue, Run: s.EnvCommand})
		default:
			steps = append(steps, tool(s))
		}
		if !selected && s.Name == "init" {
			steps = append(steps, selectWorkspace(p.Workspace))
			selected = true
		}
	}
	if !selected {
		steps = append(steps, selectWorkspace(p.Workspace))
	}
	return steps
}

func selectWorkspace(ws string) Step {
	return Step{Name: "workspace", Args: []string{"workspace", "select", "-or-create", "-no-color", ws}}
}
