package github

import (
	"testing"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

func TestDeleteBranch(t *testing.T) {
	t.Parallel()
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_test"})
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Branch: "feature/x", Files: map[string]string{"main.tf": "# x\n"}})
	f, err := New(Config{Token: "ghp_test", APIURL: gh.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	pull, err := f.PullRequest(t.Context(), vcs.Repo{FullName: "acme/infra"}, pr.Number)
	if err != nil {
		t.Fatal(err)
	}
	if pull.HeadRef != "feature/x" {
		t.Fatalf("HeadRef = %q, want feature/x", pull.HeadRef)
	}
	if err := f.DeleteBranch(t.Context(), pull); err != nil {
		t.Fatalf("DeleteBranch: %v", err)
	}
	if gh.BranchExists("acme/infra", "feature/x") {
		t.Fatal("the branch is still there")
	}
	// Gone already (GitHub's own setting deleted it on merge): done.
	if err := f.DeleteBranch(t.Context(), pull); err != nil {
		t.Errorf("DeleteBranch of a deleted branch: %v", err)
	}
	if !gh.BranchExists("acme/infra", "main") {
		t.Error("main went too")
	}
}
