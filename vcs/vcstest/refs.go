package vcstest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// The fakes' answers about a repository's refs: which commit a branch,
// tag or sha names, for work asked for outside a pull request.

// getRepo answers GET /repos/{owner}/{repo}: the repository as the
// webhook payloads show it.
func (g *GitHub) getRepo(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	doc, err := g.fixtureDoc("pull_request.opened.json", rp.fullName)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	repo := object(doc, "repository")
	g.fillRepo(repo, rp.fullName)
	writeJSON(w, http.StatusOK, repo)
}

// getBranch answers GET /repos/{owner}/{repo}/branches/{branch}, 404 for
// a branch the repository lacks.
func (g *GitHub) getBranch(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	branch := r.PathValue("branch")
	sha, err := g.revParse(r.Context(), rp.bare, "refs/heads/"+branch)
	if err != nil {
		apiError(w, http.StatusNotFound, "Branch not found")
		return
	}
	api := g.APIURL() + "repos/" + rp.fullName
	writeJSON(w, http.StatusOK, map[string]any{
		"name":      branch,
		"commit":    map[string]any{"sha": sha, "url": api + "/commits/" + sha},
		"protected": false,
		"_links":    map[string]string{"self": api + "/branches/" + branch, "html": g.url + "/" + rp.fullName + "/tree/" + branch},
	})
}

// getCommit answers GET /repos/{owner}/{repo}/commits/{ref}: with the
// media type application/vnd.github.sha (or .v3.sha), the commit's
// sha as text, else the commit in JSON; 422 for a ref that names none.
func (g *GitHub) getCommit(w http.ResponseWriter, r *http.Request) {
	rp, sha, ok := g.commitFor(w, r)
	if !ok {
		return
	}
	if accept := r.Header.Get("Accept"); strings.Contains(accept, "github.sha") || strings.Contains(accept, "github.v3.sha") {
		w.Header().Set("Content-Type", "application/vnd.github.sha; charset=utf-8")
		w.Write([]byte(sha))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"sha": sha, "url": g.APIURL() + "repos/" + rp.fullName + "/commits/" + sha,
		"html_url": g.url + "/" + rp.fullName + "/commit/" + sha,
	})
}

// getBranch answers GET /projects/{id}/repository/branches/{branch}, 404
// for a branch the project lacks.
func (g *GitLab) getBranch(w http.ResponseWriter, r *http.Request) {
	p := g.projectFor(w, r)
	if p == nil {
		return
	}
	branch := r.PathValue("branch")
	sha, err := g.revParse(r.Context(), p.bare, "refs/heads/"+branch)
	if err != nil {
		glError(w, http.StatusNotFound, "404 Branch Not Found")
		return
	}
	commit, err := g.apiCommit(r.Context(), p, sha)
	if err != nil {
		glError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name": branch, "merged": false, "protected": branch == "main", "default": branch == "main",
		"developers_can_push": false, "developers_can_merge": false, "can_push": true,
		"web_url": g.webURL(p.path) + "/-/tree/" + branch,
		"commit":  commit,
	})
}

// getCommit answers GET /projects/{id}/repository/commits/{sha}, where
// sha may be any ref; 404 for one that names no commit.
func (g *GitLab) getCommit(w http.ResponseWriter, r *http.Request) {
	p := g.projectFor(w, r)
	if p == nil {
		return
	}
	sha, err := g.revParse(r.Context(), p.bare, r.PathValue("sha"))
	if err != nil {
		glError(w, http.StatusNotFound, "404 Commit Not Found")
		return
	}
	commit, err := g.apiCommit(r.Context(), p, sha)
	if err != nil {
		glError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, commit)
}

// apiCommit is commit sha of project p as the commits API shows it,
// read with git.
func (g *GitLab) apiCommit(ctx context.Context, p *project, sha string) (map[string]any, error) {
	out, err := g.git(ctx, p.bare, nil, "log", "-1", "--format=%s%x00%B%x00%aI%x00%an%x00%ae%x00%cI%x00%P", sha, "--")
	f := strings.SplitN(strings.TrimSuffix(out, "\n"), "\x00", 7)
	if err != nil || len(f) != 7 {
		return nil, fmt.Errorf("reading commit %s of %s: %v", sha, p.path, err)
	}
	return map[string]any{
		"id": sha, "short_id": sha[:8], "title": f[0], "message": f[1],
		"author_name": f[3], "author_email": f[4], "authored_date": f[2],
		"committer_name": f[3], "committer_email": f[4], "committed_date": f[5], "created_at": f[5],
		"parent_ids": strings.Fields(f[6]), "web_url": g.webURL(p.path) + "/-/commit/" + sha,
	}, nil
}
