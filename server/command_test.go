package server

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/workflows"
)

func TestParseComment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body    string
		want    Command
		isCmd   bool
		wantErr string
	}{
		{"thanks, looks good", Command{}, false, ""},
		{"", Command{}, false, ""},
		{"atollx plan", Command{}, false, ""},
		{"please atoll plan", Command{}, false, ""},
		{"atoll plan", Command{Name: "plan"}, true, ""},
		{"  ATOLL Plan  ", Command{Name: "plan"}, true, ""},
		{"\n\tatoll plan -d infra", Command{Name: "plan", Dir: "infra"}, true, ""},
		{"atoll plan -d ./infra/ -w staging", Command{Name: "plan", Dir: "infra", Workspace: "staging"}, true, ""},
		{"atoll plan -w=prod -d=a/b", Command{Name: "plan", Dir: "a/b", Workspace: "prod"}, true, ""},
		{"atoll help", Command{Name: "help"}, true, ""},
		{"atoll", Command{}, true, "no command given"},
		{"atoll destroy", Command{}, true, "unknown command `destroy`"},
		{"atoll help me", Command{}, true, "`help`: unexpected argument `me`"},
		{"atoll plan -x", Command{}, true, "flag provided but not defined: -x"},
		{"atoll plan -d", Command{}, true, "flag needs an argument: -d"},
		{"atoll plan extra", Command{}, true, "unexpected argument `extra`"},
		{"atoll plan -d ../etc", Command{}, true, "outside the repository"},
		{"atoll plan -d /etc", Command{}, true, "relative to the repository root"},
		{"atoll plan -w ../x", Command{}, true, "workspace"},
		{"atoll plan -w -rf", Command{}, true, "workspace"},
		{"atoll plan -d infra; rm -rf /", Command{}, true, "unexpected argument `rm`"},
		{"atoll plan -d $(id)", Command{Name: "plan", Dir: "$(id)"}, true, ""},
		{"atoll plan -- -target=x", Command{Name: "plan", Extra: []string{"-target=x"}}, true, ""},
		{"atoll apply -d infra -- -target=a -var=b=c", Command{Name: "apply", Dir: "infra", Extra: []string{"-target=a", "-var=b=c"}}, true, ""},
		{"atoll plan -- -refresh=false", Command{}, true, "`-refresh=false` is not allowed here (allowed: `-target=`, `-var=`)"},
		{"atoll plan -- -target=x -chdir=/etc", Command{}, true, "`-chdir=/etc` is never allowed"},
		{"atoll plan -- --state-out=x", Command{}, true, "never allowed"},
		{"atoll plan -- -plugin-dir=/tmp", Command{}, true, "never allowed"},
		{"atoll plan -- -var-file=../../secrets.tfvars", Command{}, true, "inside the repository"},
		{"atoll plan -- -var-file=/etc/passwd", Command{}, true, "inside the repository"},
		{"atoll plan -- -var-file", Command{}, true, "one argument"},
		{"atoll unlock -- -x", Command{}, true, "takes no tool arguments"},
		{"atoll unlock", Command{Name: "unlock"}, true, ""},
		{"atoll version", Command{Name: "version"}, true, ""},
		{"atoll apply -p net", Command{Name: "apply", Project: "net"}, true, ""},
		{"atoll plan -x @org/team", Command{}, true, "`flag provided but not defined: -x`"},
		{"atoll plan -@org/team", Command{}, true, "`flag provided but not defined: -@org/team`"},
		{"atoll plan `x```", Command{}, true, "unexpected argument `'x'''`"},
	}
	for _, tt := range tests {
		got, isCmd, err := ParseComment(tt.body, []string{"-target=", "-var="})
		if isCmd != tt.isCmd || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseComment(%q) = %+v, %v; want %+v, %v", tt.body, got, isCmd, tt.want, tt.isCmd)
		}
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseComment(%q) error %v", tt.body, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseComment(%q) error %v, want it to contain %q", tt.body, err, tt.wantErr)
		}
	}
}

// TestOwnCommentsAreNotCommands: nothing atoll writes may read as a
// command, or atoll would answer itself.
func TestOwnCommentsAreNotCommands(t *testing.T) {
	t.Parallel()
	bodies := []string{usage}
	for _, e := range []string{"atoll", "atoll x", "atoll plan -x"} {
		_, _, err := ParseComment(e, nil)
		bodies = append(bodies, (&userError{"**atoll could not read that command:** " + err.Error()}).Error())
	}
	goldens, _ := filepath.Glob("testdata/comments/*.md")
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	for _, b := range bodies {
		if _, isCmd, _ := ParseComment(b, nil); isCmd {
			t.Errorf("atoll's own comment reads as a command:\n%s", b)
		}
	}
}

func FuzzParseComment(f *testing.F) {
	for _, s := range []string{"atoll plan -d infra -w staging", "atoll help", "atoll plan -- -x", "atoll plan -d ../x", "ATOLL\tplan\n-w=a", "atoll apply -- -target=a -chdir=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		cmd, isCmd, err := ParseComment(body, []string{"-target="})
		if !isCmd || err != nil {
			return
		}
		if !slices.Contains([]string{"plan", "apply", "unlock", "version", "help"}, cmd.Name) {
			t.Fatalf("accepted unknown command %q", cmd.Name)
		}
		if strings.HasPrefix(cmd.Dir, "/") || cmd.Dir == ".." || strings.HasPrefix(cmd.Dir, "../") {
			t.Fatalf("accepted escaping dir %q", cmd.Dir)
		}
		if strings.HasPrefix(cmd.Workspace, "-") || strings.ContainsAny(cmd.Workspace, "/ \t\n") {
			t.Fatalf("accepted unsafe workspace %q", cmd.Workspace)
		}
		for _, a := range cmd.Extra {
			if !strings.HasPrefix(a, "-target=") {
				t.Fatalf("accepted tool argument %q", a)
			}
		}
	})
}

func TestAllowlist(t *testing.T) {
	t.Parallel()
	a, err := ParseAllowlist("acme/*, other/infra-*,exact/repo")
	if err != nil {
		t.Fatal(err)
	}
	for repo, want := range map[string]bool{
		"acme/anything": true, "ACME/Thing": true, "other/infra-prod": true, "other/app": false,
		"exact/repo": true, "exact/repo2": false, "evil/acme": false, "acme/a/b": false,
	} {
		if got := a.Allows(repo); got != want {
			t.Errorf("Allows(%q) = %v, want %v", repo, got, want)
		}
	}
	all, _ := ParseAllowlist("*")
	if !all.Allows("any/repo") {
		t.Error(`"*" does not allow any/repo`)
	}
	for _, bad := range []string{"", " , ", "acme/[", "a/\\"} {
		if _, err := ParseAllowlist(bad); err == nil {
			t.Errorf("ParseAllowlist(%q) accepted", bad)
		}
	}
}

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
