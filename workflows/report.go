package workflows

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Report describes, for people, which projects a change to the checkout
// at repoDir plans and why: a line a project, in the order they run, with
// its settings; then an indented line a reason, and its plan and apply
// steps as the repository's config gives them.
func Report(cfg RepoConfig, repoDir string, matches []Match) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "config: %s\n", cmp.Or(cfg.File, "(none)"))
	if len(matches) == 0 {
		b.WriteString("no projects to plan\n")
	}
	for _, m := range matches {
		fmt.Fprintf(&b, "%s/%s", m.Dir, m.Workspace)
		order := ""
		if m.ExecutionOrderGroup != 0 {
			order = strconv.Itoa(m.ExecutionOrderGroup)
		}
		required := ""
		if m.TerraformVersion == "" {
			var err error
			if required, err = RequiredVersion(repoDir, m.Dir, m.Distribution); err != nil {
				return "", err
			}
		}
		for _, kv := range [][2]string{
			{"name", m.Name}, {"workflow", m.Workflow}, {"version", m.TerraformVersion}, {"required_version", required},
			{"distribution", string(m.Distribution)}, {"order", order}, {"depends_on", strings.Join(m.DependsOn, ",")},
		} {
			switch {
			case kv[1] == "":
			case strings.ContainsAny(kv[1], " \t\"="):
				fmt.Fprintf(&b, " %s=%q", kv[0], kv[1])
			default:
				fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
			}
		}
		b.WriteString("\n")
		for _, w := range m.Why {
			fmt.Fprintf(&b, "  because %s\n", w)
		}
		wf, tool := WorkflowFor(m.ProjectConfig, cfg, RepoRule{}, nil), m.Distribution.Binary()
		fmt.Fprintf(&b, "  plan: %s\n", describeSteps(tool, wf.PlanSteps(m.Project, "PLANFILE", "SHOWFILE", nil)))
		fmt.Fprintf(&b, "  apply: %s\n", describeSteps(tool, wf.ApplySteps(m.Project, "PLANFILE", nil)))
	}
	return b.String(), nil
}

// describeSteps writes steps as a user would type them, one after the
// other, with tool for the tool's name; a command's shell, when it is not
// the default, and its output setting, when it is not to show it, follow
// it.
func describeSteps(tool string, steps []Step) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		switch {
		case s.Name == "run" || s.Name == "multienv":
			parts[i] = s.Name + " " + strconv.Quote(s.Run)
		case s.Name == "env" && s.Run != "":
			parts[i] = fmt.Sprintf("env %s=$(%s)", s.EnvName, s.Run)
		case s.Name == "env":
			parts[i] = fmt.Sprintf("env %s=%q", s.EnvName, s.EnvValue)
		default:
			parts[i] = tool + " " + strings.Join(s.Args, " ")
		}
		if s.Shell != nil && !slices.Equal(s.Shell, DefaultShell()) {
			parts[i] += fmt.Sprintf(" shell=%q", strings.Join(s.Shell, " "))
		}
		if s.Output != "" && s.Output != OutputShow {
			parts[i] += " output=" + string(s.Output)
		}
	}
	return strings.Join(parts, "; ")
}
