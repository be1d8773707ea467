package vcstest

import (
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v60/github"
)

// compare answers compare/BASE...HEAD, where each side is a ref or a sha
// of the repository, with real git: how far head is ahead of and behind
// base, their merge base, the commits base lacks and the files they
// change.
func (g *GitHub) compare(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	baseRev, headRev, ok := strings.Cut(r.PathValue("basehead"), "...")
	if !ok || baseRev == "" || headRev == "" {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	ctx := r.Context()
	base, err1 := g.revParse(ctx, rp.bare, baseRev)
	head, err2 := g.revParse(ctx, rp.bare, headRev)
	if err1 != nil || err2 != nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	mergeBase, err := g.git(ctx, rp.bare, nil, "merge-base", base, head)
	if err != nil {
		apiError(w, http.StatusNotFound, "No common ancestor between "+baseRev+" and "+headRev+".")
		return
	}
	mergeBase = strings.TrimSpace(mergeBase)
	ahead, err1 := g.countCommits(ctx, rp.bare, base, head)
	behind, err2 := g.countCommits(ctx, rp.bare, head, base)
	commits, err3 := g.git(ctx, rp.bare, nil, "log", "--reverse", "--format=%H %s", base+".."+head)
	files, err4 := g.changedFiles(ctx, rp.bare, base, head)
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}

	status := "diverged"
	switch {
	case ahead == 0 && behind == 0:
		status = "identical"
	case behind == 0:
		status = "ahead"
	case ahead == 0:
		status = "behind"
	}
	api, html := g.APIURL()+"repos/"+rp.fullName, g.url+"/"+rp.fullName
	spec := baseRev + "..." + headRev
	out := &gh.CommitsComparison{
		BaseCommit:      g.commitRef(api, base),
		MergeBaseCommit: g.commitRef(api, mergeBase),
		Status:          gh.String(status),
		AheadBy:         gh.Int(ahead),
		BehindBy:        gh.Int(behind),
		TotalCommits:    gh.Int(ahead),
		Commits:         []*gh.RepositoryCommit{},
		Files:           append([]*gh.CommitFile{}, files...),
		URL:             gh.String(api + "/compare/" + spec),
		HTMLURL:         gh.String(html + "/compare/" + spec),
		PermalinkURL:    gh.String(fmt.Sprintf("%s/compare/%s...%s", html, base, head)),
		DiffURL:         gh.String(html + "/compare/" + spec + ".diff"),
		PatchURL:        gh.String(html + "/compare/" + spec + ".patch"),
	}
	for _, line := range strings.Split(strings.TrimSpace(commits), "\n") {
		if sha, subject, _ := strings.Cut(line, " "); sha != "" {
			c := g.commitRef(api, sha)
			c.Commit = &gh.Commit{SHA: gh.String(sha), Message: gh.String(subject)}
			out.Commits = append(out.Commits, c)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// commitRef is the short form of a commit in compare's answer.
func (g *GitHub) commitRef(api, sha string) *gh.RepositoryCommit {
	return &gh.RepositoryCommit{SHA: gh.String(sha), URL: gh.String(api + "/commits/" + sha)}
}
