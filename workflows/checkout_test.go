package workflows

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// within fails the test when f has not returned after d: reading a file a
// pull request made must neither block nor run on.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
	}
}

// writeTree makes each file of files under dir: content, or what a
// function of the file's path makes there.
func writeTree(t *testing.T, dir string, files map[string]any) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch c := content.(type) {
		case string:
			err = os.WriteFile(p, []byte(c), 0o644)
		case func(string) error:
			err = c(p)
		default:
			t.Fatalf("%s: content of type %T", name, content)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func symlinkTo(target string) func(string) error {
	return func(p string) error { return os.Symlink(target, p) }
}

func fifo(p string) error { return syscall.Mkfifo(p, 0o644) }

// A pull request's config may be a link to a device that never ends, a
// pipe no one writes, or merely huge: the config error says what it is,
// promptly, without reading it.
func TestLoadConfigReadsOnlyRegularFiles(t *testing.T) {
	t.Parallel()
	huge := "version: 3\n" + strings.Repeat("# padding to pass the cap\n", (1<<20)/26+1)
	tests := []struct {
		name  string
		files map[string]any
		want  string
	}{
		{"a link to /dev/zero", map[string]any{"atlantis.yaml": symlinkTo("/dev/zero")}, "atlantis.yaml: is a symbolic link; atoll reads only regular files"},
		{"a link to a config in the checkout", map[string]any{"atoll.yaml": symlinkTo("real.yaml"), "real.yaml": "version: 3\n"}, "atoll.yaml: is a symbolic link; atoll reads only regular files"},
		{"a named pipe", map[string]any{"atoll.yaml": fifo}, "atoll.yaml: is a named pipe; atoll reads only regular files"},
		{"a directory", map[string]any{"atoll.yml/x": "version: 3\n"}, "atoll.yml: is a directory; atoll reads only regular files"},
		{"larger than the cap", map[string]any{"atlantis.yml": huge}, "atlantis.yml: is larger than 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			repo := t.TempDir()
			writeTree(t, repo, tt.files)
			var err error
			within(t, 10*time.Second, func() { _, err = LoadConfig(repo) })
			var ce *ConfigError
			if !errors.As(err, &ce) || err.Error() != tt.want {
				t.Errorf("LoadConfig = %v (%T); want the config error %q", err, err, tt.want)
			}
		})
	}
}

// The configuration files atoll reads to find modules and versions are
// the pull request's too: a link to a file of the server, a pipe, a
// directory link out of the checkout and a file past the cap are not
// read; the regular files beside them are.
func TestHCLReadsStayInTheCheckout(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	writeTree(t, outside, map[string]any{
		"main.tf": "terraform {\n  required_version = \"= 6.6.6\"\n}\nterraform {\n  backend \"local\" {}\n}\nmodule \"leak\" {\n  source = \"../../modules/net\"\n}\n",
	})
	big := "terraform {\n  required_version = \"= 9.9.9\"\n}\nmodule \"big\" {\n  source = \"../modules/big\"\n}\n"
	big += strings.Repeat("# padding past the cap\n", maxHCLFile/23+1)
	repo := t.TempDir()
	writeTree(t, repo, map[string]any{
		"app/main.tf":         "terraform {\n  required_version = \">= 1.6\"\n}\nmodule \"net\" {\n  source = \"../modules/net\"\n}\n",
		"app/link.tf":         symlinkTo(filepath.Join(outside, "main.tf")),
		"app/fifo.tf":         fifo,
		"app/big.tf":          big,
		"modules/net/main.tf": "# net\n",
		"modules/big/main.tf": "# big\n",
		"modules/out":         symlinkTo(outside),
		"caller/main.tf":      "module \"out\" {\n  source = \"../modules/out\"\n}\n",
	})
	var graph *ModuleGraph
	var err error
	within(t, 10*time.Second, func() { graph, err = LoadModuleGraph(repo, nil) })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		what string
		got  func() (any, error)
		want any
	}{
		{"the required_version of app", func() (any, error) { return RequiredVersion(repo, "app", OpenTofu) }, ">= 1.6"},
		{"the required_version through a directory link out", func() (any, error) { return RequiredVersion(repo, "modules/out", OpenTofu) }, ""},
		{"a backend through a directory link out", func() (any, error) { return DeclaresBackend(repo, "modules/out") }, false},
		{"whether app uses modules/net", func() (any, error) { return graph.IsModule("modules/net"), nil }, true},
		{"whether the file past the cap uses modules/big", func() (any, error) { return graph.IsModule("modules/big"), nil }, false},
		{"whether the graph knows the directory link out", func() (any, error) { _, ok := graph.index["modules/out"]; return ok, nil }, false},
		{"the users of modules/net", func() (any, error) { return strings.Join(graph.Dependents("modules/net"), " "), nil }, "app"},
	}
	for _, tt := range tests {
		var got any
		within(t, 10*time.Second, func() { got, err = tt.got() })
		if err != nil || got != tt.want {
			t.Errorf("%s: %v, %v; want %v", tt.what, got, err, tt.want)
		}
	}
}

// A -var-file that is a link out of the checkout would put the lines of a
// file of the server in the tool's errors; one inside it, link or not, is
// the repository's own.
func TestCheckVarFiles(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	writeTree(t, repo, map[string]any{
		"app/prod.tfvars":      "x = 1\n",
		"app/shared.tfvars":    symlinkTo("../common/shared.tfvars"),
		"common/shared.tfvars": "y = 2\n",
		"app/passwd.tfvars":    symlinkTo("/etc/passwd"),
		"app/up.tfvars":        symlinkTo("../../outside.tfvars"),
		"app/fifo.tfvars":      fifo,
		"app/sub/x":            "",
	})
	tests := []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-target=x", "-var-file=prod.tfvars"}, true},
		{[]string{"--var-file=shared.tfvars"}, true},
		{[]string{"-var-file=prod.tfvars", "-var-file=passwd.tfvars"}, false},
		{[]string{"-var-file=up.tfvars"}, false},
		{[]string{"-var-file=fifo.tfvars"}, false},
		{[]string{"-var-file=sub"}, false},
		{[]string{"-var-file=missing.tfvars"}, false},
		{[]string{"-var-file=/etc/passwd"}, false},
	}
	for _, tt := range tests {
		var err error
		within(t, 10*time.Second, func() { err = CheckVarFiles(repo, "app", tt.args) })
		if (err == nil) != tt.ok {
			t.Errorf("CheckVarFiles(%q) = %v; want ok %v", tt.args, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "names no regular file inside the repository") {
			t.Errorf("CheckVarFiles(%q) = %v, which does not say what is wrong", tt.args, err)
		}
	}
}
