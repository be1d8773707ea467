package workflows

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// FuzzParseConfig feeds ParseConfig the config files of the golden cases,
// mutated: whatever the bytes, it returns a config or a *ConfigError, and
// a config it returns can be discovered and ordered.
func FuzzParseConfig(f *testing.F) {
	cases, err := filepath.Glob("testdata/discover/*.txtar")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range cases {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, af := range ar.Files {
			if strings.HasSuffix(af.Name, ".yaml") {
				f.Add(af.Data)
			}
		}
	}
	f.Add([]byte("version: 3\nprojects:\n- dir: .\n  workflow: w\nworkflows:\n  w:\n    plan:\n      steps:\n      - env: {name: A, command: echo}\n      - run: {command: x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("atoll.yaml", data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseConfig returned %T, not a *ConfigError: %v", err, err)
			}
			return
		}
		for _, p := range cfg.Projects {
			if _, err := CleanDir(p.Dir); err != nil || p.Workspace == "" {
				t.Fatalf("accepted project %+v: %v", p.Project, err)
			}
		}
		if _, err := Discover(cfg, t.TempDir(), []string{"a/main.tf", "main.tf"}, nil); err != nil {
			t.Fatalf("Discover on an accepted config: %v", err)
		}
	})
}
