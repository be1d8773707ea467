package main

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

// buildAtoll builds the atoll binary once per test into a temp dir.
func buildAtoll(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "atoll")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	sh, _ := exec.LookPath("sh") // a binary that exists, standing in for tofu
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		stderr string
	}{
		{"no command", nil, nil, "Usage:"},
		{"unknown command", []string{"serve"}, nil, `unknown command "serve"`},
		{"unknown flag", []string{"server", "--repo-allowlist=*", "--bogus"}, nil, "flag provided but not defined: --bogus"},
		{"missing allowlist", []string{"server", "--tf-bin", sh}, nil, "--repo-allowlist is required"},
		{"bad glob", []string{"server", "--repo-allowlist", "acme/[", "--tf-bin", sh}, nil, `bad glob "acme/["`},
		{"unknown distribution", []string{"server", "--repo-allowlist=*", "--tf-distribution", "pulumi"}, nil, `unknown distribution "pulumi"`},
		{"no binary", []string{"server", "--repo-allowlist=*", "--tf-bin", "/nonexistent/tofu"}, nil, "/nonexistent/tofu"},
		{"bad env value", []string{"server", "--repo-allowlist=*", "--tf-bin", sh}, map[string]string{"ATOLL_PORT": "http"}, `ATOLL_PORT: invalid value "http" for --port`},
		{"no token", []string{"server", "--repo-allowlist=*", "--tf-bin", sh}, nil, "--gh-token or --gh-app-id is required"},
		{"token and App", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--gh-app-id=7", "--gh-app-key-file=/etc/hostname"}, nil, "--gh-token and --gh-app-id are both set: give one"},
		{"App without a key", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-app-id=7"}, nil, "--gh-app-id needs --gh-app-key-file"},
		{"App key without an App", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gitlab-token=x", "--gh-app-key-file=/etc/hostname"}, nil, "--gh-app-key-file needs --gh-app-id"},
		{"negative App id", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-app-id=-3", "--gh-app-key-file=/etc/hostname"}, nil, "--gh-app-id -3: want the App's ID"},
		{"App key that is none", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-app-id=7", "--gh-app-key-file=/etc/hostname"}, nil, "--gh-app-key-file: not an RSA private key in PEM"},
		{"tiny drift interval", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--drift-interval", "30s"}, nil, "--drift-interval 30s: want at least 1m, or 0 for never"},
		{"tiny inbox interval", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--gh-app-inbox-interval", "10ms"}, nil, "--gh-app-inbox-interval 10ms: want at least 1s"},
		{"App key file missing", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-app-id=7", "--gh-app-key-file=/nonexistent/key.pem"}, nil, "--gh-app-key-file: no such file"},
		{"bad requirement", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--apply-requirements", "approved,reviewed"}, nil, `--apply-requirements: unknown apply requirement "reviewed"`},
		{"bad bool env", []string{"server", "--repo-allowlist=*", "--tf-bin", sh}, map[string]string{"ATOLL_AUTOMERGE": "sometimes"}, "ATOLL_AUTOMERGE: invalid value"},
		{"stray argument", []string{"server", "--repo-allowlist=*", "now"}, nil, `unexpected argument "now"`},
		{"plain http mirror", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--tf-download-url", "http://mirror.example.com/tofu"}, nil, `"http://mirror.example.com/tofu": use https (plain http only to this machine)`},
		{"bad redis addr", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--redis-addr", "localhost"}, nil, `--redis-addr "localhost": want host:port`},
		{"negative lock TTL", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--lock-ttl", "-1h"}, nil, "--lock-ttl -1h0m0s: want 0 (never) or at least 1s"},
		{"tiny lock TTL", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--lock-ttl", "1ns"}, nil, "--lock-ttl 1ns: want 0 (never) or at least 1s"},
		{"bad GitLab URL", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gitlab-token=x", "--gitlab-url", "gitlab.example.com"}, nil, `--gitlab-url "gitlab.example.com" is not an http(s) URL`},
		{"tiny claim TTL", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--claim-ttl", "500ms"}, nil, "--claim-ttl 500ms: want at least 1s"},
		{"tiny poll interval", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--poll-interval", "100ms"}, nil, "--poll-interval 100ms: want at least 1s, or 0 for webhooks only"},
		{"poll interval not a duration", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--poll-interval", "often"}, nil, `invalid value "often" for --poll-interval`},
		{"not a URL", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--tf-download-url", "ftp://mirror"}, nil, `"ftp://mirror" is not an https URL`},
		{"root as the tool user", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token-file", "/etc/hostname", "--tool-user", "root"}, nil, `--tool-user "root": not root's: steps run unprivileged`},
		{"unknown tool user", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token-file", "/etc/hostname", "--tool-user", "no-such-user-here"}, nil, `--tool-user "no-such-user-here": user: unknown user no-such-user-here`},
		{"bad tool gid", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token-file", "/etc/hostname", "--tool-user", "65534:x"}, nil, `--tool-user "65534:x": gid "x" is not a number`},
		{"unknown sandbox mode", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--sandbox", "maybe"}, nil, `--sandbox "maybe": want auto, required or off`},
		{"relative sandbox path", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--sandbox-read-paths", "/opt/tools,bin"}, nil, `--sandbox-read-paths: "bin" is not an absolute path`},
		{"no token file", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token-file", "/nonexistent/token"}, nil, "--gh-token-file: no such file (the flag takes the path of a file holding the secret)"},
		{"unknown web auth", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--web-auth", "oauth"}, nil, `--web-auth "oauth": want basic or none`},
		{"web user alone", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--web-username", "ops"}, nil, "--web-username and --web-password go together"},
		{"web password alone", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x"}, map[string]string{"ATOLL_WEB_PASSWORD": "pw"}, "--web-username and --web-password go together"},
		{"open web with a user", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--web-auth=none", "--web-username", "ops"}, nil, "--web-auth=none opens the web UI to all"},
		{"short API secret", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x"}, map[string]string{"ATOLL_API_SECRET": "short"}, "--api-secret is shorter than 16 characters"},
		{"tiny job log retention", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--job-log-retention", "5s"}, nil, "--job-log-retention 5s: want at least 1m"},
		{"TLS certificate alone", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--tls-cert-file", "/etc/hostname"}, nil, "--tls-cert-file and --tls-key-file go together"},
		{"TLS files that are none", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x", "--tls-cert-file", "/etc/hostname", "--tls-key-file", "/etc/hostname"}, nil, "--tls-cert-file/--tls-key-file: tls: failed to find any PEM data in certificate input"},
		{"token twice", []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--gh-token-file", "/etc/hostname"}, map[string]string{"ATOLL_GH_TOKEN": "x"}, "--gh-token and --gh-token-file are both set: give one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var environ []string
			for k, v := range tt.env {
				environ = append(environ, k+"="+v)
			}
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, environ, &stdout, &stderr); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr = %q, want it to name %q", stderr.String(), tt.stderr)
			}
			if tt.args != nil && strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
				t.Errorf("error is not one line: %q", stderr.String())
			}
		})
	}
}

func TestFlagBeatsEnv(t *testing.T) {
	t.Parallel()
	sh, _ := exec.LookPath("sh")
	env := map[string]string{"ATOLL_PORT": "5000", "ATOLL_REPO_ALLOWLIST": "acme/*", "ATOLL_GH_TOKEN": "from-env", "ATOLL_TF_BIN": sh,
		"ATOLL_AUTOMERGE": "true", "ATOLL_ALLOWED_EXTRA_ARGS": "-target=, -var="}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := serverConfig([]string{"--port", "6000"}, getenv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":6000" || cfg.GitHub.Token != "from-env" || !cfg.RepoAllowlist.Allows("acme/x") || cfg.Tool.Path != sh {
		t.Errorf("config = %+v", cfg)
	}
	if !cfg.Automerge || !slices.Equal(cfg.AllowedExtraArgs, []string{"-target=", "-var="}) || cfg.ApplyRequirements != (workflows.Requirements{Approved: true}) {
		t.Errorf("automerge %v, extra args %q, requirements %+v", cfg.Automerge, cfg.AllowedExtraArgs, cfg.ApplyRequirements)
	}
}

// Secrets come from files, without their trailing newline; empty or
// oversized files are refused.
func TestSecretFiles(t *testing.T) {
	t.Parallel()
	sh, _ := exec.LookPath("sh")
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	args := []string{"--repo-allowlist=*", "--tf-bin", sh,
		"--gh-token-file", write("token", "ghp_fromfile\n"), "--gh-webhook-secret-file", write("secret", "shh \r\n"),
		"--redis-password-file", write("redis", "pw")}
	cfg, err := serverConfig(args, func(string) (string, bool) { return "", false }, &bytes.Buffer{})
	if err != nil || cfg.GitHub.Token != "ghp_fromfile" || cfg.GitHub.WebhookSecret != "shh" || cfg.Redis.Password != "pw" {
		t.Errorf("config = %+v, %v; want the secrets of the files", cfg, err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := serverConfig([]string{"--repo-allowlist=*", "--tf-bin", sh, "--gh-token-file", filepath.Join(dir, "fifo")},
		func(string) (string, bool) { return "", false }, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a FIFO as the token file: %v; want it refused, not waited on", err)
	}
	for name, content := range map[string]string{"empty": "\n", "huge": strings.Repeat("x", maxSecretFile+1)} {
		_, err := serverConfig([]string{"--repo-allowlist=*", "--tf-bin", sh, "--gh-token-file", write(name, content)},
			func(string) (string, bool) { return "", false }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "--gh-token-file") {
			t.Errorf("a %s token file: %v; want an error naming the flag", name, err)
		}
	}
	if got := secretsOnCommandLine([]string{"--port", "1", "--gh-token=x", "-redis-password", "y", "--gh-token-file", "f"}); !slices.Equal(got, []string{"gh-token", "redis-password"}) {
		t.Errorf("secretsOnCommandLine = %q", got)
	}
}

// A server with GitLab alone needs no GitHub token; GitLab's flags come
// from the environment like the others.
func TestGitLabAlone(t *testing.T) {
	t.Parallel()
	sh, _ := exec.LookPath("sh")
	env := map[string]string{"ATOLL_REPO_ALLOWLIST": "group/sub/*", "ATOLL_GITLAB_TOKEN": "glpat-from-env", "ATOLL_TF_BIN": sh}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := serverConfig([]string{"--gitlab-url", "https://git.example.com/gitlab", "--gitlab-webhook-secret", "shh"}, getenv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GitLab.Token != "glpat-from-env" || cfg.GitLab.URL != "https://git.example.com/gitlab" || cfg.GitLab.WebhookSecret != "shh" || cfg.GitHub.Token != "" {
		t.Errorf("GitLab config = %+v, GitHub token %q", cfg.GitLab, cfg.GitHub.Token)
	}
	if !cfg.RepoAllowlist.Allows("group/sub/project") || cfg.RepoAllowlist.Allows("group/other/project") {
		t.Error("the allowlist does not read GitLab paths with subgroups")
	}
}

func TestServerRedisUnreachable(t *testing.T) {
	t.Parallel()
	sh, _ := exec.LookPath("sh")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nothing listens there
	var stdout, stderr bytes.Buffer
	args := []string{"server", "--repo-allowlist=*", "--tf-bin", sh, "--bind-addr=127.0.0.1", "--port=0", "--data-dir", dataDir(t), "--redis-addr", addr}
	if code := run(args, []string{"ATOLL_GH_TOKEN=x"}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	msg := strings.TrimSpace(stderr.String())
	if !strings.HasPrefix(msg, "atoll server: redis at "+addr+" does not answer") || strings.Contains(msg, "\n") {
		t.Errorf("stderr = %q, want one line saying Redis does not answer", msg)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if code := run([]string{"version"}, nil, &out, &out); code != 0 || !strings.HasPrefix(out.String(), "atoll ") {
		t.Errorf("version: %d %q", code, out.String())
	}
}

// TestServerPlansSignedComment runs the built binary, configured through
// its environment, against the fake GitHub: a signed `atoll plan` comment
// gets a plan comment and a green status back.
func TestServerPlansSignedComment(t *testing.T) {
	t.Parallel()
	tofu := testTofu(t)
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_binarytest", WebhookSecret: "shh"})
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})

	srv := startServerBinary(t, gh, buildAtoll(t), "server", []string{
		"ATOLL_REPO_ALLOWLIST=acme/*",
		"ATOLL_GH_TOKEN=ghp_binarytest",
		"ATOLL_GH_WEBHOOK_SECRET=shh",
		"ATOLL_GH_API_URL=" + gh.APIURL(),
		"ATOLL_TF_BIN=" + tofu,
		"ATOLL_DATA_DIR=" + dataDir(t),
	}, nil)
	t.Cleanup(func() {
		srv.stop()
		if log := srv.log(); strings.Contains(log, "ghp_binarytest") {
			t.Errorf("the token reached the log:\n%s", log)
		}
	})
	base := srv.url
	if d := gh.SendPullComment(t, base+"/events", pr, "alice", "atoll plan"); d.Status != http.StatusAccepted {
		t.Fatalf("webhook answered %d %s", d.Status, d.Body)
	}
	gh.WaitFor(t, 90*time.Second, "a plan comment", func() bool {
		cs := gh.Comments("acme/infra", pr.Number)
		return len(cs) > 0 && strings.Contains(cs[0].Body, "plan succeeded")
	})
	if c := gh.Comments("acme/infra", pr.Number)[0]; !strings.Contains(c.Body, "Plan: 1 to add, 0 to change, 0 to destroy.") {
		t.Errorf("comment:\n%s", c.Body)
	}
	for _, st := range gh.Statuses("acme/infra", pr.HeadSHA) {
		if st.Context == "atoll/plan: ./default" && st.State != "success" {
			t.Errorf("status = %+v", st)
		}
	}
	if h := gh.StatusHistory("acme/infra", pr.HeadSHA, "atoll/plan: ./default"); strings.Join(h, ",") != "pending,success" {
		t.Errorf("status history = %v", h)
	}
}

// testTofu returns the tofu the tests run: ATOLL_TEST_TF_BIN, or tofu on
// PATH. It fails the test, saying how to get one, when there is none.
//
// A server that runs as root, as tests here do, runs its steps as nobody,
// who must reach the binary: scripts/install-tofu builds it under the
// home directory, so it is linked (or copied) where any user reaches it.
func testTofu(t *testing.T) string {
	t.Helper()
	tofu := cmp.Or(os.Getenv("ATOLL_TEST_TF_BIN"), "tofu")
	path, err := exec.LookPath(tofu)
	if err != nil {
		t.Fatalf("this test needs OpenTofu: %v. Build it with scripts/install-tofu (see README)", err)
	}
	reachable.once.Do(func() { reachable.path, reachable.err = reachableCopy(path) })
	if reachable.err != nil {
		t.Fatalf("putting tofu where any user reaches it: %v", reachable.err)
	}
	return reachable.path
}

// reachable is the tests' tofu where any user reaches it, made once.
var reachable struct {
	once sync.Once
	path string
	err  error
}

// reachableCopy links, or copies, the binary at path into a new directory
// any user may pass.
func reachableCopy(path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "atoll-test-tofu-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "tofu")
	if os.Link(real, dst) == nil {
		return dst, nil
	}
	b, err := os.ReadFile(real)
	if err != nil {
		return "", err
	}
	return dst, os.WriteFile(dst, b, 0o755)
}

// TestMain removes the tests' reachable tofu once they are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if reachable.path != "" {
		os.RemoveAll(filepath.Dir(reachable.path))
	}
	os.Exit(code)
}

// dataDir is a data directory for a server under test, which its tool
// user, nobody when the tests run as root, can reach.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(d) == os.TempDir() {
			break
		}
	}
	return dir
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// oneResource is a configuration of one built-in resource: a plan of it
// adds one.
const oneResource = "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n"
