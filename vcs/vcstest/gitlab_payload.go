package vcstest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// loadGitLabFixtures reads GitLab's example payloads by file name, from
// the module's testdata/gitlab (see its README.md).
func loadGitLabFixtures(t T) map[string][]byte {
	t.Helper()
	return loadExamples(t, "gitlab")
}

// fixture decodes the example payload name.
func (g *GitLab) fixture(t T, name string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(g.fixtures[name], &doc); err != nil {
		t.Fatalf("fake gitlab: example payload %s: %v", name, err)
	}
	return doc
}

// glHook is what one delivery describes.
type glHook struct {
	kind   string // "merge_request" or "note"
	action string // the fake's name of a merge request action: open, ready, title…
	hook   string // GitLab's object_attributes.action
	// p is the merge request, or for a note on an issue its Repo, Number
	// and Author.
	p     Pull
	issue bool
	// user is the sender of a merge request hook, or the note's author.
	user string
	body string
	// changes are merge request changes beyond those action implies.
	changes map[string]any
	// before is the merge request's updated_at before the action, for
	// changes.updated_at; default its updated_at now.
	before time.Time
}

// mrHookInfo is what a payload says about a merge request.
type mrHookInfo struct {
	proj       *project
	mr         mergeRequest // the fake's record, with p's state
	state      string       // opened, closed or merged
	sourcePath string
	sourceID   int64
	lastCommit map[string]any
}

// build turns GitLab's documented example for h into a payload about the
// fake's project and merge request or issue. Everything that describes
// them is overwritten; the rest keeps the example's values.
func (g *GitLab) build(t T, h glHook) []byte {
	t.Helper()
	proj := g.project(t, h.p.Repo)
	var doc map[string]any
	switch {
	case h.kind == "merge_request":
		doc = g.fixture(t, "merge_request.json")
		g.fillMRHook(t, doc, proj, h)
	case h.issue:
		doc = g.fixture(t, "note_issue.json")
		g.fillIssueNote(doc, proj, h)
	default:
		doc = g.fixture(t, "note_merge_request.json")
		g.fillMRNote(t, doc, proj, h)
	}
	return mustJSON(t, doc)
}

// mrInfo gathers what a payload says about merge request p once action
// (one of mrActions' first names, or "") has happened.
func (g *GitLab) mrInfo(t T, proj *project, p Pull, action string) mrHookInfo {
	t.Helper()
	switch action {
	case "open", "reopen":
		p.Open = true
	case "close", "merge":
		p.Open = false
	case "ready":
		p.Draft = false
	case "draft":
		p.Draft = true
	}
	g.mu.Lock()
	rec := g.mrLocked(p.Repo, p.Number)
	if rec == nil {
		g.mu.Unlock()
		t.Fatalf("fake gitlab: no merge request %s!%d", p.Repo, p.Number)
	}
	mr := *rec
	mr.approvals = slices.Clone(mr.approvals)
	info := mrHookInfo{proj: proj, sourcePath: proj.path, sourceID: proj.id}
	if p.Fork != "" {
		info.sourcePath, info.sourceID = p.Fork, g.forks[p.Fork]
		if fp := g.projects[p.Fork]; fp != nil {
			info.sourceID = fp.id
		}
	}
	g.meetLocked(p.Author)
	g.mu.Unlock()
	mr.Pull = p
	info.mr = mr
	info.state = "opened"
	if !p.Open {
		info.state = "closed"
		if action == "merge" || mr.merged != nil {
			info.state = "merged"
		}
	}
	info.lastCommit = g.commitJSON(t, proj, p.HeadSHA)
	return info
}

// commitJSON is a commit as hooks' last_commit shows it, read with git.
func (g *GitLab) commitJSON(t T, proj *project, sha string) map[string]any {
	t.Helper()
	out, err := g.git(t.Context(), proj.bare, nil, "log", "-1", "--format=%s%x00%B%x00%aI%x00%an%x00%ae", sha, "--")
	f := strings.SplitN(strings.TrimSuffix(out, "\n"), "\x00", 5)
	if err != nil || len(f) != 5 {
		t.Fatalf("fake gitlab: reading commit %s of %s: %v", sha, proj.path, err)
	}
	return map[string]any{
		"id": sha, "message": f[1], "title": f[0], "timestamp": f[2],
		"url":    g.webURL(proj.path) + "/-/commit/" + sha,
		"author": map[string]any{"name": f[3], "email": f[4]},
	}
}

// stateIDs are merge requests' state_id values.
var stateIDs = map[string]int{"opened": 1, "closed": 2, "merged": 3}

// fillMR makes a merge request object (object_attributes of a merge
// request hook, merge_request of a note hook) describe info.
func (g *GitLab) fillMR(o map[string]any, info mrHookInfo) {
	mr, p := info.mr, info.mr.Pull
	o["id"] = mr.id
	o["iid"] = p.Number
	o["target_branch"] = "main"
	o["source_branch"] = p.Branch
	o["source_project_id"] = info.sourceID
	o["target_project_id"] = info.proj.id
	o["author_id"] = userID(p.Author)
	o["title"] = mr.fullTitle()
	o["description"] = ""
	o["created_at"] = hookTime(o["created_at"], mr.created)
	o["updated_at"] = hookTime(o["updated_at"], now())
	o["state"] = info.state
	if _, ok := o["state_id"]; ok {
		o["state_id"] = stateIDs[info.state]
	}
	o["merge_status"] = mr.mergeStatus()
	o["detailed_merge_status"] = mr.detailedStatus()
	o["work_in_progress"] = p.Draft
	o["draft"] = p.Draft
	o["url"] = g.mrURL(info.proj.path, p.Number)
	g.fillProject(object(o, "source"), info.sourcePath, info.sourceID)
	g.fillProject(object(o, "target"), info.proj.path, info.proj.id)
	o["last_commit"] = info.lastCommit
	if m := mr.merged; m != nil && info.state == "merged" {
		o["merge_commit_sha"] = m.sha
		if m.squashSHA != "" {
			o["merge_commit_sha"] = m.squashSHA
		}
	}
}

// fillMRHook makes a merge_request.json document describe h.
func (g *GitLab) fillMRHook(t T, doc map[string]any, proj *project, h glHook) {
	t.Helper()
	info := g.mrInfo(t, proj, h.p, h.action)
	g.fillUser(object(doc, "user"), h.user)
	g.fillProject(object(doc, "project"), proj.path, proj.id)
	g.fillRepository(object(doc, "repository"), proj.path)
	attrs := object(doc, "object_attributes")
	g.fillMR(attrs, info)
	attrs["action"] = h.hook
	delete(attrs, "oldrev")
	mr := info.mr
	if h.action == "update" && mr.prevHead != "" {
		attrs["oldrev"] = mr.prevHead
	}

	change := func(prev, cur any) map[string]any { return map[string]any{"previous": prev, "current": cur} }
	changes := map[string]any{
		"updated_at":    change(cmp.Or(h.before, mr.updated).Format(hookChangeTime), now().Format(hookChangeTime)),
		"updated_by_id": change(nil, userID(h.user)),
	}
	switch h.action {
	case "close":
		changes["state_id"] = change(stateIDs["opened"], stateIDs["closed"])
	case "reopen":
		changes["state_id"] = change(stateIDs["closed"], stateIDs["opened"])
	case "merge":
		changes["state_id"] = change(stateIDs["opened"], stateIDs["merged"])
	case "ready":
		changes["draft"] = change(true, false)
		changes["title"] = change("Draft: "+mr.title, mr.title)
	case "draft":
		changes["draft"] = change(false, true)
		changes["title"] = change(mr.title, "Draft: "+mr.title)
	}
	for k, v := range h.changes {
		changes[k] = v
	}
	doc["changes"] = changes
}

// fillMRNote makes a note_merge_request.json document describe a note by
// h.user on merge request h.p, which it records.
func (g *GitLab) fillMRNote(t T, doc map[string]any, proj *project, h glHook) {
	t.Helper()
	info := g.mrInfo(t, proj, h.p, "")
	n := g.recordUserNote(proj.path, "MergeRequest", h.p.Number, h.user, h.body, h.hook == "update")
	g.fillNote(doc, proj, n, h)
	attrs := object(doc, "object_attributes")
	attrs["noteable_type"] = "MergeRequest"
	attrs["noteable_id"] = info.mr.id
	attrs["url"] = fmt.Sprintf("%s#note_%d", g.mrURL(proj.path, h.p.Number), n.ID)
	g.fillMR(object(doc, "merge_request"), info)
}

// fillIssueNote makes a note_issue.json document describe a note by
// h.user on issue h.p.Number, which it records.
func (g *GitLab) fillIssueNote(doc map[string]any, proj *project, h glHook) {
	n := g.recordUserNote(proj.path, "Issue", h.p.Number, h.user, h.body, false)
	g.fillNote(doc, proj, n, h)
	attrs := object(doc, "object_attributes")
	attrs["noteable_type"] = "Issue"
	attrs["noteable_id"] = issueID(proj.id, h.p.Number)
	attrs["url"] = fmt.Sprintf("%s/-/issues/%d#note_%d", g.webURL(proj.path), h.p.Number, n.ID)
	issue := object(doc, "issue")
	issue["id"] = issueID(proj.id, h.p.Number)
	issue["iid"] = h.p.Number
	issue["project_id"] = proj.id
	issue["author_id"] = userID(h.p.Author)
	issue["state"] = "opened"
}

// fillNote sets what every note hook says about the note n and where it
// is.
func (g *GitLab) fillNote(doc map[string]any, proj *project, n note, h glHook) {
	g.fillUser(object(doc, "user"), h.user)
	doc["project_id"] = proj.id
	g.fillProject(object(doc, "project"), proj.path, proj.id)
	g.fillRepository(object(doc, "repository"), proj.path)
	attrs := object(doc, "object_attributes")
	attrs["id"] = n.ID
	attrs["note"] = n.Body
	if _, ok := attrs["description"]; ok {
		attrs["description"] = n.Body
	}
	attrs["author_id"] = userID(h.user)
	attrs["created_at"] = hookTime(attrs["created_at"], n.created)
	attrs["updated_at"] = hookTime(attrs["updated_at"], n.updated)
	attrs["project_id"] = proj.id
	attrs["action"] = h.hook
}

// fillUser makes a hook's user object describe username.
func (g *GitLab) fillUser(u map[string]any, username string) {
	u["id"] = userID(username)
	u["name"] = username
	u["username"] = username
	if _, ok := u["email"]; ok {
		u["email"] = username + "@example.com"
	}
}

// fillProject makes a hook's project object (project, source, target)
// describe the project at path. Its url is the SSH or the HTTP clone URL,
// as the example's was.
func (g *GitLab) fillProject(o map[string]any, path string, id int64) {
	web := g.webURL(path)
	if _, ok := o["id"]; ok {
		o["id"] = id
	}
	o["name"] = projectName(path)
	o["web_url"] = web
	o["git_ssh_url"] = g.sshURL(path)
	o["git_http_url"] = g.CloneURL(path)
	o["namespace"] = projectName(parentGroup(path))
	if _, ok := o["visibility_level"]; ok {
		o["visibility_level"] = 0 // private
	}
	o["path_with_namespace"] = path
	o["default_branch"] = "main"
	o["homepage"] = web
	o["url"] = g.cloneURLLike(o["url"], path)
	o["ssh_url"] = g.sshURL(path)
	o["http_url"] = g.CloneURL(path)
}

// fillRepository makes a hook's repository object describe path.
func (g *GitLab) fillRepository(o map[string]any, path string) {
	o["name"] = projectName(path)
	o["url"] = g.cloneURLLike(o["url"], path)
	o["homepage"] = g.webURL(path)
}

// cloneURLLike is path's SSH clone URL if example is one, else its HTTP
// clone URL.
func (g *GitLab) cloneURLLike(example any, path string) string {
	if s, _ := example.(string); strings.HasPrefix(s, "git@") {
		return g.sshURL(path)
	}
	return g.CloneURL(path)
}

// hookChangeTime is how a merge request hook's changes write times.
const hookChangeTime = "2006-01-02 15:04:05 UTC"

// hookTime writes t as example, a time from an example payload, is
// written: "2013-12-03T17:23:34Z" or "2015-05-17 18:21:36 UTC".
func hookTime(example any, t time.Time) string {
	if s, _ := example.(string); strings.HasSuffix(s, " UTC") {
		return t.UTC().Format(hookChangeTime)
	}
	return t.UTC().Format(time.RFC3339)
}
