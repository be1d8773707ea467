package vcstest

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
)

// hook is what one delivery describes.
type hook struct {
	event, action string
	// pull is the pull request, or for a plain issue its Repo, Number,
	// Author (the issue's) and Open.
	pull   Pull
	onPull bool
	// author is the comment's author, or the sender of a pull_request event.
	author string
	body   string
}

// build turns GitHub's documented example for h's event and action into
// a payload about the fake's repository and pull request. Everything a
// webhook consumer reads is overwritten; the rest keeps the example's
// values, with its github.com URLs pointing at the fake. Where the App
// is installed on the repository's owner, the payload names the
// installation, as the App's webhooks do; elsewhere it names none.
func (g *GitHub) build(t T, h hook) []byte {
	t.Helper()
	name := h.event + ".json" // ping has no action
	if h.action != "" {
		name = h.event + "." + h.action + ".json"
	}
	doc := g.fixture(t, name, h.pull.Repo)
	if h.action != "" {
		doc["action"] = h.action
	}
	g.fillRepo(object(doc, "repository"), h.pull.Repo)
	g.setUser(object(doc, "sender"), h.author)
	owner, _, _ := strings.Cut(h.pull.Repo, "/")
	g.setInstallation(doc, owner)

	p := h.pull
	api, html := g.APIURL()+"repos/"+p.Repo, g.url+"/"+p.Repo
	switch h.event {
	case "pull_request":
		doc["number"] = p.Number
		g.fillPull(object(doc, "pull_request"), p, g.mainSHA(t, p.Repo))
	case "issue_comment":
		issue := object(doc, "issue")
		kind := "issues"
		if h.onPull {
			kind = "pull"
			issue["pull_request"] = map[string]any{
				"url":       fmt.Sprintf("%s/pulls/%d", api, p.Number),
				"html_url":  fmt.Sprintf("%s/pull/%d", html, p.Number),
				"diff_url":  fmt.Sprintf("%s/pull/%d.diff", html, p.Number),
				"patch_url": fmt.Sprintf("%s/pull/%d.patch", html, p.Number),
				"merged_at": g.mergedAt(p.Repo, p.Number),
			}
			issue["draft"] = p.Draft
		} else {
			delete(issue, "pull_request")
			delete(issue, "draft")
		}
		issueURL := fmt.Sprintf("%s/issues/%d", api, p.Number)
		issue["url"] = issueURL
		issue["html_url"] = fmt.Sprintf("%s/%s/%d", html, kind, p.Number)
		issue["comments_url"] = issueURL + "/comments"
		issue["number"] = p.Number
		issue["state"] = state(p.Open)
		g.setUser(object(issue, "user"), p.Author)

		c, before := g.userComment(p.Repo, p.Number, h.author, h.body, h.action == "edited")
		comment := object(doc, "comment")
		comment["id"] = c.ID
		comment["node_id"] = commentNodeID(c.ID)
		comment["url"] = fmt.Sprintf("%s/issues/comments/%d", api, c.ID)
		comment["html_url"] = fmt.Sprintf("%s/%s/%d#issuecomment-%d", html, kind, p.Number, c.ID)
		comment["issue_url"] = issueURL
		comment["body"] = h.body
		comment["created_at"] = c.created.Format(time.RFC3339)
		comment["updated_at"] = c.updated.Format(time.RFC3339)
		g.setUser(object(comment, "user"), h.author)
		if h.action == "edited" {
			doc["changes"] = map[string]any{"body": map[string]any{"from": before}}
		}
	}
	return mustJSON(t, doc)
}

// fillPull makes a pull_request object (from an example payload) describe
// p, based on main at baseSHA.
func (g *GitHub) fillPull(pr map[string]any, p Pull, baseSHA string) {
	api, html := g.APIURL()+"repos/"+p.Repo, g.url+"/"+p.Repo
	self := fmt.Sprintf("%s/pulls/%d", api, p.Number)
	issue := fmt.Sprintf("%s/issues/%d", api, p.Number)
	htmlURL := fmt.Sprintf("%s/pull/%d", html, p.Number)
	links := map[string]string{
		"url": self, "html_url": htmlURL, "diff_url": htmlURL + ".diff", "patch_url": htmlURL + ".patch",
		"issue_url": issue, "commits_url": self + "/commits", "review_comments_url": self + "/comments",
		"comments_url": issue + "/comments", "statuses_url": api + "/statuses/" + p.HeadSHA,
	}
	for k, v := range links {
		pr[k] = v
	}
	pr["_links"] = map[string]any{
		"self": href(self), "html": href(htmlURL), "issue": href(issue), "comments": href(issue + "/comments"),
		"review_comments": href(self + "/comments"), "review_comment": href(api + "/pulls/comments{/number}"),
		"commits": href(self + "/commits"), "statuses": href(links["statuses_url"]),
	}
	pr["number"] = p.Number
	pr["state"] = state(p.Open)
	pr["draft"] = p.Draft
	g.fillPullState(pr, p)
	g.setUser(object(pr, "user"), p.Author)

	owner, _, _ := strings.Cut(p.Repo, "/")
	head := object(pr, "head")
	head["label"], head["ref"], head["sha"] = owner+":"+p.Branch, p.Branch, p.HeadSHA
	g.setUser(object(head, "user"), owner)
	g.fillRepo(object(head, "repo"), p.Repo)
	if p.Fork != "" {
		forker, _, _ := strings.Cut(p.Fork, "/")
		head["label"] = forker + ":" + p.Branch
		g.setUser(object(head, "user"), forker)
		fork := object(head, "repo")
		g.fillRepo(fork, p.Fork)
		fork["id"], fork["fork"] = userID(p.Fork), true
	}

	base := object(pr, "base")
	base["label"], base["ref"], base["sha"] = owner+":main", "main", baseSHA
	g.setUser(object(base, "user"), owner)
	g.fillRepo(object(base, "repo"), p.Repo)
}

// fillPullState sets what the fake holds beyond p about the pull request:
// mergeability, and when it was created, updated, closed and merged.
func (g *GitHub) fillPullState(pr map[string]any, p Pull) {
	var st pull
	g.mu.Lock()
	if sp := g.statePullLocked(p.Repo, p.Number); sp != nil {
		st = *sp
	}
	g.mu.Unlock()
	pr["mergeable"], pr["rebaseable"], pr["mergeable_state"] = !st.unmergeable, !st.unmergeable, cmp.Or(st.mergeState, "clean")
	if st.unmergeable {
		pr["mergeable_state"] = "dirty"
	}
	pr["merged"], pr["merged_at"], pr["merge_commit_sha"], pr["merged_by"] = false, nil, nil, nil
	if m := st.merge; m != nil {
		by := map[string]any{}
		g.setUser(by, m.by)
		pr["merged"], pr["merged_at"], pr["merge_commit_sha"], pr["merged_by"] = true, m.at.Format(time.RFC3339), m.sha, by
	}
	pr["closed_at"] = nil
	if !p.Open {
		pr["closed_at"] = cmp.Or(st.closedAt, githubNow()).Format(time.RFC3339)
	}
	if !st.created.IsZero() {
		pr["created_at"], pr["updated_at"] = st.created.Format(time.RFC3339), st.updated.Format(time.RFC3339)
	}
}

// fillRepo makes a repository object describe fullName.
func (g *GitHub) fillRepo(r map[string]any, fullName string) {
	if prev, ok := r["full_name"].(string); ok && prev != fullName {
		rw := strings.NewReplacer( // the example's forks_url and the like
			g.APIURL()+"repos/"+prev, g.APIURL()+"repos/"+fullName, g.url+"/"+prev, g.url+"/"+fullName)
		for k, v := range r {
			if s, ok := v.(string); ok {
				r[k] = rw.Replace(s)
			}
		}
	}
	owner, name, _ := strings.Cut(fullName, "/")
	r["name"] = name
	r["full_name"] = fullName
	r["html_url"] = g.url + "/" + fullName
	r["url"] = g.APIURL() + "repos/" + fullName
	r["clone_url"] = g.CloneURL(fullName)
	host := strings.TrimPrefix(g.url, "http://")
	r["git_url"] = "git://" + host + "/" + fullName + ".git"
	r["ssh_url"] = "git@" + host + ":" + fullName + ".git"
	r["svn_url"] = g.url + "/" + fullName
	r["default_branch"] = "main"
	r["fork"] = false
	g.setUser(object(r, "owner"), owner)
	g.mu.Lock()
	if known := g.repos[fullName]; known != nil {
		r["id"] = known.id
	}
	g.mu.Unlock()
}

// mainSHA is the tip of main, or "" for a repository the fake lacks.
func (g *GitHub) mainSHA(t T, fullName string) string {
	t.Helper()
	g.mu.Lock()
	r := g.repos[fullName]
	g.mu.Unlock()
	if r == nil {
		return ""
	}
	sha, err := g.revParse(t.Context(), r.bare, "refs/heads/main")
	if err != nil {
		t.Fatalf("fake github: %v", err)
	}
	return sha
}

// setUser makes a user object describe login, with a stable id per login.
func (g *GitHub) setUser(u map[string]any, login string) {
	if prev, ok := u["login"].(string); ok && prev != "" {
		for k, v := range u { // the example's followers_url and the like
			if s, ok := v.(string); ok {
				u[k] = strings.ReplaceAll(s, "/users/"+prev, "/users/"+login)
			}
		}
	}
	u["login"] = login
	u["id"] = userID(login)
	u["type"] = userType(login)
	u["url"] = g.APIURL() + "users/" + login
	u["html_url"] = g.userLink(login)
}

// userID is a stable made-up id for login.
func userID(login string) int64 {
	h := fnv.New32a()
	h.Write([]byte(login))
	return int64(h.Sum32())
}

// object returns m[key] as an object, putting an empty one there if it is
// missing or something else.
func object(m map[string]any, key string) map[string]any {
	o, ok := m[key].(map[string]any)
	if !ok {
		o = map[string]any{}
		m[key] = o
	}
	return o
}

func href(u string) map[string]any { return map[string]any{"href": u} }

func state(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}
