package workflows

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Report describes, for people, which projects a change plans and why:
// one line a project, in the order they run, with its settings, and an
// indented line a reason.
func Report(cfg RepoConfig, matches []Match) string {
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
		for _, kv := range [][2]string{
			{"name", m.Name}, {"workflow", m.Workflow}, {"version", m.TerraformVersion},
			{"distribution", m.Distribution}, {"order", order}, {"depends_on", strings.Join(m.DependsOn, ",")},
		} {
			if kv[1] != "" {
				fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
			}
		}
		b.WriteString("\n")
		for _, w := range m.Why {
			fmt.Fprintf(&b, "  because %s\n", w)
		}
	}
	return b.String()
}
