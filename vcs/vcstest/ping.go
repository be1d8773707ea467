package vcstest

import (
	"net/http"
	"time"
)

// rateLimit answers GET /rate_limit as GitHub does: the token's limits
// by resource, with the deprecated "rate" repeating "core". GitHub does
// not count the request against any limit and answers it when a limit is
// spent; so the fake checks the token but does not meter the request.
func (g *GitHub) rateLimit(w http.ResponseWriter, r *http.Request) {
	if !g.tokenOK(w, r) {
		return
	}
	resources := map[string]any{}
	for _, name := range []string{"core", "graphql"} {
		q := g.meter.peek(name)
		resources[name] = map[string]any{
			"limit": q.limit, "used": min(q.used, q.limit), "remaining": q.remaining(),
			"reset": q.reset.Unix(), "resource": name,
		}
	}
	gitHubRateHeaders(w.Header(), "core", g.meter.peek("core"))
	writeJSON(w, http.StatusOK, map[string]any{"resources": resources, "rate": resources["core"]})
}

// peek is resource's window now, without counting a request against it.
func (m *meter) peek(resource string) quota {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.quotaLocked(resource, time.Now())
}
