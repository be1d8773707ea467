package tool

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/atoll-iac/atoll/workflows"
)

func TestRunScrubsEnvironment(t *testing.T) {
	t.Parallel()
	env, err := exec.LookPath("env")
	if err != nil {
		t.Fatal(err)
	}
	r := New(Config{
		Tool:    Tool{Path: env},
		Env:     []string{"PATH=/usr/bin:/bin", "ATOLL_GH_TOKEN=ghp_secret", "atoll_lower=x", "GITHUB_TOKEN=ghp_secret", "CLOUD_REGION=eu", "HOME=/root", "TF_WORKSPACE=prod", "REDIS_URL=redis://:ghp_secret@redis:6379"},
		Secrets: []string{"ghp_secret", ""},
	})
	home := t.TempDir()
	out, err := r.Run(context.Background(), Step{Dir: t.TempDir(), Home: home})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CLOUD_REGION=eu", "HOME=" + home, "TF_IN_AUTOMATION=1", "TF_INPUT=0"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("environment lacks %s:\n%s", want, out)
		}
	}
	for _, bad := range []string{"ATOLL_", "atoll_", "ghp_secret", "GITHUB_TOKEN", "HOME=/root", "TF_WORKSPACE", "REDIS_URL"} {
		if strings.Contains(out, bad) {
			t.Errorf("environment holds %s:\n%s", bad, out)
		}
	}
	// Sets answers for the environment the tools get.
	for name, want := range map[string]bool{"CLOUD_REGION": true, "TF_IN_AUTOMATION": true, "CLOUD": false, "GITHUB_TOKEN": false, "TF_WORKSPACE": false} {
		if got := r.Sets(name); got != want {
			t.Errorf("Sets(%q) = %t, want %t", name, got, want)
		}
	}
}

// Inits share the plugin cache one at a time; other steps, which might
// init by themselves alongside, do not see it.
func TestInitsTakeTurnsWithThePluginCache(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A tool whose init holds the cache for a while, and fails if another
	// holds it too.
	tool := filepath.Join(dir, "tool")
	script := `#!/bin/sh
if [ "$1" = init ]; then
  mkdir "$TF_PLUGIN_CACHE_DIR/busy" || exit 9
  sleep 0.1
  rmdir "$TF_PLUGIN_CACHE_DIR/busy"
fi
echo "cache=${TF_PLUGIN_CACHE_DIR:-none}"
`
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "plugin-cache")
	r := New(Config{Tool: Tool{Path: tool}, Env: []string{"PATH=/usr/bin:/bin", "TF_PLUGIN_CACHE_DIR=/elsewhere"}, PluginCacheDir: cache})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			out, err := r.Run(t.Context(), Step{Dir: t.TempDir(), Home: t.TempDir(), Args: []string{"init"}, Init: true})
			if err != nil || out != "cache="+cache+"\n" {
				t.Errorf("an init alongside others = %q, %v; want it alone with the cache", out, err)
			}
		})
	}
	wg.Wait()
	// A shell step whose first argument is "init" (sh init …, which runs
	// the pull request's ./init) is no init.
	for _, args := range [][]string{{"plan"}, {"init"}} {
		if out, err := r.Run(t.Context(), Step{Dir: t.TempDir(), Home: t.TempDir(), Args: args}); err != nil || out != "cache=none\n" {
			t.Errorf("a step that is not the tool's init (%q) = %q, %v; want it without the cache", args, out, err)
		}
	}
}

func TestRunRedactsAndReportsExit(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	r := New(Config{Tool: Tool{Path: sh}, Env: []string{}, Secrets: []string{"hunter2"}})
	out, err := r.Run(context.Background(), Step{Dir: t.TempDir(), Home: t.TempDir(), Args: []string{"-c", "echo token=hunter2; echo oops >&2; exit 3"}})
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("err = %v, want exit status 3", err)
	}
	if out != "token=[redacted]\noops\n" {
		t.Errorf("output = %q", out)
	}
}

func TestCappedKeepsHeadAndTail(t *testing.T) {
	t.Parallel()
	var c capped
	c.Write([]byte("HEAD"))
	chunk := []byte(strings.Repeat("m", 1<<20))
	for range 12 {
		c.Write(chunk)
	}
	c.Write([]byte("TAIL"))
	s := c.String()
	if !strings.HasPrefix(s, "HEAD") || !strings.HasSuffix(s, "TAIL") || !strings.Contains(s, "bytes of output omitted") {
		t.Errorf("capped output lost its head, tail or note")
	}
	if len(s) > maxOutput+100 {
		t.Errorf("capped output is %d bytes", len(s))
	}
}

func TestCappedCutsNoSecretInTwo(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-QWERTYUIOPASDFGHJKLZXCVBNM"
	tests := []struct {
		name string
		// before is how many bytes come before the secret; the head's
		// cut is at maxOutput/2.
		before int
		// after is how many bytes come after it; the tail's cut is
		// maxOutput/2 from the end.
		after int
		// newlines puts the filler in lines, rather than one long line.
		newlines bool
	}{
		{name: "across the head's cut, in lines", before: maxOutput/2 - 10, after: maxOutput, newlines: true},
		{name: "across the head's cut, one long line", before: maxOutput/2 - 10, after: maxOutput},
		{name: "across the tail's cut, in lines", before: maxOutput, after: maxOutput/2 - 10, newlines: true},
		{name: "across the tail's cut, one long line", before: maxOutput, after: maxOutput/2 - 10},
	}
	filler := func(n int, newlines bool) []byte {
		b := bytes.Repeat([]byte("m"), n)
		if newlines {
			for i := 79; i < n; i += 80 {
				b[i] = '\n'
			}
		}
		return b
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c capped
			c.Write(filler(tt.before, tt.newlines))
			c.Write([]byte(secret))
			c.Write(filler(tt.after, tt.newlines))
			s := c.String()
			if !strings.Contains(s, "bytes of output omitted") {
				t.Fatal("nothing was omitted")
			}
			for i := 0; i+6 <= len(secret); i++ {
				if strings.Contains(s, secret[i:i+6]) {
					t.Fatalf("the output shows %q, a part of the secret cut in two", secret[i:i+6])
				}
			}
			if tt.newlines && len(s) < maxOutput-2*80-100 {
				t.Errorf("kept %d bytes; only the partial lines at the cut should go", len(s))
			}
		})
	}
}

func TestFindTool(t *testing.T) {
	t.Parallel()
	if _, err := FindTool("pulumi", ""); err == nil || !strings.Contains(err.Error(), "unknown distribution") {
		t.Errorf("unknown distribution: %v", err)
	}
	if _, err := FindTool(workflows.OpenTofu, "/nonexistent/tofu"); err == nil {
		t.Error("missing explicit binary accepted")
	}
	sh, _ := exec.LookPath("sh")
	tool, err := FindTool(workflows.Terraform, sh)
	if err != nil || tool.Path != sh || tool.Distribution != workflows.Terraform {
		t.Errorf("explicit binary: %+v, %v", tool, err)
	}
}

func TestRedactor(t *testing.T) {
	t.Parallel()
	r := NewRedactor("hunter2", "", "hunter22")
	tests := []struct{ in, want string }{
		{"pw hunter22 and hunter2", "pw [redacted] and [redacted]"},
		{"token ghp_0123456789abcdefghijABCDEFGHIJ012345 end", "token [redacted] end"},
		{"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "[redacted]"},
		{"glpat-abcdefghij0123456789", "[redacted]"},
		{"key AKIAIOSFODNN7EXAMPLE", "key [redacted]"},
		{`aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"`, `aws_secret_access_key = "[redacted]"`},
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "[redacted]-----END RSA PRIVATE KEY-----"},
		{"plain ghp_short text", "plain ghp_short text"},
	}
	for _, tt := range tests {
		if got := r.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestVersionFollowsTheBinary(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "tofu")
	write := func(version string) {
		script := "#!/bin/sh\necho 'warning on stderr' >&2\necho 'OpenTofu " + version + "'\necho 'on linux_amd64'\n"
		if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("v1.10.7")
	r := New(Config{Tool: Tool{Distribution: workflows.OpenTofu, Path: bin}, Env: []string{"PATH=/usr/bin:/bin"}})
	for range 2 {
		if v, err := r.Version(context.Background(), r.Tool()); err != nil || v != "OpenTofu v1.10.7" {
			t.Fatalf("Version = %q, %v", v, err)
		}
	}
	write("v1.11.0-beta1") // replaced in place: a different file
	if v, err := r.Version(context.Background(), r.Tool()); err != nil || v != "OpenTofu v1.11.0-beta1" {
		t.Errorf("after the binary changed: %q, %v", v, err)
	}
	os.Remove(bin)
	if _, err := r.Version(context.Background(), r.Tool()); err == nil {
		t.Error("a missing binary has a version")
	}
}
