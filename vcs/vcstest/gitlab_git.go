package vcstest

import (
	"net/http"
	"strings"
)

// gitHandler serves each project's bare repository at its clone URL,
// /PATH.git/, with git http-backend (smart HTTP, fetch only), behind
// basic auth whose password must be the token, any user name, as GitLab
// accepts a token for a private project. Other paths are web pages the
// fake does not have.
func (g *GitLab) gitHandler() http.Handler {
	backend := g.backend("/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, _, isGit := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), ".git/")
		if !isGit {
			http.NotFound(w, r)
			return
		}
		if _, pass, ok := r.BasicAuth(); !ok || pass != g.token {
			w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
			http.Error(w, "HTTP Basic: Access denied", http.StatusUnauthorized)
			return
		}
		g.mu.Lock()
		known := g.projects[path] != nil
		if known {
			g.gitRequests++
		}
		g.mu.Unlock()
		if !known {
			http.Error(w, "The project you were looking for could not be found or you don't have permission to view it.", http.StatusNotFound)
			return
		}
		backend.ServeHTTP(w, r)
	})
}
