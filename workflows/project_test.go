package workflows

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func writeFiles(t *testing.T, root string, files ...string) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCleanDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", ".", true},
		{".", ".", true},
		{"infra", "infra", true},
		{"infra/", "infra", true},
		{"./a/b/../c", "a/c", true},
		{"..", "", false},
		{"../x", "", false},
		{"a/../../x", "", false},
		{"/etc", "", false},
		{`a\b`, "", false},
		{"a\x00b", "", false},
	}
	for _, tt := range tests {
		got, err := CleanDir(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CleanDir(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestValidateWorkspace(t *testing.T) {
	t.Parallel()
	for _, ws := range []string{"default", "staging", "prod-eu_1", "v1.2"} {
		if err := ValidateWorkspace(ws); err != nil {
			t.Errorf("ValidateWorkspace(%q) = %v, want ok", ws, err)
		}
	}
	for _, ws := range []string{"", "-x", "a/b", "..", "a..b", ".hidden", "has space", "tab\t", "new\nline", "$(id)", string(make([]byte, 91))} {
		if err := ValidateWorkspace(ws); err == nil {
			t.Errorf("ValidateWorkspace(%q) = nil, want error", ws)
		}
	}
}

func TestPlanSteps(t *testing.T) {
	t.Parallel()
	got := PlanSteps(Project{"infra", "default"}, "/p/plan", nil)
	want := []Step{
		{Name: "init", Args: []string{"init", "-input=false", "-no-color"}},
		{Name: "plan", Args: []string{"plan", "-input=false", "-no-color", "-out=/p/plan"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("default workspace: %v", got)
	}
	got = PlanSteps(Project{"infra", "staging"}, "/p/plan", []string{"-target=x"})
	if len(got) != 3 || !reflect.DeepEqual(got[1].Args, []string{"workspace", "select", "-or-create", "-no-color", "staging"}) ||
		!reflect.DeepEqual(got[2].Args, []string{"plan", "-input=false", "-no-color", "-out=/p/plan", "-target=x"}) {
		t.Errorf("staging workspace with extra args: %v", got)
	}
	got = ApplySteps(Project{"infra", "staging"}, "/p/plan", nil)
	if len(got) != 2 || !reflect.DeepEqual(got[0].Args, []string{"workspace", "select", "-or-create", "-no-color", "staging"}) ||
		!reflect.DeepEqual(got[1].Args, []string{"apply", "-input=false", "-no-color", "/p/plan"}) {
		t.Errorf("apply steps: %v", got)
	}
	custom := Workflow{
		Plan: []ConfigStep{{Name: "run", Run: "echo hi"}, {Name: "init", ExtraArgs: []string{"-upgrade"}}, {Name: "env", EnvName: "X", EnvValue: "1"}, {Name: "plan", ExtraArgs: []string{"-lock=false"}}, {Name: "show"},
			{Name: "multienv", Run: "./vars", Shell: []string{"bash", "-c"}, Output: OutputHide}, {Name: "env", EnvName: "Y", EnvCommand: "date"}},
	}
	got = custom.PlanSteps(Project{"infra", "staging"}, "/p/plan", "/p/show.json", []string{"-target=a"})
	want = []Step{
		{Name: "run", Run: "echo hi", Shell: []string{"sh", "-c"}, Output: OutputShow},
		{Name: "init", Args: []string{"init", "-input=false", "-no-color", "-upgrade"}},
		// Selected right after init, so that what follows works in it.
		{Name: "workspace", Args: []string{"workspace", "select", "-or-create", "-no-color", "staging"}},
		{Name: "env", EnvName: "X", EnvValue: "1"},
		{Name: "plan", Args: []string{"plan", "-input=false", "-no-color", "-out=/p/plan", "-lock=false", "-target=a"}},
		{Name: "show", Args: []string{"show", "-json", "/p/plan"}, StdoutFile: "/p/show.json"},
		{Name: "multienv", Run: "./vars", Shell: []string{"bash", "-c"}, Output: OutputHide},
		{Name: "env", EnvName: "Y", Run: "date", Shell: []string{"sh", "-c"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("custom plan steps:\n got %+v\nwant %+v", got, want)
	}
}

func TestDirPathStaysInTheRepository(t *testing.T) {
	t.Parallel()
	repo, outside := t.TempDir(), t.TempDir()
	for _, f := range []string{"app/main.tf", "modules/net/main.tf"} {
		p := filepath.Join(repo, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.tf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"out": outside, "up": "..", "net": "modules/net", "app/self": "."} {
		if err := os.Symlink(target, filepath.Join(repo, link)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		dir       string
		wantErr   error
		hasConfig bool
	}{
		{dir: "app", hasConfig: true},
		{dir: "net", hasConfig: true}, // a link within the repository
		{dir: "app/self", hasConfig: true},
		{dir: "out", wantErr: ErrOutsideRepo},
		{dir: "up", wantErr: ErrOutsideRepo},
		{dir: "gone", wantErr: fs.ErrNotExist},
	}
	for _, tt := range tests {
		got, err := DirPath(repo, tt.dir)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("DirPath(%q) = %q, %v; want %v", tt.dir, got, err, tt.wantErr)
			}
		} else if err != nil || got != filepath.Join(repo, tt.dir) {
			t.Errorf("DirPath(%q) = %q, %v", tt.dir, got, err)
		}
		if ok, err := HasConfig(repo, tt.dir); ok != tt.hasConfig || err != nil {
			t.Errorf("HasConfig(%q) = %v, %v; want %v", tt.dir, ok, err, tt.hasConfig)
		}
	}
}

// TestStateSteps: import and state rm run init, then their tool step with
// the address and id last, after the user's tool arguments; a custom
// stage replaces the default, and a workspace other than default is
// selected after init.
func TestStateSteps(t *testing.T) {
	t.Parallel()
	args := func(steps []Step) [][]string {
		var out [][]string
		for _, s := range steps {
			out = append(out, s.Args)
		}
		return out
	}
	p := Project{Dir: "infra", Workspace: "default"}
	got := args(Workflow{}.ImportSteps(p, "terraform_data.x", "id-1", []string{"-var=a=b"}))
	want := [][]string{{"init", "-input=false", "-no-color"}, {"import", "-input=false", "-no-color", "-var=a=b", "terraform_data.x", "id-1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ImportSteps = %q, want %q", got, want)
	}
	staging := Project{Dir: "infra", Workspace: "staging"}
	got = args(Workflow{}.StateRmSteps(staging, []string{"a.b", "c.d"}, nil))
	want = [][]string{{"init", "-input=false", "-no-color"}, {"workspace", "select", "-or-create", "-no-color", "staging"}, {"state", "rm", "-no-color", "a.b", "c.d"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("StateRmSteps = %q, want %q", got, want)
	}
	custom := Workflow{Import: []ConfigStep{{Name: "init", ExtraArgs: []string{"-upgrade"}}, {Name: "import", ExtraArgs: []string{"-lock=false"}}}}
	got = args(custom.ImportSteps(p, "a.b", "x", nil))
	want = [][]string{{"init", "-input=false", "-no-color", "-upgrade"}, {"import", "-input=false", "-no-color", "-lock=false", "a.b", "x"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("custom ImportSteps = %q, want %q", got, want)
	}
}
