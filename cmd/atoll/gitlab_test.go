package main

import (
	"bufio"
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// TestGitLabAloneBehindAPrivateCA runs the built binary with GitLab alone
// (no GitHub token), against a self-managed instance under a path whose
// certificate a private CA signed, trusted through SSL_CERT_FILE: a note
// `atoll plan` gets a plan note, an approval and `atoll apply` apply it.
func TestGitLabAloneBehindAPrivateCA(t *testing.T) {
	t.Parallel()
	tofu := testTofu(t)
	gl := vcstest.NewGitLab(t, vcstest.GitLabOptions{Token: "glpat-binarytest0123456789", WebhookSecret: "shh"})
	gl.CreateRepo(t, "group/sub/infra", nil)
	mr := gl.OpenPull(t, "group/sub/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"main.tf": "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n"}})

	// https://127.0.0.1:PORT/gitlab/... is the fake GitLab, over TLS.
	upstream, err := url.Parse(gl.URL())
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewTLSServer(http.StripPrefix("/gitlab", httputil.NewSingleHostReverseProxy(upstream)))
	t.Cleanup(front.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, buildAtoll(t), "server", "--bind-addr", "127.0.0.1", "--port", fmt.Sprint(port))
	cmd.Env = append(os.Environ(),
		"ATOLL_REPO_ALLOWLIST=group/sub/*",
		"ATOLL_GITLAB_TOKEN=glpat-binarytest0123456789",
		"ATOLL_GITLAB_WEBHOOK_SECRET=shh",
		"ATOLL_GITLAB_URL="+front.URL+"/gitlab",
		"SSL_CERT_FILE="+ca,
		"ATOLL_TF_BIN="+tofu,
		"ATOLL_DATA_DIR="+dataDir(t),
		"ATOLL_APPLY_REQUIREMENTS=approved",
	)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
		}
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		<-logDone
		if strings.Contains(logs.String(), "glpat-binarytest0123456789") {
			t.Errorf("the token reached the log:\n%s", logs.String())
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	gl.WaitFor(t, 30*time.Second, "the server to answer /healthz", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	say := func(user, body, want string) {
		t.Helper()
		n := len(gl.Comments("group/sub/infra", mr.Number))
		if d := gl.SendPullComment(t, base+"/events", mr, user, body); d.Status != http.StatusAccepted {
			t.Fatalf("webhook for %q answered %d %s", body, d.Status, d.Body)
		}
		gl.WaitFor(t, 90*time.Second, "the answer to "+body, func() bool {
			cs := gl.Comments("group/sub/infra", mr.Number)
			return len(cs) > n && !strings.HasPrefix(cs[len(cs)-1].Body, "⏳")
		})
		if c := gl.Comments("group/sub/infra", mr.Number)[n]; !strings.Contains(c.Body, want) {
			t.Errorf("answer to %q lacks %q:\n%s", body, want, c.Body)
		}
	}
	say("alice", "atoll plan", "Plan: 1 to add, 0 to change, 0 to destroy.")
	if h := gl.StatusHistory("group/sub/infra", mr.HeadSHA, "atoll/plan: ./default"); strings.Join(h, ",") != "running,success" {
		t.Errorf("plan status history = %v, want running then success", h)
	}
	gl.Review(t, "group/sub/infra", mr.Number, "bob", "APPROVED")
	say("bob", "atoll apply", "Apply complete! Resources: 1 added, 0 changed, 0 destroyed.")
}
