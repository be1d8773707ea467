package tool

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobody is the user the tests run steps as.
var nobody = User{UID: 65534, GID: 65534}

// asNobody returns a runner of sh whose steps run confined as nobody,
// under a data directory, and a step in a checkout there.
func asNobody(t *testing.T) (*Runner, Step) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("running steps as another user needs root: run the tests as root (CI does)")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	// The test's own directory, above the data directory, is the
	// administrator's part to open.
	if err := os.Chmod(filepath.Dir(data), 0o711); err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(data, "repos", "github", "acme", "infra", "@1", "default")
	if err := os.MkdirAll(filepath.Join(ws, "repo", "project"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := New(Config{Tool: Tool{Path: sh}, Env: os.Environ(), StopGrace: 5 * time.Second,
		Sandbox: Sandbox{On: true, OwnPIDs: true, User: &nobody, Root: data}})
	return r, Step{Dir: filepath.Join(ws, "repo", "project"), Checkout: filepath.Join(ws, "repo"), Home: filepath.Join(ws, "home")}
}

// A step runs as the tool user, not root, and writes what it is given.
func TestStepRunsAsTheToolUser(t *testing.T) {
	t.Parallel()
	r, s := asNobody(t)
	if err := os.WriteFile(filepath.Join(s.Dir, "main.tf"), []byte("# from git, as root\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := r.Run(t.Context(), script(s, `set -e
id -u; id -G
echo plan >> main.tf
echo home > "$HOME/x"
mkdir ../.terraform && echo lock > ../.terraform/lock`))
	if err != nil || out != "65534\n65534\n" {
		t.Fatalf("Run = %q, %v; want the step to run as 65534 without root's groups", out, err)
	}
	for _, f := range []string{filepath.Join(s.Dir, "main.tf"), filepath.Join(s.Checkout, ".terraform", "lock"), filepath.Join(s.Home, "x")} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 {
			t.Errorf("%s is owned by %d, want the tool user's", f, st.Uid)
		}
	}
	// Root's own files stay out of reach, Landlock aside.
	if out, err := r.Run(t.Context(), script(s, "touch /root/planted")); err == nil {
		t.Errorf("a step as the tool user wrote /root: %q", out)
	}
}

// Reachable tells which directory keeps a user from a path.
func TestReachable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	closed := filepath.Join(dir, "closed")
	if err := os.MkdirAll(filepath.Join(closed, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := Reachable(nobody, filepath.Join(closed, "bin")); err != nil {
		t.Errorf("an open way: %v", err)
	}
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Reachable(nobody, filepath.Join(closed, "bin")); err == nil || !strings.Contains(err.Error(), closed+" ") {
		t.Errorf("a closed way: %v; want it to name %s", err, closed)
	}
}
