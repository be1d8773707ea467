package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// atoll drift checks each repository in scope once: it prints what
// drifted, sets the drift status and opens the drift issue, and exits 2;
// a repository in sync exits 0.
func TestDriftCommand(t *testing.T) {
	t.Parallel()
	tofu := testTofu(t)
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_drift"})
	gh.CreateRepo(t, "acme/infra", map[string]string{"main.tf": "resource \"terraform_data\" \"web\" {\n  input = \"v1\"\n}\n"})
	gh.CreateRepo(t, "acme/empty", map[string]string{"main.tf": "locals {}\n"})
	gh.CreateRepo(t, "other/infra", map[string]string{"main.tf": "resource \"terraform_data\" \"x\" {}\n"})
	main := gh.PushToMain(t, "acme/infra", map[string]string{"README.md": "infra\n"})
	environ := []string{"ATOLL_GH_TOKEN=ghp_drift", "ATOLL_GH_API_URL=" + gh.APIURL(), "ATOLL_TF_BIN=" + tofu,
		"ATOLL_DATA_DIR=" + dataDir(t), "ATOLL_LOG_LEVEL=warn", "PATH=/usr/bin:/bin"}
	var stdout, stderr bytes.Buffer
	code := run([]string{"drift", "--repo-allowlist", "acme/*"}, environ, &stdout, &stderr)
	out := stdout.String()
	if code != 2 || !strings.Contains(out, "acme/infra (main at "+main[:7]+"): 1 of 1 projects drifted") ||
		!strings.Contains(out, "acme/empty (main at") || !strings.Contains(out, "0 of 1 projects drifted") || strings.Contains(out, "other/infra") {
		t.Errorf("atoll drift: exit %d\n%s\n%s", code, out, stderr.String())
	}
	if st := gh.Statuses("acme/infra", main); len(st) != 1 || st[0].Context != "atoll/drift" || st[0].State != "failure" {
		t.Errorf("statuses of acme/infra's head: %+v", st)
	}
	if is := gh.Issues("acme/infra"); len(is) != 1 || !is[0].Open {
		t.Errorf("drift issues of acme/infra: %+v", is)
	}
	stdout.Reset()
	if code := run([]string{"drift", "--repo-allowlist", "acme/empty"}, environ, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "0 of 1 projects drifted") {
		t.Errorf("atoll drift of a repository in sync: exit %d\n%s", code, stdout.String())
	}
	// The server's repo config turns one repository's checks off, and
	// names the other's projects.
	repoConfig := filepath.Join(t.TempDir(), "repos.yaml")
	if err := os.WriteFile(repoConfig, []byte("repos:\n- id: acme/empty\n  drift: false\n- id: acme/infra\n  drift:\n    dirs: [.]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	code = run([]string{"drift", "--repo-allowlist", "acme/*", "--repo-config", repoConfig}, environ, &stdout, &stderr)
	out = stdout.String()
	if code != 2 || !strings.Contains(out, "acme/empty: not checked: the server's repo config turns drift checks off") || !strings.Contains(out, "acme/infra (main at "+main[:7]+"): 1 of 1 projects drifted") {
		t.Errorf("atoll drift with a repo config: exit %d\n%s\n%s", code, out, stderr.String())
	}
	if code := run([]string{"drift", "--repo-allowlist", "acme/*", "--drift-interval", "1s"}, environ, &stdout, &stderr); code != 2 {
		t.Errorf("atoll drift with a bad flag: exit %d, want 2", code)
	}
}
