package vcstest

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"strings"
)

// validPath is what GitLab allows as a project's path with namespace: a
// group, any subgroups, and the project, each starting with a letter, a
// digit or an underscore.
var validPath = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)+$`)

// checkPath fails the test unless p is a path GitLab would give a project.
func checkPath(t T, p string) {
	t.Helper()
	if !validPath.MatchString(p) || strings.Contains(p, "..") || strings.HasSuffix(p, ".git") ||
		strings.HasSuffix(p, ".atom") || strings.HasPrefix(p, "api/") {
		t.Fatalf("fake gitlab: invalid project path %q", p)
	}
}

// CreateRepo creates project repo ("group/project", or with subgroups
// "group/sub/project") with one commit on branch main holding files
// (slash-separated paths, directories created as needed). Its groups are
// created as needed. The fake serves a bare repository; the helpers
// commit in a work clone under t.TempDir().
func (g *GitLab) CreateRepo(t T, repo string, files map[string]string) {
	t.Helper()
	checkPath(t, repo)
	g.opMu.Lock()
	defer g.opMu.Unlock()
	g.mu.Lock()
	_, exists := g.projects[repo]
	_, isGroup := g.groups[repo]
	clash := ""
	for grp := parentGroup(repo); grp != ""; grp = parentGroup(grp) {
		if g.projects[grp] != nil {
			clash = grp
		}
	}
	g.mu.Unlock()
	switch {
	case exists:
		t.Fatalf("fake gitlab: project %s exists", repo)
	case isGroup:
		t.Fatalf("fake gitlab: %s is a group", repo)
	case clash != "":
		t.Fatalf("fake gitlab: %s is a project, not a group that can hold %s", clash, repo)
	}

	bare, work := g.initRepo(t, repo, files)

	g.mu.Lock()
	defer g.mu.Unlock()
	g.lastProjectID++
	g.projects[repo] = &project{path: repo, id: g.lastProjectID, bare: bare, work: work}
	for grp := parentGroup(repo); grp != ""; grp = parentGroup(grp) {
		g.groupIDLocked(grp)
	}
}

// parentGroup is the group or subgroup that holds a project or subgroup,
// or "" for a top-level group.
func parentGroup(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// groupIDLocked is the id of the group at full path grp, which it creates
// if need be.
func (g *GitLab) groupIDLocked(grp string) int64 {
	id, ok := g.groups[grp]
	if !ok {
		g.lastGroupID++
		id = g.lastGroupID
		g.groups[grp] = id
	}
	return id
}

// OpenPull opens merge request !IID (numbered from 1 in each project): a
// branch off main's tip with one commit applying spec, pushed as the
// source branch and as refs/merge-requests/IID/head, as GitLab keeps it.
// The author defaults to "octocat". With spec.Fork the source branch is in
// that project, which the fake does not serve over git: only
// refs/merge-requests/IID/head has the commits, and the source branch may
// be called main.
func (g *GitLab) OpenPull(t T, repo string, spec PullSpec) Pull {
	t.Helper()
	g.opMu.Lock()
	defer g.opMu.Unlock()
	p := g.project(t, repo)
	g.mu.Lock()
	iid := len(p.mrs) + 1
	g.mu.Unlock()

	pl := Pull{
		Repo:   repo,
		Number: iid,
		Branch: cmp.Or(spec.Branch, fmt.Sprintf("pr-%d", iid)),
		Author: cmp.Or(spec.Author, "octocat"),
		Draft:  spec.Draft,
		Open:   true,
		Fork:   spec.Fork,
	}
	local := pl.Branch
	if pl.Fork != "" {
		checkPath(t, pl.Fork)
		if pl.Fork == repo {
			t.Fatalf("fake gitlab: %s cannot be a fork of itself", repo)
		}
		local = fmt.Sprintf("fork-mr-%d", iid)
	} else if pl.Branch == "main" {
		t.Fatalf("fake gitlab: a merge request cannot come from main")
	}
	g.mustGit(t, p.work, nil, "checkout", "-q", "-B", local, "main")
	g.writeFiles(t, p.work, spec.Files)
	if len(spec.Delete) > 0 {
		g.mustGit(t, p.work, nil, append([]string{"rm", "-q", "-r", "--"}, spec.Delete...)...)
	}
	pl.HeadSHA = g.commit(t, p.work, pl.Author, fmt.Sprintf("Merge request !%d", iid))
	g.pushMR(t, p, pl)
	base, start := g.diffRefs(t, p)

	g.mu.Lock()
	defer g.mu.Unlock()
	g.lastID++
	at := now()
	mr := &mergeRequest{
		Pull: pl, id: g.lastID, title: fmt.Sprintf("Merge request !%d", iid), local: local,
		created: at, updated: at, baseSHA: base, startSHA: start,
	}
	p.mrs = append(p.mrs, mr)
	g.meetLocked(pl.Author)
	if pl.Fork != "" {
		if _, ok := g.forks[pl.Fork]; !ok && g.projects[pl.Fork] == nil {
			g.lastProjectID++
			g.forks[pl.Fork] = g.lastProjectID
		}
	}
	return pl
}

// PushToPull pushes a new commit writing files to a merge request's
// source branch, and returns the merge request with its new head. As on
// GitLab, the diff is refreshed: diff_refs start from main's tip now.
func (g *GitLab) PushToPull(t T, repo string, iid int, files map[string]string) Pull {
	t.Helper()
	g.opMu.Lock()
	defer g.opMu.Unlock()
	p := g.project(t, repo)
	g.mu.Lock()
	mr := g.mrLocked(repo, iid)
	var pl Pull
	var local string
	if mr != nil {
		pl, local = mr.Pull, mr.local
	}
	g.mu.Unlock()
	if mr == nil {
		t.Fatalf("fake gitlab: no merge request %s!%d", repo, iid)
	}
	g.mustGit(t, p.work, nil, "checkout", "-q", local)
	g.writeFiles(t, p.work, files)
	old := pl.HeadSHA
	pl.HeadSHA = g.commit(t, p.work, pl.Author, fmt.Sprintf("Update merge request !%d", iid))
	g.pushMR(t, p, pl)
	base, start := g.diffRefs(t, p)

	g.mu.Lock()
	defer g.mu.Unlock()
	mr.HeadSHA, mr.prevHead = pl.HeadSHA, old
	mr.baseSHA, mr.startSHA = base, start
	mr.touch()
	return mr.Pull
}

// PushToMain commits files (written or replaced) to main and returns the
// new tip, so that open merge requests fall behind it.
func (g *GitLab) PushToMain(t T, repo string, files map[string]string) string {
	t.Helper()
	g.opMu.Lock()
	defer g.opMu.Unlock()
	p := g.project(t, repo)
	g.mustGit(t, p.work, nil, "checkout", "-q", "main")
	g.writeFiles(t, p.work, files)
	sha := g.commit(t, p.work, g.id.author, "Update main")
	g.mustGit(t, p.work, nil, "push", "-q", "origin", "main")
	return sha
}

// ClosePull closes a merge request without merging it, as its author
// would, and returns it. No webhook is sent.
func (g *GitLab) ClosePull(t T, repo string, iid int) Pull {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	mr := g.mrLocked(repo, iid)
	if mr == nil {
		t.Fatalf("fake gitlab: no merge request %s!%d", repo, iid)
	}
	mr.setOpen(false)
	return mr.Pull
}

// SetMergeable sets whether git could merge a merge request: unmergeable
// is GitLab's detailed_merge_status "conflict" (merge_status
// "cannot_be_merged", has_conflicts), and PUT merge refuses it. Merge
// requests start mergeable. It panics if there is no such merge request.
func (g *GitLab) SetMergeable(repo string, iid int, mergeable bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mustMRLocked(repo, iid).conflict = !mergeable
}

// SetMergeStatus sets the detailed_merge_status an open merge request
// reports, a draft's included: "ci_must_pass", "not_approved",
// "discussions_not_resolved", "need_rebase" and so on, which PUT merge
// refuses. "conflict" is SetMergeable(false); "mergeable" or "" undoes
// what SetMergeStatus set, leaving a conflict to SetMergeable(true). It
// panics if there is no such merge request.
func (g *GitLab) SetMergeStatus(repo string, iid int, status string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	mr := g.mustMRLocked(repo, iid)
	switch status {
	case "conflict":
		mr.conflict = true
	case "mergeable", "":
		mr.blocked = ""
	default:
		mr.blocked = status
	}
}

// Merged reports whether a merge request was merged, through the API or
// a "merge" webhook.
func (g *GitLab) Merged(repo string, iid int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	mr := g.mrLocked(repo, iid)
	return mr != nil && mr.merged != nil
}

// BranchExists reports whether the project has the branch.
func (g *GitLab) BranchExists(repo, branch string) bool {
	g.mu.Lock()
	p := g.projects[repo]
	g.mu.Unlock()
	if p == nil {
		return false
	}
	_, err := g.revParse(context.Background(), p.bare, "refs/heads/"+branch)
	return err == nil
}

func (g *GitLab) mustMRLocked(repo string, iid int) *mergeRequest {
	mr := g.mrLocked(repo, iid)
	if mr == nil {
		panic(fmt.Sprintf("fake gitlab: no merge request %s!%d", repo, iid))
	}
	return mr
}

func (g *GitLab) project(t T, path string) *project {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.projects[path]
	if p == nil {
		t.Fatalf("fake gitlab: no project %s (CreateRepo it first)", path)
	}
	return p
}

// pushMR pushes the work clone's HEAD as refs/merge-requests/IID/head
// and, unless the merge request comes from a fork, as its source branch.
func (g *GitLab) pushMR(t T, p *project, pl Pull) {
	t.Helper()
	refs := []string{fmt.Sprintf("HEAD:refs/merge-requests/%d/head", pl.Number)}
	if pl.Fork == "" {
		refs = append(refs, "HEAD:refs/heads/"+pl.Branch)
	}
	g.mustGit(t, p.work, nil, append([]string{"push", "-q", "--force", "origin"}, refs...)...)
}

// diffRefs is the merge base of the work clone's HEAD with main, and
// main's tip. The caller holds opMu.
func (g *GitLab) diffRefs(t T, p *project) (base, start string) {
	t.Helper()
	start = g.mustGit(t, p.work, nil, "rev-parse", "main")
	base = g.mustGit(t, p.work, nil, "merge-base", "main", "HEAD")
	return base, start
}

// projectName is the last part of a project's or group's path.
func projectName(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }
