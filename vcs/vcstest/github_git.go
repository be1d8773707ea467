package vcstest

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v60/github"
)

// gitHandler serves the bare repositories under /git/ with git
// http-backend (smart HTTP, fetch only), behind basic auth whose password
// must be the token or a live installation token of the repository's
// owner, as GitHub accepts x-access-token:TOKEN: an expired one is
// refused 401, another account's 403.
func (g *GitHub) gitHandler() http.Handler {
	backend := g.backend("/git")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		owner, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/git/"), "/")
		name, _, _ := strings.Cut(rest, ".git/")
		_, pass, ok := r.BasicAuth()
		var tok *instToken
		if ok && pass != g.token {
			var err error
			tok, err = g.installationToken(pass)
			ok = err == nil
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		if tok != nil && !tok.covers(owner, name) {
			http.Error(w, fmt.Sprintf("Permission to %s/%s.git denied to %s.", owner, name, tok.bot), http.StatusForbidden)
			return
		}
		// Only the repositories CreateRepo made, as GitHub answers.
		g.mu.Lock()
		known := g.repos[owner+"/"+name] != nil
		if known {
			g.gitRequests++
		}
		fail := known && g.gitFailures != 0
		if fail && g.gitFailures > 0 {
			g.gitFailures--
		}
		g.mu.Unlock()
		switch {
		case !known:
			http.Error(w, "Repository not found.", http.StatusNotFound)
			return
		case fail:
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		backend.ServeHTTP(w, r)
	})
}

// changedFiles lists the files head changes against its merge base with
// base (usually main), as GitHub's pulls/N/files does: renames detected,
// counts from numstat (0 for binary files).
func (g *GitHub) changedFiles(ctx context.Context, bare, base, head string) ([]*gh.CommitFile, error) {
	base, err := g.git(ctx, bare, nil, "merge-base", base, head)
	if err != nil {
		return nil, err
	}
	base = strings.TrimSpace(base)
	changes, err := g.rawChanges(ctx, bare, base, head)
	if err != nil {
		return nil, err
	}
	numstat, err := g.git(ctx, bare, nil, "diff", "--numstat", "-z", "-M", base, head)
	if err != nil {
		return nil, err
	}
	counts := parseNumstat(numstat)
	if len(counts) != len(changes) {
		return nil, fmt.Errorf("git diff: %d files in --raw, %d in --numstat", len(changes), len(counts))
	}
	files := make([]*gh.CommitFile, len(changes))
	for i, c := range changes {
		f := commitFile(c)
		f.Additions, f.Deletions = gh.Int(counts[i][0]), gh.Int(counts[i][1])
		f.Changes = gh.Int(counts[i][0] + counts[i][1])
		files[i] = f
	}
	return files, nil
}

// commitFile is a changed file as GitHub lists it: a removed file keeps
// the sha it had.
func commitFile(c rawChange) *gh.CommitFile {
	f := &gh.CommitFile{SHA: gh.String(c.newSHA), Filename: gh.String(c.path)}
	switch c.status {
	case 'A':
		f.Status = gh.String("added")
	case 'D':
		f.Status, f.SHA = gh.String("removed"), gh.String(c.oldSHA)
	case 'M':
		f.Status = gh.String("modified")
	case 'T':
		f.Status = gh.String("changed")
	case 'R':
		f.Status, f.PreviousFilename = gh.String("renamed"), gh.String(c.oldPath)
	case 'C':
		f.Status, f.PreviousFilename = gh.String("copied"), gh.String(c.oldPath)
	}
	return f
}
