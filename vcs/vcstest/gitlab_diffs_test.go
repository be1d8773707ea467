package vcstest_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

func TestGitLabDiffs(t *testing.T) {
	t.Parallel()
	g, _ := newGitLabFixture(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())

	diffs, resp, err := c.MergeRequests.ListMergeRequestDiffs(glRepo, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.TotalItems != 4 || resp.TotalPages != 1 || resp.ItemsPerPage != 20 || resp.CurrentPage != 1 || resp.NextPage != 0 {
		t.Errorf("pagination of one page: total %d, pages %d, per page %d, page %d, next %d",
			resp.TotalItems, resp.TotalPages, resp.ItemsPerPage, resp.CurrentPage, resp.NextPage)
	}
	var got []string
	for _, d := range diffs {
		got = append(got, fmt.Sprintf("%s %s new=%v renamed=%v deleted=%v %s>%s", d.OldPath, d.NewPath, d.NewFile, d.RenamedFile, d.DeletedFile, d.AMode, d.BMode))
	}
	want := []string{
		"envs/prod/new.tf envs/prod/new.tf new=true renamed=false deleted=false 0>100644",
		"gone.tf gone.tf new=false renamed=false deleted=true 100644>0",
		"main.tf main.tf new=false renamed=false deleted=false 100644>100644",
		"modules/old/old.tf modules/new/old.tf new=false renamed=true deleted=false 100644>100644",
	}
	if !slices.Equal(got, want) {
		t.Errorf("diffs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantDiffs := map[string]string{
		"main.tf":            "@@ -1 +1,2 @@\n resource \"terraform_data\" \"a\" {}\n+resource \"terraform_data\" \"b\" {}\n",
		"gone.tf":            "@@ -1 +0,0 @@\n-output \"z\" { value = 1 }\n",
		"envs/prod/new.tf":   "",
		"modules/new/old.tf": "",
	}
	for _, d := range diffs {
		if d.Diff != wantDiffs[d.NewPath] {
			t.Errorf("%s: diff %q, want %q", d.NewPath, d.Diff, wantDiffs[d.NewPath])
		}
	}

	// Capped as GitLab's diff_max_files caps them.
	g2, _ := newGitLabFixture(t, vcstest.GitLabOptions{DiffMaxFiles: 3})
	c2 := newGitLabClient(t, g2, g2.Token())
	diffs, resp, err = c2.MergeRequests.ListMergeRequestDiffs(glRepo, 1, nil)
	mr, _, err2 := c2.MergeRequests.GetMergeRequest(glRepo, 1, nil)
	if err != nil || err2 != nil || len(diffs) != 3 || resp.TotalItems != 3 || mr.ChangesCount != "3+" {
		t.Errorf("DiffMaxFiles 3: %d diffs, X-Total %d, changes_count %q; %v, %v", len(diffs), resp.TotalItems, mr.ChangesCount, err, err2)
	}
}

// A merge request that changes 2,500 files lists them all, 100 a page at
// most, with GitLab's pagination headers.
func TestGitLabDiffsPaginate(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitLab(t, vcstest.GitLabOptions{})
	c := newGitLabClient(t, g, g.Token())
	g.CreateRepo(t, glRepo, nil)
	files := map[string]string{}
	for i := range 2500 {
		files[fmt.Sprintf("stacks/s%04d/main.tf", i)] = fmt.Sprintf("locals { n = %d }\n", i)
	}
	g.OpenPull(t, glRepo, vcstest.PullSpec{Files: files})

	mr, _, err := c.MergeRequests.GetMergeRequest(glRepo, 1, nil)
	if err != nil || mr.ChangesCount != "2500" {
		t.Errorf("changes_count = %q, %v", mr.ChangesCount, err)
	}

	// The default page size, and a page size over the limit.
	_, resp, err := c.MergeRequests.ListMergeRequestDiffs(glRepo, 1, nil)
	if err != nil || resp.ItemsPerPage != 20 || resp.TotalPages != 125 || resp.NextPage != 2 || resp.PreviousPage != 0 ||
		!strings.Contains(resp.NextLink, "page=2") || !strings.Contains(resp.LastLink, "page=125") || resp.PreviousLink != "" {
		t.Errorf("first default page: %+v, %v", resp, err)
	}
	opts := &gl.ListMergeRequestDiffsOptions{ListOptions: gl.ListOptions{PerPage: 1000}}
	seen := map[string]bool{}
	pages := 0
	for {
		diffs, resp, err := c.MergeRequests.ListMergeRequestDiffs(glRepo, 1, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if resp.ItemsPerPage != 100 || resp.TotalItems != 2500 || resp.TotalPages != 25 || len(diffs) != 100 || resp.CurrentPage != pages {
			t.Fatalf("page %d: %d diffs, per page %d, total %d, pages %d", pages, len(diffs), resp.ItemsPerPage, resp.TotalItems, resp.TotalPages)
		}
		for _, d := range diffs {
			if !d.NewFile || seen[d.NewPath] || !strings.HasPrefix(d.Diff, "@@ -0,0 +1 @@\n+locals") {
				t.Fatalf("page %d: diff %+v (seen before: %v)", pages, d, seen[d.NewPath])
			}
			seen[d.NewPath] = true
		}
		if resp.NextPage == 0 {
			if resp.PreviousPage != 24 {
				t.Errorf("last page's previous page = %d", resp.PreviousPage)
			}
			break
		}
		opts.Page = resp.NextPage
	}
	if len(seen) != 2500 || pages != 25 {
		t.Errorf("%d files in %d pages, want 2500 in 25", len(seen), pages)
	}

	// Past the end: an empty page.
	opts.Page = 26
	if diffs, resp, err := c.MergeRequests.ListMergeRequestDiffs(glRepo, 1, opts); err != nil || len(diffs) != 0 || resp.NextPage != 0 {
		t.Errorf("page 26 = %d diffs, next %d, %v", len(diffs), resp.NextPage, err)
	}
}
