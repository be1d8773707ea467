package tool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sandboxed returns a runner of sh whose steps are confined, and a step
// in a fresh checkout.
func sandboxed(t *testing.T) (*Runner, Step) {
	t.Helper()
	if _, err := SandboxABI(); err != nil {
		t.Fatalf("the sandbox tests need Landlock: %v", err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	r := New(Config{Tool: Tool{Path: sh}, Env: os.Environ(), Sandbox: Sandbox{On: true}, StopGrace: 5 * time.Second})
	root := t.TempDir()
	checkout := filepath.Join(root, "repo")
	if err := os.MkdirAll(filepath.Join(checkout, "project"), 0o755); err != nil {
		t.Fatal(err)
	}
	return r, Step{Dir: filepath.Join(checkout, "project"), Checkout: checkout, Home: filepath.Join(root, "home")}
}

func script(s Step, text string) Step {
	s.Args = []string{"-c", text}
	return s
}

// A confined step reads and writes its checkout and home, and nothing of
// the server's: not another checkout, not the data directory, not the
// server's environment.
func TestSandboxConfinesTheStep(t *testing.T) {
	t.Parallel()
	r, s := sandboxed(t)
	other := t.TempDir() // another pull request's checkout, say
	secret := filepath.Join(other, "secret.auto.tfvars")
	if err := os.WriteFile(secret, []byte(`token = "s3cret"`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(s.Checkout, "linked.tfvars")); err != nil {
		t.Fatal(err)
	}
	out, err := r.Run(t.Context(), script(s, `set -e
echo planned > ../plan.out && cat ../plan.out
echo home > "$HOME/x" && cat "$HOME/x"
echo tmp > "$TMPDIR/y" && cat "$TMPDIR/y"
head -c 4 /dev/urandom > /dev/null && echo system`))
	if err != nil || out != "planned\nhome\ntmp\nsystem\n" {
		t.Fatalf("the step's own files: %q, %v", out, err)
	}
	for name, attack := range map[string]string{
		"another checkout":      "cat " + secret,
		"a link out":            "cat ../linked.tfvars",
		"a listing":             "ls " + other,
		"a write outside":       "echo x > " + filepath.Join(other, "planted"),
		"the server's env":      fmt.Sprintf("cat /proc/%d/environ", os.Getpid()),
		"its own /proc":         "cat /proc/self/environ",
		"the temp dir":          "ls /tmp",
		"/root":                 "ls /root",
		"signalling the server": fmt.Sprintf("kill -0 %d", os.Getpid()),
	} {
		out, err := r.Run(t.Context(), script(s, attack))
		if err == nil || strings.Contains(out, "s3cret") {
			t.Errorf("%s: `%s` ran: %q, %v", name, attack, out, err)
		}
	}
	if _, err := os.Stat(filepath.Join(other, "planted")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a confined step wrote outside its checkout: %v", err)
	}
}

// A step's background processes end with it, whether it ends by itself
// or is stopped; and it does not wait for them.
func TestStepLeavesNoProcessBehind(t *testing.T) {
	t.Parallel()
	for _, stopped := range []bool{false, true} {
		t.Run(fmt.Sprintf("stopped=%v", stopped), func(t *testing.T) {
			t.Parallel()
			r, s := sandboxed(t)
			pidFile := filepath.Join(s.Checkout, "pid")
			text := "sleep 600 & echo $! > " + pidFile + "; echo started"
			ctx := t.Context()
			if stopped {
				text += "; sleep 600"
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				go func() {
					waitFile(t, pidFile)
					cancel()
				}()
			}
			out, err := r.Run(ctx, script(s, text))
			if !strings.Contains(out, "started") || (err != nil) != stopped {
				t.Fatalf("Run = %q, %v", out, err)
			}
			pid := waitFile(t, pidFile)
			for i := 0; ; i++ {
				if !running(pid) {
					break
				}
				if i == 100 {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("the step's background process %d outlived it", pid)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// running reports whether process pid runs: it exists and is not a
// zombie waiting to be reaped.
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	rest := stat[strings.LastIndexByte(string(stat), ')')+1:]
	return !strings.HasPrefix(strings.TrimSpace(string(rest)), "Z")
}

// waitFile waits for name to hold a number, and returns it.
func waitFile(t *testing.T, name string) int {
	for range 200 {
		if b, err := os.ReadFile(name); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return n
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Errorf("no number in %s", name)
	return -1
}
