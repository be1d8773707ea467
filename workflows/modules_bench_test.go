package workflows

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// BenchmarkDiscovery measures what discovery does on every pull request of
// a monorepo, as the server runs it: load the module graph, then Discover
// the projects that a set of changed files affects, in order. It runs at
// two sizes so that linear growth shows.
func BenchmarkDiscovery(b *testing.B) {
	for _, size := range []struct{ projects, modules, changed int }{
		{2000, 200, 500},
		{1000, 100, 250},
	} {
		repo, changed := generateMonorepo(b, size.projects, size.modules, size.changed)
		name := fmt.Sprintf("projects=%d,modules=%d,changed=%d", size.projects, size.modules, size.changed)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var affected int
			for b.Loop() {
				g, err := LoadModuleGraph(repo, nil)
				if err != nil {
					b.Fatal(err)
				}
				matches, err := Discover(RepoConfig{}, repo, changed, g)
				if err != nil {
					b.Fatal(err)
				}
				affected = len(matches)
			}
			b.ReportMetric(float64(affected), "projects")
		})
	}
}

// generateMonorepo writes a repository of projects root projects
// (envs/pNNNN) each using three of modules shared modules (modules/mNNN),
// a tenth of which use another module. It returns the repository and
// changed files spread evenly over modules and projects, one in five in a
// module.
func generateMonorepo(tb testing.TB, projects, modules, changed int) (repo string, changedFiles []string) {
	tb.Helper()
	files := make(map[string]string, projects+modules)
	for m := range modules {
		var body strings.Builder
		fmt.Fprintf(&body, "variable \"name\" {\n  type = string\n}\n\n")
		if m%10 == 0 {
			// Module m uses m+1, which uses none: no cycles.
			fmt.Fprintf(&body, "module \"inner\" {\n  source = \"../m%03d\"\n  name   = var.name\n}\n\n", (m+1)%modules)
		}
		fmt.Fprintf(&body, "resource \"terraform_data\" \"this\" {\n  input = {\n    name  = var.name\n    index = %d\n  }\n}\n\n", m)
		fmt.Fprintf(&body, "output \"id\" {\n  value = terraform_data.this.id\n}\n")
		files[fmt.Sprintf("modules/m%03d/main.tf", m)] = body.String()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for p := range projects {
		var body strings.Builder
		fmt.Fprintf(&body, "terraform {\n  required_version = \">= 1.6\"\n}\n\n")
		for k, m := range rng.Perm(modules)[:3] {
			fmt.Fprintf(&body, "module \"m%d\" {\n  source = \"../../modules/m%03d\"\n  name   = \"p%04d-%d\"\n}\n\n", k, m, p, k)
		}
		fmt.Fprintf(&body, "output \"ids\" {\n  value = [module.m0.id, module.m1.id, module.m2.id]\n}\n")
		files[fmt.Sprintf("envs/p%04d/main.tf", p)] = body.String()
	}
	changedFiles = make([]string, changed)
	for i := range changedFiles {
		if i%5 == 0 {
			changedFiles[i] = fmt.Sprintf("modules/m%03d/main.tf", (i/5)*modules*5/changed)
		} else {
			changedFiles[i] = fmt.Sprintf("envs/p%04d/main.tf", i*projects/changed)
		}
	}
	return writeModuleRepo(tb, files), changedFiles
}
