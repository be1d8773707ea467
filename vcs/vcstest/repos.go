package vcstest

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// validName is what GitHub allows in an owner or repository name.
var validName = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// firstCommit dates the fake's first commit; each later one is a second
// later, so that hashes are the same from run to run yet every commit is
// new.
const firstCommit = 1704067200 // 2024-01-01T00:00:00Z

// CreateRepo creates repository fullName ("owner/name") with one commit on
// branch main holding files (slash-separated paths, directories created as
// needed). The fake serves a bare repository; the helpers commit in a work
// clone under t.TempDir().
func (g *GitHub) CreateRepo(t T, fullName string, files map[string]string) {
	t.Helper()
	if !validName.MatchString(fullName) || strings.Contains(fullName, "..") {
		t.Fatalf("fake github: invalid repository name %q", fullName)
	}
	g.opMu.Lock()
	defer g.opMu.Unlock()
	g.mu.Lock()
	_, exists := g.repos[fullName]
	g.mu.Unlock()
	if exists {
		t.Fatalf("fake github: repository %s exists", fullName)
	}

	bare, work := g.initRepo(t, fullName, files)

	g.mu.Lock()
	defer g.mu.Unlock()
	g.repos[fullName] = &repo{fullName: fullName, id: int64(100 + len(g.repos)), bare: bare, work: work}
}

// PullSpec describes a pull request for OpenPull.
type PullSpec struct {
	// Author is the login that opened it; default "octocat".
	Author string
	// Branch is the head branch; default "pr-N".
	Branch string
	// Files are written (added or replaced) in the pull request's commit.
	Files map[string]string
	// Delete lists paths the commit removes.
	Delete []string
	Draft  bool
	// Fork, when set, is the repository ("owner/name") the pull request
	// comes from: the API's and webhooks' head.repo. The fake does not
	// serve it; the commits are fetched from the base repository.
	Fork string
}

// OpenPull opens pull request N (numbered from 1 in each repository, in
// one sequence with its issues): a branch off main's tip with one commit
// applying spec, pushed as the branch and as refs/pull/N/head, like
// GitHub does.
func (g *GitHub) OpenPull(t T, repo string, spec PullSpec) Pull {
	t.Helper()
	g.opMu.Lock()
	defer g.opMu.Unlock()
	r := g.repo(t, repo)
	g.mu.Lock()
	r.numbers++ // taken now: the API may open an issue meanwhile
	number := r.numbers
	g.mu.Unlock()

	p := Pull{
		Repo:   repo,
		Number: number,
		Branch: cmp.Or(spec.Branch, fmt.Sprintf("pr-%d", number)),
		Author: cmp.Or(spec.Author, "octocat"),
		Draft:  spec.Draft,
		Open:   true,
		Fork:   spec.Fork,
	}
	if p.Branch == "main" {
		t.Fatalf("fake github: a pull request cannot come from main")
	}
	if p.Fork != "" && (!validName.MatchString(p.Fork) || p.Fork == repo) {
		t.Fatalf("fake github: invalid fork %q of %s", p.Fork, repo)
	}
	g.mustGit(t, r.work, nil, "checkout", "-q", "-B", p.Branch, "main")
	g.writeFiles(t, r.work, spec.Files)
	if len(spec.Delete) > 0 {
		g.mustGit(t, r.work, nil, append([]string{"rm", "-q", "-r", "--"}, spec.Delete...)...)
	}
	p.HeadSHA = g.commit(t, r.work, p.Author, fmt.Sprintf("Pull request #%d", number))
	g.pushPull(t, r, p)

	g.mu.Lock()
	defer g.mu.Unlock()
	now := githubNow()
	r.pulls = append(r.pulls, &pull{Pull: p, created: now, updated: now})
	return p
}

// PushToPull pushes a new commit writing files to a pull request's branch,
// and returns the pull request with its new head.
func (g *GitHub) PushToPull(t T, repo string, number int, files map[string]string) Pull {
	t.Helper()
	g.opMu.Lock()
	defer g.opMu.Unlock()
	r := g.repo(t, repo)
	p := g.Pull(repo, number)
	if p.Number == 0 {
		t.Fatalf("fake github: no pull request %s#%d", repo, number)
	}
	g.mustGit(t, r.work, nil, "checkout", "-q", p.Branch)
	g.writeFiles(t, r.work, files)
	p.HeadSHA = g.commit(t, r.work, p.Author, fmt.Sprintf("Update pull request #%d", number))
	g.pushPull(t, r, p)

	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.statePullLocked(repo, number)
	st.HeadSHA = p.HeadSHA
	st.touch()
	return st.Pull
}

// PushToMain commits files (written or replaced) to main and returns the
// new tip, so that open pull requests fall behind it.
func (g *GitHub) PushToMain(t T, repo string, files map[string]string) string {
	t.Helper()
	g.opMu.Lock()
	defer g.opMu.Unlock()
	r := g.repo(t, repo)
	g.mustGit(t, r.work, nil, "checkout", "-q", "main")
	g.writeFiles(t, r.work, files)
	sha := g.commit(t, r.work, "octocat", "Update main")
	g.mustGit(t, r.work, nil, "push", "-q", "origin", "main")
	return sha
}

func (g *GitHub) repo(t T, fullName string) *repo {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.repos[fullName]
	if r == nil {
		t.Fatalf("fake github: no repository %s (CreateRepo it first)", fullName)
	}
	return r
}

// pushPull pushes the work clone's HEAD as p's branch and refs/pull/N/head.
func (g *GitHub) pushPull(t T, r *repo, p Pull) {
	t.Helper()
	g.mustGit(t, r.work, nil, "push", "-q", "--force", "origin",
		"HEAD:refs/heads/"+p.Branch, fmt.Sprintf("HEAD:refs/pull/%d/head", p.Number))
}

// symlinkMark starts a file's content that stands for a symbolic link.
const symlinkMark = "\x00symlink\x00"

// Symlink is the content of a file that is committed as a symbolic link
// to target, as a pull request may commit one: a file of the server, or
// the link itself.
func Symlink(target string) string { return symlinkMark + target }

// writeFiles writes files under dir, in a stable order; those whose
// content Symlink made are links.
func (h *gitHost) writeFiles(t T, dir string, files map[string]string) {
	t.Helper()
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			t.Fatalf("%s: file path %q is not relative to the repository", h.forge, name)
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatalf("%s: %v", h.forge, err)
		}
		if target, ok := strings.CutPrefix(files[name], symlinkMark); ok {
			os.Remove(p) // a link replaces whatever the path was
			if err := os.Symlink(target, p); err != nil {
				t.Fatalf("%s: %v", h.forge, err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			t.Fatalf("%s: %v", h.forge, err)
		}
	}
}
