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
	cache := filepath.Join(t.TempDir(), "plugin-cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "provider"), []byte("a provider\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := New(Config{Tool: Tool{Path: sh}, Env: os.Environ(), Sandbox: Sandbox{On: true, OwnPIDs: true}, StopGrace: 5 * time.Second, PluginCacheDir: cache})
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
head -c 4 /dev/urandom > /dev/null && echo system
cat `+r.pluginCache+`/provider`))
	if err != nil || out != "planned\nhome\ntmp\nsystem\na provider\n" {
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
		"a device":              "mknod ../null c 1 3 && echo made",
		"a capability":          "touch ../given && chown 1234 ../given",
		"the plugin cache":      "echo x > " + filepath.Join(r.pluginCache, "provider"),
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

// A program named without a path is found on atoll's PATH and only it may
// run: not the directory atoll runs in, which "." would be.
func TestSandboxRunsTheProgramNotItsDirectory(t *testing.T) {
	t.Parallel()
	r, s := sandboxed(t)
	r.tool = Tool{Path: "sh"}
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := r.Run(t.Context(), script(s, "cat "+filepath.Join(here, "sandbox_test.go"))); err == nil {
		t.Errorf("a step read atoll's working directory: %.100q", out)
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
			started := filepath.Join(s.Checkout, "started")
			mark := sleepMark()
			text := "sleep " + mark + " & touch " + started + "; echo started"
			ctx := t.Context()
			if stopped {
				text += "; sleep 600"
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				go func() {
					waitFile(t, started)
					cancel()
				}()
			}
			out, err := r.Run(ctx, script(s, text))
			if !strings.Contains(out, "started") || (err != nil) != stopped {
				t.Fatalf("Run = %q, %v", out, err)
			}
			waitGone(t, mark)
		})
	}
}

// A process that leaves the step's group ends with the step too: the
// step has a PID namespace of its own.
func TestStepLeavesNoSessionBehind(t *testing.T) {
	t.Parallel()
	r, s := sandboxed(t)
	mark := sleepMark()
	out, err := r.Run(t.Context(), script(s, "setsid sleep "+mark+" > /dev/null 2>&1 < /dev/null & sleep 0.2; echo started"))
	if err != nil || out != "started\n" {
		t.Fatalf("Run = %q, %v", out, err)
	}
	waitGone(t, mark)
}

// sleepMark is a duration no other process sleeps, to find one by: inside
// a step's PID namespace, $! is no pid of ours.
func sleepMark() string {
	return fmt.Sprintf("%d.%06d", 500+os.Getpid()%100, time.Now().UnixNano()%1e6)
}

// waitGone fails t unless the `sleep mark` a step started ends soon.
func waitGone(t *testing.T, mark string) {
	t.Helper()
	for i := 0; ; i++ {
		pid := sleeping(mark)
		if pid == 0 {
			return
		}
		if i == 100 {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the step's process %d (sleep %s) outlived it", pid, mark)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sleeping is the pid of a running `sleep d`, or 0.
func sleeping(d string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && string(b) == "sleep\x00"+d+"\x00" {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if running(pid) {
				return pid
			}
		}
	}
	return 0
}

// waitFile waits for name to exist.
func waitFile(t *testing.T, name string) {
	for range 200 {
		if _, err := os.Stat(name); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Errorf("no %s", name)
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

// A step reads the files it is given to read, and cannot change them: an
// apply's plan file.
func TestSandboxReadsWithoutWriting(t *testing.T) {
	t.Parallel()
	r, s := sandboxed(t)
	plan := filepath.Join(t.TempDir(), "plan.tfplan")
	if err := os.WriteFile(plan, []byte("the plan\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Reads = []string{plan}
	if out, err := r.Run(t.Context(), script(s, "cat "+plan)); err != nil || out != "the plan\n" {
		t.Errorf("reading the plan: %q, %v", out, err)
	}
	if out, err := r.Run(t.Context(), script(s, "echo changed >> "+plan)); err == nil {
		t.Errorf("a step changed the plan it may only read: %q", out)
	}
}
