package vcstest

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
)

// acceptMR answers PUT merge_requests/:iid/merge: it refuses as GitLab
// does (401 when the bot may not push to main, 405 unless
// detailed_merge_status is "mergeable", 409 when sha is not the head,
// 422 when git cannot merge), or merges with real git and answers the
// merged merge request. With squash the merge request's commits become
// one commit on main, as GitLab's fast-forward merge method makes it:
// squash_commit_sha is set and merge_commit_sha is null.
func (g *GitLab) acceptMR(w http.ResponseWriter, r *http.Request) {
	p, mr := g.mrFor(w, r)
	if mr == nil {
		return
	}
	var in struct {
		MergeCommitMessage       string  `json:"merge_commit_message"`
		SquashCommitMessage      string  `json:"squash_commit_message"`
		Squash                   bool    `json:"squash"`
		ShouldRemoveSourceBranch *bool   `json:"should_remove_source_branch"`
		SHA                      *string `json:"sha"`
	}
	if !decodeBody(w, r, &in) {
		return
	}

	g.opMu.Lock() // one merge at a time, and none while a helper pushes
	defer g.opMu.Unlock()
	g.mu.Lock()
	st := *mr
	level, _ := g.projectAccessLocked(p.path, g.bot)
	g.mu.Unlock()
	switch {
	case level < accessLevels["developer"]:
		glError(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	case st.detailedStatus() != "mergeable":
		glError(w, http.StatusMethodNotAllowed, "405 Method Not Allowed")
		return
	case in.SHA != nil && *in.SHA != st.HeadSHA:
		glError(w, http.StatusConflict, "SHA does not match HEAD of source branch: "+st.HeadSHA)
		return
	}
	msg := cmp.Or(in.MergeCommitMessage, fmt.Sprintf("Merge branch '%s' into 'main'\n\n%s\n\nSee merge request %s!%d",
		st.Branch, st.fullTitle(), p.path, st.Number))
	if in.Squash {
		msg = cmp.Or(in.SquashCommitMessage, st.fullTitle())
	}
	if err := g.mergeMR(r.Context(), p, st.Number, g.bot, in.Squash, msg, in.ShouldRemoveSourceBranch); err != nil {
		glError(w, http.StatusUnprocessableEntity, "Branch cannot be merged")
		return
	}
	out, err := g.mrJSON(r.Context(), p, st.Number, false)
	if err != nil {
		glError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// mergeMR merges merge request iid of p into main with real git, as by,
// and marks it merged. removeSource, when true, deletes the source branch
// of a merge request that does not come from a fork. The caller holds
// opMu.
func (g *GitLab) mergeMR(ctx context.Context, p *project, iid int, by string, squash bool, msg string, removeSource *bool) error {
	g.mu.Lock()
	mr := g.mrLocked(p.path, iid)
	head, branch, fork := mr.HeadSHA, mr.Branch, mr.Fork
	g.mu.Unlock()
	method := "merge"
	if squash {
		method = "squash"
	}
	_, sha, err := g.mergeInto(ctx, p.work, by, head, method, msg)
	if err != nil {
		return err
	}
	m := &mrMerge{sha: sha, by: by, at: now()}
	if squash {
		m.sha, m.squashSHA = "", sha
	}
	if removeSource != nil && *removeSource && fork == "" {
		if _, err := g.git(context.WithoutCancel(ctx), p.bare, nil, "update-ref", "-d", "refs/heads/"+branch); err != nil {
			return err
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	mr.merged, mr.removeSource = m, removeSource
	mr.Open, mr.updated = false, m.at
	return nil
}

// deleteBranch answers DELETE /projects/:id/repository/branches/:branch
// as GitLab does: 204; 404 for no such branch; 405 for main, the default
// branch; 403 when the bot may not push.
func (g *GitLab) deleteBranch(w http.ResponseWriter, r *http.Request) {
	p := g.projectFor(w, r)
	if p == nil {
		return
	}
	branch := r.PathValue("branch")
	g.opMu.Lock()
	defer g.opMu.Unlock()
	g.mu.Lock()
	level, _ := g.projectAccessLocked(p.path, g.bot)
	g.mu.Unlock()
	if level < accessLevels["developer"] {
		glError(w, http.StatusForbidden, "403 Forbidden")
		return
	}
	if _, err := g.revParse(r.Context(), p.bare, "refs/heads/"+branch); err != nil {
		glError(w, http.StatusNotFound, "404 Branch Not Found")
		return
	}
	if branch == "main" {
		glError(w, http.StatusMethodNotAllowed, "Cannot remove HEAD branch")
		return
	}
	if _, err := g.git(r.Context(), p.bare, nil, "update-ref", "-d", "refs/heads/"+branch); err != nil {
		glError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
