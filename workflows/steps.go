package workflows

import (
	"cmp"
	"slices"
	"strings"
)

// Step is one thing a workflow does in a project's directory: run the tool
// (Args), run a command (Run), or set variables for the steps after it: an
// env step EnvName, to EnvValue or to what Run prints; a multienv step
// those that Run prints (see ParseMultienv).
type Step struct {
	// Name says what the step does, for logs and comments ("init", "plan",
	// "run", "env", "multienv").
	Name string
	// Args follow the tool's name, for tool steps.
	Args []string
	// Run is a command line for Shell, for run, env and multienv steps.
	Run string
	// Shell runs Run, which follows it as its last argument: the command
	// is [Shell..., Run]. It is set exactly when the step runs a command.
	Shell []string
	// EnvName and EnvValue are set by env steps.
	EnvName, EnvValue string
	// Output says what of a run or multienv step's output the comment
	// shows; "" for tool steps, which show all of it.
	Output Output
	// StdoutFile receives the step's standard output instead of the
	// comment (the show step's JSON).
	StdoutFile string
}

// Shown reports whether the step's output belongs in the result comment
// when it succeeds: init and workspace selection are noise unless they
// fail. What part of it belongs there is Visible's to say.
func (s Step) Shown() bool {
	return s.Name != "init" && s.Name != "workspace" && s.Name != "env" && s.StdoutFile == ""
}

// Visible returns what of out, the step's output, its Output setting lets
// the result comment show, whether the step succeeded or failed.
func (s Step) Visible(out string) string {
	switch s.Output {
	case OutputHide:
		return ""
	case OutputStripRefreshing:
		return stripRefreshing(out)
	}
	return out
}

// stripRefreshing drops out's lines up to the last that says "Refreshing
// state...", as the tool does for each resource before it plans.
func stripRefreshing(out string) string {
	lines := strings.SplitAfter(out, "\n")
	last := -1
	for i, l := range lines {
		if strings.Contains(l, "Refreshing state...") {
			last = i
		}
	}
	return strings.Join(lines[last+1:], "")
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
		case "plan":
			args := append([]string{"plan", "-input=false", "-no-color", "-out=" + planFile}, s.ExtraArgs...)
			return Step{Name: "plan", Args: append(args, extra...)}
		case "show":
			return Step{Name: "show", Args: append(append([]string{"show", "-json"}, s.ExtraArgs...), planFile), StdoutFile: showFile}
		}
		return initOr(s)
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

// ImportSteps returns w's import stage for p: the import step imports id
// as address, with the user's extra tool arguments.
func (w Workflow) ImportSteps(p Project, address, id string, extra []string) []Step {
	return expand(w.withDefaults().Import, p, func(s ConfigStep) Step {
		if s.Name == "import" {
			args := append(append([]string{"import", "-input=false", "-no-color"}, s.ExtraArgs...), extra...)
			return Step{Name: "import", Args: append(args, address, id)}
		}
		return initOr(s)
	})
}

// StateRmSteps returns w's state_rm stage for p: the state_rm step
// removes addresses from the state, with the user's extra tool
// arguments.
func (w Workflow) StateRmSteps(p Project, addresses, extra []string) []Step {
	return expand(w.withDefaults().StateRm, p, func(s ConfigStep) Step {
		if s.Name == "state_rm" {
			args := append(append([]string{"state", "rm", "-no-color"}, s.ExtraArgs...), extra...)
			return Step{Name: "state_rm", Args: append(args, addresses...)}
		}
		return initOr(s)
	})
}

// initOr is tool step s of a stage but plan's and apply's own: init as
// plan runs it, or the tool with s's name.
func initOr(s ConfigStep) Step {
	if s.Name == "init" {
		return Step{Name: "init", Args: append([]string{"init", "-input=false", "-no-color"}, s.ExtraArgs...)}
	}
	return Step{Name: s.Name, Args: append([]string{s.Name}, s.ExtraArgs...)}
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
		if !selected && !hasInit && !slices.Contains([]string{"run", "env", "multienv"}, s.Name) {
			steps = append(steps, selectWorkspace(p.Workspace))
			selected = true
		}
		shell := s.Shell
		if shell == nil {
			shell = DefaultShell()
		}
		switch s.Name {
		case "run", "multienv":
			steps = append(steps, Step{Name: s.Name, Run: s.Run, Shell: slices.Clone(shell), Output: cmp.Or(s.Output, OutputShow)})
		case "env":
			step := Step{Name: "env", EnvName: s.EnvName, EnvValue: s.EnvValue}
			if s.EnvCommand != "" {
				step.Run, step.Shell = s.EnvCommand, slices.Clone(shell)
			}
			steps = append(steps, step)
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
