package workspace

import (
	"context"
	"encoding/base64"
	"errors"
	"os/exec"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

func TestClassifyFetch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stderr    string
		status    int
		transient bool
	}{
		{"fatal: unable to access 'https://github.com/acme/infra.git/': The requested URL returned error: 500", 500, true},
		{"error: RPC failed; HTTP 502 curl 22 The requested URL returned error: 502\nfatal: expected flush after ref listing", 502, true},
		{"fatal: unable to access 'https://github.com/acme/infra.git/': The requested URL returned error: 429", 429, true},
		{"fatal: unable to access 'https://github.com/acme/infra.git/': The requested URL returned error: 403", 403, false},
		{"remote: Repository not found.\nfatal: repository 'https://github.com/acme/infra.git/' not found", 0, false},
		{"fatal: unable to access 'https://github.com/acme/infra.git/': Could not resolve host: github.com", 0, true},
		{"fatal: the remote end hung up unexpectedly", 0, true},
		{"fatal: remote error: upload-pack: not our ref 0123456789abcdef0123456789abcdef01234567", 0, false},
	}
	for _, tt := range tests {
		status, transient := classifyFetch(&gitError{command: "fetch", err: &exec.ExitError{}, stderr: tt.stderr})
		if status != tt.status || transient != tt.transient {
			t.Errorf("classifyFetch(%q) = %d, %v; want %d, %v", tt.stderr, status, transient, tt.status, tt.transient)
		}
	}
	if _, transient := classifyFetch(context.Canceled); transient {
		t.Error("a cancelled fetch is transient")
	}
}

func TestCheckoutRetriesAForgeInTrouble(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// fails is how many git requests the forge answers 500; < 0: all.
		fails     int
		wantTries int // 0 for a checkout that succeeds
	}{
		{name: "a 500 once is tried again", fails: 1},
		{name: "a forge that keeps failing is given up on", fails: -1, wantTries: fetchTries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "sekrit"})
			gh.CreateRepo(t, "acme/infra", nil)
			p := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": "v1"}})
			auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:sekrit"))
			spec := CheckoutSpec{Forge: "github", Repo: "acme/infra", CloneURL: gh.CloneURL("acme/infra"), Auth: auth, Pull: 1, Workspace: "default", SHA: p.HeadSHA}
			gh.FailGit(tt.fails)
			w, err := NewWorkspaces(t.TempDir(), nil).Checkout(t.Context(), spec)
			if tt.wantTries == 0 {
				if err != nil {
					t.Fatalf("Checkout: %v", err)
				}
				w.Close()
				return
			}
			var fe *FetchError
			if !errors.As(err, &fe) || fe.Tries != tt.wantTries || fe.Status != 500 || !fe.Transient || fe.SHA != p.HeadSHA {
				t.Fatalf("Checkout = %v (%+v); want a FetchError after %d tries of a 500", err, fe, tt.wantTries)
			}
		})
	}
}
