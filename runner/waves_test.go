package runner

import (
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/workflows"
)

func TestWaves(t *testing.T) {
	t.Parallel()
	p := func(name string, group int, deps ...string) workflows.ProjectConfig {
		return workflows.ProjectConfig{Project: workflows.Project{Dir: name, Workspace: "default"}, Name: name, ExecutionOrderGroup: group, DependsOn: deps}
	}
	projects := []workflows.ProjectConfig{p("a", 0), p("b", 0), p("c", 0, "a"), p("d", 0), p("e", 1), p("f", 1)}
	names := func(ws [][]workflows.ProjectConfig) string {
		var parts []string
		for _, w := range ws {
			var n []string
			for _, q := range w {
				n = append(n, q.Name)
			}
			parts = append(parts, strings.Join(n, ","))
		}
		return strings.Join(parts, " | ")
	}
	if got := names(waves(projects, true)); got != "a,b | c,d | e,f" {
		t.Errorf("parallel waves = %s", got)
	}
	if got := names(waves(projects, false)); got != "a | b | c | d | e | f" {
		t.Errorf("serial waves = %s", got)
	}
	// Named projects sharing a directory and workspace never share a wave.
	blue, green := p("blue", 0), p("green", 0)
	blue.Dir, green.Dir = "app", "app"
	if got := names(waves([]workflows.ProjectConfig{blue, green, p("x", 0)}, true)); got != "blue | green,x" {
		t.Errorf("waves of projects sharing a directory = %s", got)
	}
}
