package main

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
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
	mr := gl.OpenPull(t, "group/sub/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"main.tf": oneResource}})

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

	srv := startServerBinary(t, gl, buildAtoll(t), "server", []string{
		"ATOLL_REPO_ALLOWLIST=group/sub/*",
		"ATOLL_GITLAB_TOKEN=glpat-binarytest0123456789",
		"ATOLL_GITLAB_WEBHOOK_SECRET=shh",
		"ATOLL_GITLAB_URL=" + front.URL + "/gitlab",
		"SSL_CERT_FILE=" + ca,
		"ATOLL_TF_BIN=" + tofu,
		"ATOLL_DATA_DIR=" + dataDir(t),
		"ATOLL_APPLY_REQUIREMENTS=approved",
	}, nil)
	t.Cleanup(func() {
		srv.stop()
		if log := srv.log(); strings.Contains(log, "glpat-binarytest0123456789") {
			t.Errorf("the token reached the log:\n%s", log)
		}
	})
	base := srv.url

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
