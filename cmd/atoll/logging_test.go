package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// TestLogFlags reads --log-format and --log-level, from the command line
// or the environment, into the server's logger: its handler and the least
// level it writes. atoll ci logs warnings and worse unless told.
func TestLogFlags(t *testing.T) {
	t.Parallel()
	sh, _ := exec.LookPath("sh")
	tests := []struct {
		name    string
		command string // server or ci
		args    []string
		env     map[string]string
		json    bool
		least   slog.Level
	}{
		{"defaults", "server", nil, nil, false, slog.LevelInfo},
		{"text", "server", []string{"--log-format", "text"}, nil, false, slog.LevelInfo},
		{"json", "server", []string{"--log-format", "json"}, nil, true, slog.LevelInfo},
		{"json from the environment", "server", nil, map[string]string{"ATOLL_LOG_FORMAT": "json"}, true, slog.LevelInfo},
		{"debug", "server", []string{"--log-level", "debug"}, nil, false, slog.LevelDebug},
		{"info", "server", []string{"--log-level=info"}, nil, false, slog.LevelInfo},
		{"warn", "server", []string{"--log-level", "warn"}, nil, false, slog.LevelWarn},
		{"error", "server", []string{"--log-level", "error"}, nil, false, slog.LevelError},
		{"upper case", "server", []string{"--log-level", "DEBUG", "--log-format", "JSON"}, nil, true, slog.LevelDebug},
		{"level from the environment", "server", nil, map[string]string{"ATOLL_LOG_LEVEL": "error"}, false, slog.LevelError},
		{"flag beats environment", "server", []string{"--log-level", "debug"}, map[string]string{"ATOLL_LOG_LEVEL": "error"}, false, slog.LevelDebug},
		{"ci defaults", "ci", nil, nil, false, slog.LevelWarn},
		{"ci debug", "ci", []string{"--log-level", "debug", "--log-format", "json"}, nil, true, slog.LevelDebug},
		{"ci info from the environment", "ci", nil, map[string]string{"ATOLL_LOG_LEVEL": "info"}, false, slog.LevelInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"ATOLL_DATA_DIR": dataDir(t)}
			for k, v := range tt.env {
				env[k] = v
			}
			getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			var logs bytes.Buffer
			var logger *slog.Logger
			switch tt.command {
			case "server":
				c, err := readServerFlags(append([]string{"--repo-allowlist=*", "--tf-bin", sh, "--gh-token=x"}, tt.args...), getenv, io.Discard, &logs)
				if err != nil {
					t.Fatal(err)
				}
				logger = c.Logger
			case "ci":
				for k, v := range gitLabApplyJob() {
					env[k] = v
				}
				c, _, cleanup, err := ciConfig("apply", append([]string{"--tf-bin", sh}, tt.args...), getenv, func(k string) string { return env[k] }, io.Discard, &logs)
				if err != nil {
					t.Fatal(err)
				}
				cleanup()
				logger = c.Logger
			}
			h := logger.Handler()
			if _, isJSON := h.(*slog.JSONHandler); isJSON != tt.json {
				t.Errorf("handler %T, want JSON %v", h, tt.json)
			}
			ctx := context.Background()
			if !h.Enabled(ctx, tt.least) || tt.least > slog.LevelDebug && h.Enabled(ctx, tt.least-4) {
				t.Errorf("least level written: want %v", tt.least)
			}
			// The logger writes where it was told.
			slog.New(h).Error("written")
			if !strings.Contains(logs.String(), "written") {
				t.Errorf("logs = %q, want the record written there", logs.String())
			}
		})
	}
}

// gitLabApplyJob is the environment of a GitLab merge request pipeline's
// job that atoll ci apply runs in.
func gitLabApplyJob() map[string]string {
	return map[string]string{
		"GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "1",
		"CI_PROJECT_PATH": "acme/infra", "CI_COMMIT_SHA": strings.Repeat("a", 40), "CI_SERVER_URL": "https://gitlab.example.com",
		"ATOLL_GITLAB_TOKEN": "glpat-x",
	}
}

// TestLogFlagsRefused refuses a log format or level atoll does not know
// with a one-line error naming the flag, and exit code 2, in atoll
// server and atoll ci alike.
func TestLogFlagsRefused(t *testing.T) {
	t.Parallel()
	sh, _ := exec.LookPath("sh")
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		stderr string
	}{
		{"server format", []string{"server", "--log-format", "yaml"}, nil, `atoll server: --log-format "yaml": want text or json`},
		{"server level", []string{"server", "--log-level", "verbose"}, nil, `atoll server: --log-level "verbose": want debug, info, warn or error`},
		{"server level from the environment", []string{"server"}, map[string]string{"ATOLL_LOG_LEVEL": "warning"}, `--log-level "warning": want debug, info, warn or error`},
		{"server empty format", []string{"server", "--log-format="}, nil, `--log-format "": want text or json`},
		{"ci format", []string{"ci", "apply", "--log-format", "logfmt"}, gitLabApplyJob(), `atoll ci: --log-format "logfmt": want text or json`},
		{"ci level", []string{"ci", "apply", "--log-level", "trace"}, gitLabApplyJob(), `atoll ci: --log-level "trace": want debug, info, warn or error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append(tt.args, "--repo-allowlist=*", "--tf-bin", sh, "--data-dir", dataDir(t))
			environ := []string{"ATOLL_GH_TOKEN=x"}
			for k, v := range tt.env {
				environ = append(environ, k+"="+v)
			}
			var stdout, stderr bytes.Buffer
			if code := run(args, environ, &stdout, &stderr); code != 2 {
				t.Errorf("exit code %d, want 2; stderr %q", code, stderr.String())
			}
			msg := strings.TrimSpace(stderr.String())
			if !strings.Contains(msg, tt.stderr) || strings.Contains(msg, "\n") {
				t.Errorf("stderr = %q, want one line with %q", msg, tt.stderr)
			}
		})
	}
}

// TestLogJSONServer runs the binary with --log-format json, has it log
// (starting, a webhook it refuses, a plan, shutting down) and checks that
// every line it wrote to stderr is a JSON object with a level and a
// message, the job's carrying its id.
func TestLogJSONServer(t *testing.T) {
	t.Parallel()
	tofu := testTofu(t)
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_jsonlogs", WebhookSecret: "shh"})
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": "locals {\n  x = 1\n}\n"}})
	srv := startServerBinary(t, gh, buildAtoll(t), "server", []string{
		"ATOLL_REPO_ALLOWLIST=acme/*", "ATOLL_GH_WEBHOOK_SECRET=shh", "ATOLL_GH_API_URL=" + gh.APIURL(),
		"ATOLL_TF_BIN=" + tofu, "ATOLL_DATA_DIR=" + dataDir(t), "ATOLL_LOG_LEVEL=debug",
	}, []string{"--log-format", "json", "--gh-token", "ghp_jsonlogs"})
	// A comment signed with another secret is refused, and logged; a
	// signed one is planned.
	wrong := "wrong"
	gh.Deliver(t, srv.url+"/events", "issue_comment", gh.Payload(t, "issue_comment", "created", pr, "alice", "atoll plan"), vcstest.DeliverOptions{Secret: &wrong})
	if d := gh.SendPullComment(t, srv.url+"/events", pr, "alice", "atoll plan"); d.Status != http.StatusAccepted {
		t.Fatalf("webhook answered %d %s", d.Status, d.Body)
	}
	gh.WaitFor(t, 60*time.Second, "the plan", func() bool {
		cs := gh.Comments("acme/infra", pr.Number)
		return len(cs) == 1 && strings.Contains(cs[0].Body, "No changes.")
	})
	srv.stop()

	lines, withJob := 0, 0
	sc := bufio.NewScanner(strings.NewReader(srv.log()))
	for sc.Scan() {
		lines++
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("line %d is not a JSON object: %v\n%s", lines, err, sc.Text())
			continue
		}
		if _, ok := rec["level"].(string); !ok {
			t.Errorf("line %d has no level: %s", lines, sc.Text())
		}
		if _, ok := rec["msg"].(string); !ok {
			t.Errorf("line %d has no msg: %s", lines, sc.Text())
		}
		if _, ok := rec["job"]; ok {
			withJob++
		}
	}
	// At least the secret warning, "atoll listening" and "shutting down".
	if lines < 3 {
		t.Errorf("%d lines logged, want at least 3:\n%s", lines, srv.log())
	}
	if !strings.Contains(srv.log(), `"msg":"atoll listening"`) {
		t.Errorf("no JSON record of the server listening:\n%s", srv.log())
	}
	if withJob == 0 {
		t.Errorf("no record carries a job id:\n%s", srv.log())
	}
}
