package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/atoll-iac/atoll/workflows"
)

// The migration guide, docs/migrating-from-atlantis.md, maps every
// Atlantis flag, config key and comment command to what atoll does with
// it. Its tables have the columns Atlantis | atoll | notes, and the atoll
// column starts with a status: same, renamed → X, not needed, or not
// supported yet. TestMigratingFromAtlantis holds the page to atoll's code.

// migratingPage is the guide, as failure messages name it; the test
// reads it from this package's directory.
const migratingPage = "docs/migrating-from-atlantis.md"

// minAtlantisFlags is how many Atlantis flags the page must list: Atlantis
// has about ninety, and a shorter list has lost some.
const minAtlantisFlags = 80

// migratingRow is one row of a table of the page.
type migratingRow struct {
	section                string // the "## " heading above the table
	line                   int
	atlantis, atoll, notes string
}

// where names the row for a failure message.
func (r migratingRow) where() string { return fmt.Sprintf("%s:%d", migratingPage, r.line) }

// status returns the status the atoll column starts with, "" for none.
func (r migratingRow) status() string {
	for _, s := range []string{"same", "renamed", "not needed", "not supported yet"} {
		if r.atoll == s || s == "renamed" && strings.HasPrefix(r.atoll, "renamed → ") {
			return s
		}
	}
	return ""
}

var backticked = regexp.MustCompile("`([^`]+)`")

// codes returns the code spans of a cell.
func codes(cell string) []string {
	var spans []string
	for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
		spans = append(spans, m[1])
	}
	return spans
}

// flagNames returns the flags a cell names in code spans, without dashes.
func flagNames(cell string) []string {
	var names []string
	for _, c := range codes(cell) {
		if strings.HasPrefix(c, "--") {
			names = append(names, strings.TrimPrefix(c, "--"))
		}
	}
	return names
}

// splitRow splits a table row into its cells; a | inside a code span
// does not split.
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cell strings.Builder
	inCode := false
	for _, r := range line {
		switch {
		case r == '`':
			inCode = !inCode
		case r == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
			continue
		}
		cell.WriteRune(r)
	}
	return append(cells, strings.TrimSpace(cell.String()))
}

// migratingRows reads the rows of the page's Atlantis | atoll | notes
// tables.
func migratingRows(t *testing.T, page string) []migratingRow {
	t.Helper()
	var rows []migratingRow
	section, inTable := "", false
	for i, line := range strings.Split(page, "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			section, inTable = strings.TrimPrefix(line, "## "), false
		case !strings.HasPrefix(line, "|"):
			inTable = false
		case slices.Equal(splitRow(line), []string{"Atlantis", "atoll", "notes"}):
			inTable = true
		case inTable && !strings.HasPrefix(line, "| ---"):
			cells := splitRow(line)
			if len(cells) != 3 {
				t.Errorf("%s:%d: a row of %d cells; want 3: Atlantis | atoll | notes", migratingPage, i+1, len(cells))
				continue
			}
			rows = append(rows, migratingRow{section, i + 1, cells[0], cells[1], cells[2]})
		}
	}
	return rows
}

func TestMigratingFromAtlantis(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(migratingPage)))
	if err != nil {
		t.Fatal(err)
	}
	bySection := map[string][]migratingRow{}
	for _, r := range migratingRows(t, string(b)) {
		if r.status() == "" && !(strings.HasPrefix(r.section, "Server flags") && r.atlantis == "—") {
			t.Errorf("%s: the atoll column %q starts with none of: same, renamed → X, not needed, not supported yet", r.where(), r.atoll)
		}
		bySection[r.section] = append(bySection[r.section], r)
	}
	for _, s := range []struct {
		prefix string
		check  func(*testing.T, []migratingRow)
	}{
		{"Server flags", checkMigratingFlags},
		{"atlantis.yaml", checkMigratingRepoConfig},
		{"Server-side repo config", checkMigratingServerConfig},
		{"Comment commands", checkMigratingCommands},
	} {
		var rows []migratingRow
		for section, rs := range bySection {
			if strings.HasPrefix(section, s.prefix) {
				rows = append(rows, rs...)
			}
		}
		if len(rows) == 0 {
			t.Errorf("%s has no section %q with an Atlantis | atoll | notes table", migratingPage, s.prefix)
			continue
		}
		t.Run(strings.ReplaceAll(s.prefix, " ", "_"), func(t *testing.T) { s.check(t, rows) })
	}
}

// checkMigratingFlags holds the flag tables to the flags atoll server
// defines: the atoll flags they name exist, every atoll flag is named,
// and enough Atlantis flags are listed.
func checkMigratingFlags(t *testing.T, rows []migratingRow) {
	fs := flag.NewFlagSet("atoll server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	(&serverFlags{}).define(fs)
	defined := func(name string) bool {
		if fs.Lookup(name) != nil {
			return true
		}
		// -help is the flag package's own.
		probe := flag.NewFlagSet("", flag.ContinueOnError)
		probe.SetOutput(io.Discard)
		return errors.Is(probe.Parse([]string{"--" + name}), flag.ErrHelp)
	}
	named := map[string]bool{} // atoll flags the page names
	listed := map[string]int{} // Atlantis flags, by line
	counts := map[string]int{} // by status
	for _, r := range rows {
		var ours []string
		if r.atlantis == "—" {
			ours = flagNames(r.atoll)
			if len(ours) == 0 {
				t.Errorf("%s: a row with no Atlantis flag must name atoll flags in its atoll column", r.where())
			}
		} else {
			theirs := flagNames(r.atlantis)
			if len(theirs) != 1 || len(codes(r.atlantis)) != 1 {
				t.Errorf("%s: the Atlantis column %q must name one flag, as `--name`", r.where(), r.atlantis)
				continue
			}
			name := theirs[0]
			if prev, dup := listed[name]; dup {
				t.Errorf("%s: --%s is listed twice (also at line %d)", r.where(), name, prev)
			}
			listed[name] = r.line
			counts[r.status()]++
			switch r.status() {
			case "same":
				ours = []string{name}
			case "renamed":
				ours = flagNames(r.atoll)
				if len(ours) == 0 {
					t.Errorf("%s: --%s is renamed, but the atoll column names no flag: write renamed → `--atoll-flag`", r.where(), name)
				}
			}
		}
		for _, f := range ours {
			named[f] = true
			if !defined(f) {
				t.Errorf("%s: the page gives --%s as atoll's, but atoll server defines no --%s (cmd/atoll/flags.go): fix the row, or mark it not supported yet", r.where(), f, f)
			}
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !named[f.Name] {
			t.Errorf("atoll server defines --%s, but %s names it in no atoll column: add it to the row of its Atlantis equivalent, or to the table of atoll flags with no Atlantis counterpart", f.Name, migratingPage)
		}
	})
	if len(listed) < minAtlantisFlags {
		t.Errorf("%s lists %d Atlantis flags; Atlantis has about ninety: list at least %d", migratingPage, len(listed), minAtlantisFlags)
	}
	t.Logf("Atlantis flags: %d (%v)", len(listed), counts)
}

// migratingAtlantisYAML uses every atlantis.yaml key the page marks same,
// and those it says atoll accepts and ignores.
const migratingAtlantisYAML = `version: 3
automerge: true
delete_source_branch_on_merge: true
parallel_plan: true
parallel_apply: true
abort_on_execution_order_fail: true
allowed_regexp_prefixes: [dev/]
autodiscover:
  mode: enabled
  ignore_paths: [vendor/**]
projects:
- name: network
  dir: network
  workspace: staging
  branch: /^main$/
  terraform_version: "~> 1.9"
  terraform_distribution: opentofu
  autoplan:
    enabled: true
    when_modified: ["*.tf", "../modules/**/*.tf", "!test/**"]
  plan_requirements: [approved]
  apply_requirements: [approved, mergeable, undiverged]
  import_requirements: [approved]
  workflow: custom
  execution_order_group: 1
  delete_source_branch_on_merge: false
  repo_locking: true
  repo_locks:
    mode: on_apply
  policy_check: false
  custom_policy_check: false
  silence_pr_comments: [apply]
- name: app
  dir: app
  depends_on: [network]
  execution_order_group: 2
workflows:
  custom:
    plan:
      steps:
      - run: echo before
      - env:
          name: STAGE
          value: staging
      - env:
          name: REGION
          command: echo eu-west-1
          shell: bash
          shellArgs: -c
      - multienv: echo A=1
      - multienv:
          command: echo B=2
          output: hide
      - init:
          extra_args: [-upgrade]
      - plan:
          extra_args: [-refresh=false]
      - show
      - run:
          command: echo after
          output: strip_refreshing
          shell: bash
          shellArgs: [-eu, -c]
    apply:
      steps: [apply]
    import:
      steps: [import]
    state_rm:
      steps: [state_rm]
    policy_check:
      steps: [policy_check]
`

// migratingReposYAML does for the server-side config what
// migratingAtlantisYAML does for atlantis.yaml.
const migratingReposYAML = `repos:
- id: /.*/
  apply_requirements: [approved]
- id: acme/infra
  branch: /^main$/
  repo_config_file: atlantis.yaml
  plan_requirements: [approved]
  apply_requirements: [approved, mergeable]
  import_requirements: [approved]
  workflow: custom
  allowed_overrides: [apply_requirements, workflow, delete_source_branch_on_merge, repo_locking]
  allow_custom_workflows: true
  delete_source_branch_on_merge: true
  repo_locking: true
  repo_locks:
    mode: on_plan
  policy_check: false
  custom_policy_check: false
  autodiscover:
    mode: enabled
  silence_pr_comments: [plan]
  pre_workflow_hooks:
  - run: ./generate.sh
    description: generate the config
    shell: bash
    shellArgs: -eu -c
    commands: plan,apply
  post_workflow_hooks:
  - run: ./notify.sh
workflows:
  custom:
    plan:
      steps: [init, plan]
policies:
  owners:
    users: [alice]
  policy_sets:
  - name: no-forbidden
    path: /etc/atoll/policies/forbidden
    source: local
`

// yamlKeyPaths returns the key paths of a YAML document as the page
// writes them: projects[].autoplan.enabled, workflows.NAME.plan, and for
// steps workflows.NAME.STAGE.steps[].init.
func yamlKeyPaths(t *testing.T, doc string) map[string]bool {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	stage := regexp.MustCompile(`^workflows\.NAME\.[a-z_]+\.steps`)
	add := func(p string) { paths[stage.ReplaceAllString(p, "workflows.NAME.STAGE.steps")] = true }
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode:
			walk(n.Content[0], prefix)
		case yaml.MappingNode:
			for i := 0; i < len(n.Content); i += 2 {
				p := n.Content[i].Value
				switch {
				case prefix == "workflows":
					p = "workflows.NAME"
				case prefix != "":
					p = prefix + "." + p
				}
				add(p)
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for _, item := range n.Content {
				if item.Kind == yaml.ScalarNode && strings.HasSuffix(prefix, ".steps") {
					add(prefix + "[]." + item.Value) // a step by its name alone
				}
				walk(item, prefix+"[]")
			}
		}
	}
	walk(&root, "")
	return paths
}

// checkMigratingKeys checks config key rows against sample, a config that
// parse must take: the keys marked same, or accepted, are in it; a key
// refused, added to a minimal config (minimal, with %s for the key at the
// level of its parent, prefix), makes parse fail naming the key.
func checkMigratingKeys(t *testing.T, rows []migratingRow, sampleName, sample string, parse func(string) error, refusedAt map[string]string) {
	if err := parse(sample); err != nil {
		t.Fatalf("%s no longer parses, so what %s marks same no longer holds: %v", sampleName, migratingPage, err)
	}
	have := yamlKeyPaths(t, sample)
	counts := map[string]int{}
	for _, r := range rows {
		keys := codes(r.atlantis)
		if len(keys) != 1 || r.atlantis != "`"+keys[0]+"`" {
			t.Errorf("%s: the Atlantis column %q must be one key path in backticks", r.where(), r.atlantis)
			continue
		}
		key := keys[0]
		counts[r.status()]++
		accepted := r.status() == "same" || strings.HasPrefix(r.notes, "Accepted")
		switch {
		case accepted && !have[key]:
			t.Errorf("%s: %s is marked same or accepted, but %s does not use it: add it there, so the test shows atoll takes it", r.where(), key, sampleName)
		case strings.HasPrefix(r.notes, "Refused"):
			parent, name, _ := strings.Cut(key, ".")
			if name == "" {
				parent, name = "", key
			}
			minimal, ok := refusedAt[parent]
			if !ok || strings.Contains(name, ".") {
				t.Errorf("%s: the test cannot check that atoll refuses %s; give it a minimal config for its parent in refusedAt", r.where(), key)
				continue
			}
			err := parse(fmt.Sprintf(minimal, name+": x"))
			if want := fmt.Sprintf("unknown key %q", name); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the page says atoll refuses %s, but parsing it gives %v, not %s: fix the row", r.where(), key, err, want)
			}
		}
	}
	t.Logf("keys: %d (%v)", len(rows), counts)
}

func checkMigratingRepoConfig(t *testing.T, rows []migratingRow) {
	parse := func(doc string) error {
		_, err := workflows.ParseConfig("atlantis.yaml", []byte(doc))
		return err
	}
	checkMigratingKeys(t, rows, "migratingAtlantisYAML", migratingAtlantisYAML, parse, map[string]string{
		"":           "version: 3\n%s\n",
		"projects[]": "version: 3\nprojects:\n- dir: .\n  %s\n",
	})
}

func checkMigratingServerConfig(t *testing.T, rows []migratingRow) {
	parse := func(doc string) error {
		_, err := workflows.ParseServerConfig("repos.yaml", []byte(doc))
		return err
	}
	checkMigratingKeys(t, rows, "migratingReposYAML", migratingReposYAML, parse, map[string]string{
		"":        "%s\n",
		"repos[]": "repos:\n- id: acme/infra\n  %s\n",
	})
}

// checkMigratingCommands checks that the atoll commands the page gives
// parse, and that atoll still ignores comments addressed to atlantis, as
// the page says.
func checkMigratingCommands(t *testing.T, rows []migratingRow) {
	for _, r := range rows {
		if s := r.status(); s != "same" && s != "renamed" {
			continue
		}
		var found bool
		for _, c := range codes(r.atoll) {
			if !strings.HasPrefix(c, "atoll ") {
				continue
			}
			found = true
			if _, ok, err := workflows.ParseComment(c, []string{"-"}); !ok || err != nil {
				t.Errorf("%s: atoll does not take the comment %q (addressed: %v, error: %v): fix the row", r.where(), c, ok, err)
			}
		}
		if !found {
			t.Errorf("%s: the atoll column names no `atoll ...` command", r.where())
		}
	}
	if _, ok, _ := workflows.ParseComment("atlantis plan", nil); ok {
		t.Errorf("atoll now reads comments that start with atlantis: %s says it does not (Switch in minutes, step 4); update it", migratingPage)
	}
}
