package main

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// readsTheServer is a pull request's plain HCL, no provider, that prints
// the environment and command line of its parent, the server, encoded so
// that no redactor recognises them.
const readsTheServer = `
locals {
  server = split(" ", file("/proc/self/stat"))[3]
}
output "environ" {
  value = base64encode(file("/proc/${local.server}/environ"))
}
output "cmdline" {
  value = base64encode(file("/proc/${local.server}/cmdline"))
}
`

// A pull request cannot read the server's secrets: neither the token in
// its environment nor the webhook secret on its command line reach the
// comment in any encoding. With the sandbox off, the same pull request
// reads both: the attack is real.
func TestServerKeepsItsSecretsFromThePullRequest(t *testing.T) {
	t.Parallel()
	tofu := testTofu(t)
	bin := buildAtoll(t)
	const token, hookSecret = "ghp_keptfromtools", "webhook-secret-kept-from-tools"
	for _, sandbox := range []string{"required", "off"} {
		t.Run(sandbox, func(t *testing.T) {
			t.Parallel()
			gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: token, WebhookSecret: hookSecret})
			gh.CreateRepo(t, "acme/infra", nil)
			pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": readsTheServer}})
			env := []string{"ATOLL_REPO_ALLOWLIST=acme/*", "ATOLL_GH_TOKEN=" + token, "ATOLL_GH_API_URL=" + gh.APIURL(),
				"ATOLL_TF_BIN=" + tofu, "ATOLL_DATA_DIR=" + dataDir(t)}
			// Off, with steps as atoll's own user: both fences down.
			args := []string{"--gh-webhook-secret", hookSecret, "--sandbox", sandbox}
			if sandbox == "off" {
				args = append(args, "--tool-user", "self")
			}
			srv := startServerBinary(t, gh, bin, sandbox, env, args)
			body := planComment(t, gh, srv, pr)
			read := decoded(body)
			leaked := strings.Contains(read, token) && strings.Contains(read, hookSecret)
			switch {
			case sandbox == "off" && !leaked:
				t.Fatalf("unconfined, the pull request read no secret: the attack does not test the sandbox:\n%s", body)
			case sandbox != "off" && (strings.Contains(read, token) || strings.Contains(read, hookSecret)):
				t.Errorf("the pull request read the server's secrets:\n%s", body)
			case sandbox != "off" && !strings.Contains(body, "plan failed"):
				t.Errorf("reading the server's /proc should fail the plan:\n%s", body)
			}
			if log := srv.log(); !strings.Contains(log, "a secret on the command line") {
				t.Errorf("no warning of the webhook secret on the command line:\n%s", log)
			}
		})
	}
}

// planComment asks srv for a plan of pr and returns its answer.
func planComment(t *testing.T, gh *vcstest.GitHub, srv *replica, pr vcstest.Pull) string {
	t.Helper()
	if d := gh.SendPullComment(t, srv.url+"/events", pr, "alice", "atoll plan"); d.Status != http.StatusAccepted {
		t.Fatalf("webhook answered %d %s", d.Status, d.Body)
	}
	var body string
	gh.WaitFor(t, 90*time.Second, "a plan comment", func() bool {
		cs := gh.Comments(pr.Repo, pr.Number)
		if len(cs) == 0 || strings.HasPrefix(cs[0].Body, "⏳") {
			return false
		}
		body = cs[0].Body
		return true
	})
	return body
}

var base64Run = regexp.MustCompile(`[A-Za-z0-9+/]{16,}={0,2}`)

// decoded is s with every base64 run in it decoded, and s itself.
func decoded(s string) string {
	var b strings.Builder
	b.WriteString(s)
	for _, run := range base64Run.FindAllString(s, -1) {
		if d, err := base64.StdEncoding.DecodeString(run); err == nil {
			b.Write(d)
		}
	}
	return b.String()
}

// A pull request cannot read the GitHub App's private key, which the
// server reads from a file at start: not the file, nor the server's
// memory through /proc. Unconfined, the same pull request reads the
// file: the attack is real.
func TestServerKeepsTheAppKeyFromThePullRequest(t *testing.T) {
	t.Parallel()
	tofu := testTofu(t)
	bin := buildAtoll(t)
	for _, sandbox := range []string{"required", "off"} {
		t.Run(sandbox, func(t *testing.T) {
			t.Parallel()
			gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{WebhookSecret: "app-webhook-secret"})
			app := gh.EnableApp(t, vcstest.AppOptions{})
			gh.Install(t, "acme")
			keyFile := filepath.Join(t.TempDir(), "app.pem")
			if err := os.WriteFile(keyFile, app.KeyPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			gh.CreateRepo(t, "acme/infra", nil)
			readsTheKey := readsTheServer + fmt.Sprintf("output \"key\" {\n  value = base64encode(file(%q))\n}\n", keyFile)
			pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": readsTheKey}})
			env := []string{"ATOLL_REPO_ALLOWLIST=acme/*", "ATOLL_GH_API_URL=" + gh.APIURL(), "ATOLL_GH_WEBHOOK_SECRET=app-webhook-secret",
				"ATOLL_TF_BIN=" + tofu, "ATOLL_DATA_DIR=" + dataDir(t)}
			args := []string{"--gh-app-id", strconv.FormatInt(app.ID, 10), "--gh-app-key-file", keyFile, "--sandbox", sandbox}
			if sandbox == "off" {
				args = append(args, "--tool-user", "self")
			}
			srv := startServerBinary(t, gh, bin, sandbox, env, args)
			body := planComment(t, gh, srv, pr)
			// The key's base64 body, without the PEM armour.
			keyBody := strings.Join(strings.Split(strings.TrimSpace(string(app.KeyPEM)), "\n")[1:3], "\n")
			leaked := strings.Contains(decoded(body), keyBody)
			switch {
			case sandbox == "off" && !leaked:
				t.Fatalf("unconfined, the pull request did not read the key: the attack does not test the sandbox:\n%s", body)
			case sandbox != "off" && leaked:
				t.Errorf("the pull request read the App's key:\n%s", body)
			case sandbox != "off" && !strings.Contains(body, "plan failed"):
				t.Errorf("reading the key should fail the plan:\n%s", body)
			}
		})
	}
}
