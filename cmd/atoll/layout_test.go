package main

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// module is the import path every atoll package starts with.
const module = "github.com/atoll-iac/atoll"

// mayImport says, for each package of atoll, which other packages of atoll
// its non-test code may import: the data path reads top to bottom, from
// the server's intake through the queue and the jobs down to the forges,
// and nothing reaches back up. A package missing here fails the test, so
// that a new one says where it stands.
var mayImport = map[string][]string{
	// atoll testdrive drives the fake forge and reads atoll's comments.
	"cmd/atoll":                   {"server", "runner", "runner/report", "runner/tool", "runner/workspace", "vcs", "vcs/github", "vcs/gitlab", "vcs/vcstest", "workflows"},
	"server":                      {"runner", "runner/joblog", "runner/queue", "runner/plans", "runner/policy", "runner/report", "runner/tool", "runner/workspace", "locking", "vcs", "vcs/github", "vcs/gitlab", "workflows"},
	"runner":                      {"runner/joblog", "runner/queue", "runner/plans", "runner/policy", "runner/report", "runner/tool", "runner/workspace", "locking", "vcs", "workflows"},
	"runner/queue":                {"runner/internal/groupcommit"},
	"runner/joblog":               {"runner/internal/groupcommit"},
	"runner/internal/groupcommit": {},
	"runner/joblog/joblogtest":    {"runner/joblog"},
	"runner/report":               {"runner/plans", "runner/policy", "runner/tool", "locking", "vcs", "workflows"},
	"runner/policy":               {},
	"runner/plans":                {"runner/tool", "runner/workspace", "workflows"},
	"runner/tool":                 {"workflows"},
	"runner/workspace":            {"workflows"},
	"workflows":                   {},
	"locking":                     {},
	"locking/lockingtest":         {"locking"},
	"locking/redistest":           {},
	"vcs":                         {},
	"vcs/github":                  {"vcs", "vcs/internal/etag"},
	"vcs/gitlab":                  {"vcs", "vcs/internal/etag"},
	"vcs/internal/etag":           {},
	"vcs/vcstest":                 {},
}

// TestLayers fails when a package imports one it must not, and when a
// package has no doc comment saying what it owns.
func TestLayers(t *testing.T) {
	t.Parallel()
	problems, err := layerProblems(filepath.Join("..", ".."), mayImport)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestLayersCatchProblems runs the check TestLayers makes on a tree made
// to break each of its rules.
func TestLayersCatchProblems(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for name, src := range map[string]string{
		"runner/queue/queue.go": "// Package queue queues.\npackage queue\n\nimport _ \"" + module + "/vcs\"\n",
		"vcs/vcs.go":            "// Package vcs talks to forges.\npackage vcs\n",
		"workflows/w.go":        "package workflows\n",
		"newpkg/n.go":           "// Package newpkg is new.\npackage newpkg\n",
		"testdata/x/x.go":       "package x\n\nimport _ \"" + module + "/server\"\n",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rules := map[string][]string{"runner/queue": {}, "vcs": {}, "workflows": {}, "locking": {}}
	problems, err := layerProblems(root, rules)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"package locking in the map is gone; take it out",
		"package newpkg is not in the map of what may import what (mayImport): add it where it belongs",
		"package workflows has no doc comment saying what it owns",
		"runner/queue imports vcs, which it must not (it may import [])",
	}
	slices.Sort(problems)
	if !slices.Equal(problems, want) {
		t.Errorf("problems found:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
}

// layerProblems checks the packages under root, the module's root,
// against rules (mayImport): what each imports of atoll, and that each has
// a doc comment. Test files and testdata are left out.
func layerProblems(root string, rules map[string][]string) ([]string, error) {
	pkgs := map[string][]string{} // package → the atoll packages it imports
	documented := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && p != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")):
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go"):
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		documented[pkg] = documented[pkg] || f.Doc != nil
		if _, ok := pkgs[pkg]; !ok {
			pkgs[pkg] = nil // a package, whether it imports atoll or not
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			if dep, ok := strings.CutPrefix(ip, module+"/"); ok && !slices.Contains(pkgs[pkg], dep) {
				pkgs[pkg] = append(pkgs[pkg], dep)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var problems []string
	for pkg, deps := range pkgs {
		allowed, known := rules[pkg]
		if !known {
			problems = append(problems, fmt.Sprintf("package %s is not in the map of what may import what (mayImport): add it where it belongs", pkg))
			continue
		}
		for _, dep := range deps {
			if !slices.Contains(allowed, dep) {
				problems = append(problems, fmt.Sprintf("%s imports %s, which it must not (it may import %v)", pkg, dep, allowed))
			}
		}
		if !documented[pkg] {
			problems = append(problems, fmt.Sprintf("package %s has no doc comment saying what it owns", pkg))
		}
	}
	for pkg := range rules {
		if _, ok := pkgs[pkg]; !ok {
			problems = append(problems, fmt.Sprintf("package %s in the map is gone; take it out", pkg))
		}
	}
	return problems, nil
}
