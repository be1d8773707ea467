package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/runner/tool"
	"github.com/atoll-iac/atoll/server"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/gitlab"
	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

// startServer runs an atoll server configured by configure on a free
// loopback port, and returns its webhook URL.
func startServer(t *testing.T, configure func(*server.Config)) string {
	t.Helper()
	allow, _ := server.ParseAllowlist("*")
	tofu, err := exec.LookPath(testTofu(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{DataDir: t.TempDir(), RepoAllowlist: allow, Env: os.Environ(), Parallelism: 1,
		Tool:   tool.Tool{Path: tofu, Distribution: workflows.OpenTofu},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	configure(&cfg)
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return hs.URL + "/events"
}

// forwardIn runs atoll forward with args in environment env.
func forwardIn(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	var out, errOut bytes.Buffer
	code = run(append([]string{"forward"}, args...), environ, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestForwardFromGitHubActions(t *testing.T) {
	t.Parallel()
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_fwd", WebhookSecret: "shh"})
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": "resource \"terraform_data\" \"x\" {}\n"}})
	events := startServer(t, func(c *server.Config) {
		c.GitHub = github.Config{Token: "ghp_fwd", WebhookSecret: "shh", APIURL: gh.APIURL()}
	})
	// The event file of a job started by a comment is the webhook's payload.
	path := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(path, gh.Payload(t, "issue_comment", "created", pr, "alice", "atoll plan"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": path,
		"GITHUB_REPOSITORY": "acme/infra", "GITHUB_RUN_ID": "77", "ATOLL_GH_WEBHOOK_SECRET": "shh"}

	if code, out, errOut := forwardIn(t, env, "--url", events); code != 0 || !strings.Contains(out, "202") {
		t.Fatalf("forward: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	gh.WaitFor(t, 90*time.Second, "the plan comment", func() bool {
		cs := gh.Comments("acme/infra", pr.Number)
		return len(cs) == 1 && strings.Contains(cs[0].Body, "Plan: 1 to add")
	})
	// A re-run of the job sends the same event: taken, and run once.
	env["GITHUB_RUN_ATTEMPT"] = "2"
	if code, out, _ := forwardIn(t, env, "--url", events); code != 0 || !strings.Contains(out, "already received") {
		t.Errorf("a re-run: exit %d, %s; want 0 and the server saying it has it", code, out)
	}
	// A wrong secret is the server's 401, reported.
	code, _, errOut := forwardIn(t, env, "--url", events, "--gh-webhook-secret", "wrong")
	if code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("a wrong secret: exit %d, %q; want 1 and the server's 401", code, errOut)
	}
	time.Sleep(time.Second)
	if n := len(gh.Comments("acme/infra", pr.Number)); n != 1 {
		t.Errorf("%d comments after a re-run, want 1", n)
	}
}

func TestForwardFromGitLabCI(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitLab(t, vcstest.GitLabOptions{Token: "glpat-fwd", WebhookSecret: "shh"})
	g.CreateRepo(t, "acme/platform/infra", nil)
	mr := g.OpenPull(t, "acme/platform/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"main.tf": "resource \"terraform_data\" \"x\" {}\n"}})
	events := startServer(t, func(c *server.Config) {
		c.GitLab = gitlab.Config{Token: "glpat-fwd", WebhookSecret: "shh", URL: g.URL()}
	})
	env := map[string]string{"GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "merge_request_event", "CI_PIPELINE_ID": "9",
		"CI_PROJECT_PATH": "acme/platform/infra", "CI_PROJECT_URL": g.URL() + "/acme/platform/infra",
		"CI_MERGE_REQUEST_IID": "1", "CI_COMMIT_SHA": mr.HeadSHA, "GITLAB_USER_LOGIN": "alice"}
	if code, out, errOut := forwardIn(t, env, "--url", events, "--gitlab-webhook-secret", "shh"); code != 0 || !strings.Contains(out, "202") {
		t.Fatalf("forward: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	g.WaitFor(t, 90*time.Second, "the autoplan note", func() bool {
		cs := g.Comments("acme/platform/infra", mr.Number)
		return len(cs) == 1 && strings.Contains(cs[0].Body, "Plan: 1 to add")
	})
}

// A server that answers 503 (busy, shutting down) is asked again.
func TestForwardRetries503(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		http.Error(w, "queued: autoplan (job 1)", http.StatusAccepted)
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(path, []byte(`{}`), 0o600)
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": path}
	if code, out, errOut := forwardIn(t, env, "--url", srv.URL); code != 0 || calls.Load() != 3 || !strings.Contains(out, "queued") {
		t.Errorf("exit %d after %d calls\nstdout: %s\nstderr: %s; want 0 after 3", code, calls.Load(), out, errOut)
	}
	// Past --timeout, it gives up, with the last answer.
	calls.Store(-100)
	if code, _, errOut := forwardIn(t, env, "--url", srv.URL, "--timeout", "1500ms"); code != 1 || !strings.Contains(errOut, "503") {
		t.Errorf("exit %d, %q; want 1 and the 503", code, errOut)
	}
}

func TestForwardUsage(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"no url":       {map[string]string{"GITHUB_ACTIONS": "true"}, nil, "--url is required"},
		"bad url":      {map[string]string{"GITHUB_ACTIONS": "true"}, []string{"--url", "atoll:4141"}, `--url "atoll:4141" is not an http(s) URL`},
		"not in CI":    {nil, []string{"--url", "http://atoll:4141/events"}, "not in a GitHub Actions or GitLab CI job"},
		"branch pipe":  {map[string]string{"GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "push"}, []string{"--url", "http://atoll:4141/events"}, "not a merge request pipeline"},
		"unknown flag": {nil, []string{"--bogus"}, "flag provided but not defined: --bogus"},
	} {
		code, _, errOut := forwardIn(t, tt.env, tt.args...)
		if code != 2 || !strings.HasPrefix(errOut, "atoll forward: ") || !strings.Contains(errOut, tt.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, %q; want 2 and one line saying %q", name, code, errOut, tt.want)
		}
	}
}
