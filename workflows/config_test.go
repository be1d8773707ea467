package workflows

import (
	"cmp"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// FuzzParseConfig feeds ParseConfig the config files of the golden cases,
// mutated: whatever the bytes, it returns a config or a *ConfigError, and
// the projects of a config it returns can be ordered.
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
	f.Add([]byte("version: 3\nworkflows:\n  w:\n    plan:\n      steps:\n      - multienv: {command: x, shell: bash, shellArgs: -c, output: hide}\n      - run: {command: x, shellArgs: [-e, -c], output: strip_refreshing}\n      - env: {name: A, command: echo, shell: zsh}\n"))
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
		all := make([]Match, len(cfg.Projects))
		for i, p := range cfg.Projects {
			all[i] = Match{ProjectConfig: p}
		}
		if ordered, err := Order(all); err != nil || len(ordered) != len(all) {
			t.Fatalf("Order on an accepted config: %d of %d projects, %v", len(ordered), len(all), err)
		}
	})
}

func TestForBranch(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	writeFiles(t, repo, "prod/main.tf", "dev/main.tf", "other/main.tf")
	cfg, err := ParseConfig("atoll.yaml", []byte(`version: 3
autodiscover:
  mode: enabled
projects:
- name: prod
  dir: prod
  branch: main
- name: dev
  dir: dev
  branch: /^(develop|feature/.*)$/
`))
	if err != nil {
		t.Fatal(err)
	}
	changed := []string{"prod/main.tf", "dev/main.tf", "other/main.tf"}
	for _, tt := range []struct{ base, want, names string }{
		{"main", "other prod", "prod"},
		{"develop", "dev other", "dev"},
		// A project limited to other branches keeps its directory from
		// being discovered as a project of its own.
		{"release", "other", ""},
	} {
		c := cfg.ForBranch(tt.base)
		matches, err := Discover(c, repo, changed, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range matches {
			got = append(got, cmp.Or(m.Name, m.Dir))
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("into %s: planned %v, want %s", tt.base, got, tt.want)
		}
		if names := strings.Join(c.Names(), " "); names != tt.names {
			t.Errorf("into %s: names %q, want %q", tt.base, names, tt.names)
		}
		if _, ok := c.Find("prod"); ok != (tt.base == "main") {
			t.Errorf("into %s: Find(prod) = %v", tt.base, ok)
		}
	}
}

func TestSharedDirectoriesNeedNames(t *testing.T) {
	t.Parallel()
	for _, yaml := range []string{
		"version: 3\nprojects:\n- dir: a\n- name: x\n  dir: a\n",
		"version: 3\nprojects:\n- name: x\n  dir: a\n- dir: a\n",
	} {
		_, err := ParseConfig("atoll.yaml", []byte(yaml))
		if err == nil || !strings.Contains(err.Error(), `projects in dir "a", workspace "default"`) || !strings.Contains(err.Error(), "need names") {
			t.Errorf("ParseConfig(%q) = %v, want the shared directory refused", yaml, err)
		}
	}
	if _, err := ParseConfig("atoll.yaml", []byte("version: 3\nprojects:\n- name: x\n  dir: a\n- name: y\n  dir: a\n")); err != nil {
		t.Errorf("two named projects in one directory: %v", err)
	}
}
