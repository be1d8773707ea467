package vcstest

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"
)

// SetMergeable sets whether GitHub would let pull request number merge:
// the API's mergeable (mergeable_state "clean" or "dirty") and whether
// PUT pulls/N/merge succeeds. Pull requests start mergeable. It panics if
// there is no such pull request.
func (g *GitHub) SetMergeable(repo string, number int, mergeable bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mustPullLocked(repo, number).unmergeable = !mergeable
}

// mergeStates are the mergeable_state values SetMergeState takes, as
// GitHub reports them for a pull request git could merge: "blocked" by
// branch protection (a required status, check run or review missing),
// "behind" its base when protection wants it up to date, "unstable" with
// failing checks that are not required, "has_hooks" with pre-receive
// hooks to pass, and "clean".
var mergeStates = []string{"clean", "blocked", "behind", "unstable", "has_hooks"}

// SetMergeState sets the mergeable_state pulls/N reports while git could
// merge pull request number (mergeable true): one of mergeStates, "" being
// "clean". PUT pulls/N/merge refuses a pull request "blocked" or "behind"
// as GitHub does. SetMergeable(false) ("dirty") wins over it. It panics if
// there is no such pull request or state is unknown.
func (g *GitHub) SetMergeState(repo string, number int, state string) {
	if state != "" && !slices.Contains(mergeStates, state) {
		panic(fmt.Sprintf("fake github: mergeable_state %q is none of %s", state, strings.Join(mergeStates, ", ")))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mustPullLocked(repo, number).mergeState = state
}

// ClosePull closes a pull request without merging it, as its author
// would, and returns it. No webhook is sent.
func (g *GitHub) ClosePull(t T, repo string, number int) Pull {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.statePullLocked(repo, number)
	if p == nil {
		t.Fatalf("fake github: no pull request %s#%d", repo, number)
	}
	p.setOpen(false)
	return p.Pull
}

// Merged reports whether a pull request was merged through the API.
func (g *GitHub) Merged(repo string, number int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.statePullLocked(repo, number)
	return p != nil && p.merge != nil
}

func (g *GitHub) mustPullLocked(repo string, number int) *pull {
	p := g.statePullLocked(repo, number)
	if p == nil {
		panic(fmt.Sprintf("fake github: no pull request %s#%d", repo, number))
	}
	return p
}

// setOpen opens or closes p, noting when it closed; a change touches it.
func (p *pull) setOpen(open bool) {
	switch {
	case open:
		p.closedAt = time.Time{}
	case p.Open || p.closedAt.IsZero():
		p.closedAt = githubNow()
	}
	if p.Open != open {
		p.touch()
	}
	p.Open = open
}

// mergedAt is a pull request's merged_at: a timestamp, or nil (JSON null).
func (g *GitHub) mergedAt(repo string, number int) any {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.statePullLocked(repo, number); p != nil && p.merge != nil {
		return p.merge.at.Format(time.RFC3339)
	}
	return nil
}

// mergePull answers PUT pulls/N/merge: it refuses as GitHub does (405 for
// a closed, draft or unmergeable pull request, 409 when sha is not the
// head), or merges with real git and closes the pull request.
func (g *GitHub) mergePull(w http.ResponseWriter, r *http.Request) {
	rp, p, ok := g.pullFor(w, r)
	if !ok {
		return
	}
	var in struct {
		SHA           string  `json:"sha"`
		MergeMethod   string  `json:"merge_method"`
		CommitTitle   string  `json:"commit_title"`
		CommitMessage *string `json:"commit_message"`
	}
	if r.ContentLength != 0 && !decodeJSON(w, r, &in) {
		return
	}
	method := cmp.Or(in.MergeMethod, "merge")
	if method != "merge" && method != "squash" && method != "rebase" {
		validationFailed(w, gh.Error{Resource: "PullRequest", Code: "invalid", Field: "merge_method"})
		return
	}

	title := cmp.Or(in.CommitTitle, mergeTitle(p))
	if method == "squash" && in.CommitTitle == "" {
		title = fmt.Sprintf("Pull request #%d (#%d)", p.Number, p.Number)
	}
	if in.CommitMessage != nil && *in.CommitMessage != "" {
		title += "\n\n" + *in.CommitMessage
	}
	sha, status, msg := g.merge(r.Context(), rp, p.Number, in.SHA, g.callerOf(r).login, method, title)
	if status != http.StatusOK {
		apiError(w, status, msg)
		return
	}
	writeJSON(w, http.StatusOK, &gh.PullRequestMergeResult{
		SHA: gh.String(sha), Merged: gh.Bool(true), Message: gh.String(msg),
	})
}

// Merge merges pull request number of repo into main with a merge
// commit, as user would with GitHub's merge button, and returns it,
// closed. No webhook is sent.
func (g *GitHub) Merge(t T, repo string, number int, user string) Pull {
	t.Helper()
	rp := g.repo(t, repo)
	p := g.Pull(repo, number)
	if p.Number == 0 {
		t.Fatalf("fake github: no pull request %s#%d", repo, number)
	}
	if _, status, msg := g.merge(t.Context(), rp, number, "", user, "merge", mergeTitle(p)); status != http.StatusOK {
		t.Fatalf("fake github: merging %s#%d: %s", repo, number, msg)
	}
	return g.Pull(repo, number)
}

// mergeTitle is the title GitHub gives a merge commit of p.
func mergeTitle(p Pull) string {
	headOwner, _, _ := strings.Cut(cmp.Or(p.Fork, p.Repo), "/")
	return fmt.Sprintf("Merge pull request #%d from %s/%s", p.Number, headOwner, p.Branch)
}

// merge merges pull request number of rp by method, if GitHub would let
// it (its head still at sha, when sha is set), and returns the commit
// made, or the status and message GitHub refuses with.
func (g *GitHub) merge(ctx context.Context, rp *repo, number int, sha, by, method, title string) (string, int, string) {
	g.opMu.Lock() // one merge at a time, and none while a helper pushes
	defer g.opMu.Unlock()
	g.mu.Lock()
	st := *g.statePullLocked(rp.fullName, number)
	g.mu.Unlock()
	switch {
	case !st.Open || st.unmergeable:
		return "", http.StatusMethodNotAllowed, "Pull Request is not mergeable"
	case st.Draft:
		return "", http.StatusMethodNotAllowed, "Pull Request is still a draft"
	case st.mergeState == "blocked":
		return "", http.StatusMethodNotAllowed, "Repository rule violations found"
	case st.mergeState == "behind":
		return "", http.StatusMethodNotAllowed, "Head branch is out of date. Review and try the merge again."
	case sha != "" && sha != st.HeadSHA:
		return "", http.StatusConflict, "Head branch was modified. Review and try the merge again."
	}
	base, merged, err := g.mergeInto(ctx, rp.work, by, st.HeadSHA, method, title)
	if err != nil {
		return "", http.StatusMethodNotAllowed, "Pull Request is not mergeable"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	sp := g.statePullLocked(rp.fullName, number)
	sp.setOpen(false)
	sp.merge = &merge{sha: merged, base: base, by: by, at: githubNow()}
	sp.updated = sp.merge.at
	return merged, http.StatusOK, "Pull Request successfully merged"
}

// BranchExists reports whether the repository has the branch.
func (g *GitHub) BranchExists(repo, branch string) bool {
	g.mu.Lock()
	rp := g.repos[repo]
	g.mu.Unlock()
	if rp == nil {
		return false
	}
	_, err := g.revParse(context.Background(), rp.bare, "refs/heads/"+branch)
	return err == nil
}

// deleteRef answers DELETE git/refs/REF, as GitHub does: 204, or 422
// when the reference does not exist.
func (g *GitHub) deleteRef(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	ref := "refs/" + r.PathValue("ref")
	g.opMu.Lock()
	defer g.opMu.Unlock()
	if _, err := g.revParse(r.Context(), rp.bare, ref); err != nil || ref == "refs/heads/main" {
		validationFailed(w, gh.Error{Resource: "Reference", Code: "invalid", Message: "Reference does not exist"})
		return
	}
	if _, err := g.git(r.Context(), rp.bare, nil, "update-ref", "-d", ref); err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
