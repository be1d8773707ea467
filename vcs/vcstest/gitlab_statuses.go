package vcstest

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// glStatus is one state a commit status had, as the fake GitLab holds it.
// Consecutive states of one status (pending, then running, then success)
// share its id.
type glStatus struct {
	Status
	id       int64
	ref      string
	pipeline int64
	created  time.Time
	started  time.Time
	finished time.Time
}

// statusEvents are the state machine events GitLab fires for each state a
// status is set to.
var statusEvents = map[string]string{
	"pending": "enqueue", "running": "run", "success": "success",
	"failed": "drop", "canceled": "cancel", "skipped": "skip",
}

// transitionError is GitLab's refusal to move a status from state from to
// state to, or "" if it may. A status that is pending or running is
// updated; any other is replaced by a new one, which starts as created.
func transitionError(from, to string) string {
	refuse := func(event string) string {
		return fmt.Sprintf(`Cannot transition status via :%s from :%s (Reason(s): Status cannot transition via "%s")`, event, from, event)
	}
	switch {
	case to == "pending" && from != "created":
		return refuse("enqueue")
	case to == "running" && from == "running":
		return refuse("run")
	case to == "skipped" && from == "running":
		return refuse("skip")
	}
	return ""
}

// createStatus answers POST /projects/:id/statuses/:sha as GitLab does,
// state machine and all: setting a pending status pending again, or a
// running one running, is refused with 400.
func (g *GitLab) createStatus(w http.ResponseWriter, r *http.Request) {
	p := g.projectFor(w, r)
	if p == nil {
		return
	}
	var in struct {
		State       *string `json:"state"`
		Ref         string  `json:"ref"`
		Name        string  `json:"name"`
		Context     string  `json:"context"`
		TargetURL   string  `json:"target_url"`
		Description string  `json:"description"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	if in.State == nil {
		paramError(w, "state is missing")
		return
	}
	if _, ok := statusEvents[*in.State]; !ok {
		paramError(w, "state does not have a valid value")
		return
	}
	sha, err := g.revParse(r.Context(), p.bare, r.PathValue("sha"))
	if err != nil {
		glError(w, http.StatusNotFound, "404 Commit Not Found")
		return
	}
	name := cmp.Or(in.Name, in.Context, "default")
	s, msg := g.recordStatus(p, glStatus{Status: Status{SHA: sha, Context: name, State: *in.State, Description: in.Description, TargetURL: in.TargetURL},
		ref: in.Ref})
	if msg != "" {
		glError(w, http.StatusBadRequest, msg)
		return
	}
	var ref, target any
	if s.ref != "" {
		ref = s.ref
	}
	if s.TargetURL != "" {
		target = s.TargetURL
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": s.id, "sha": sha, "ref": ref, "status": s.State, "name": name,
		"target_url": target, "description": s.Description,
		"created_at": apiTime(s.created), "started_at": apiTime(s.started), "finished_at": apiTime(s.finished),
		"allow_failure": false, "coverage": nil, "pipeline_id": s.pipeline, "author": g.userBasic(g.bot),
	})
}

// listStatuses answers GET /projects/:id/repository/commits/:sha/statuses
// as GitLab does without all=true: the latest state of each status, a
// page at a time.
func (g *GitLab) listStatuses(w http.ResponseWriter, r *http.Request) {
	p := g.projectFor(w, r)
	if p == nil {
		return
	}
	sha, err := g.revParse(r.Context(), p.bare, r.PathValue("sha"))
	if err != nil {
		glError(w, http.StatusNotFound, "404 Commit Not Found")
		return
	}
	g.mu.Lock()
	latest := map[string]glStatus{}
	var names []string
	for _, s := range g.statuses[statusKey{p.path, sha}] {
		if _, seen := latest[s.Context]; !seen {
			names = append(names, s.Context)
		}
		latest[s.Context] = s
	}
	g.mu.Unlock()
	out := make([]any, 0, len(names))
	for _, name := range names {
		s := latest[name]
		out = append(out, map[string]any{
			"id": s.id, "sha": sha, "ref": s.ref, "status": s.State, "name": name,
			"target_url": s.TargetURL, "description": s.Description,
			"created_at": apiTime(s.created), "started_at": apiTime(s.started), "finished_at": apiTime(s.finished),
			"allow_failure": false, "coverage": nil, "author": g.userBasic(g.bot),
		})
	}
	lo, hi := g.paginate(w, r, len(out))
	writeJSON(w, http.StatusOK, out[lo:hi])
}

// SetStatus sets commit status name of sha in project repo to state, as a
// CI job of the project's would, following GitLab's state machine.
func (g *GitLab) SetStatus(t T, repo, sha, name, state string) {
	t.Helper()
	p := g.project(t, repo)
	if _, msg := g.recordStatus(p, glStatus{Status: Status{SHA: sha, Context: name, State: state}}); msg != "" {
		t.Fatalf("fake gitlab: status %s of %s@%s: %s", name, repo, sha, msg)
	}
}

// recordStatus records s, a status posted on project p, as GitLab's state
// machine lets it: a status still pending or running moves on in place, a
// finished one is followed by a new one. It returns the status recorded,
// or why GitLab would refuse it.
func (g *GitLab) recordStatus(p *project, s glStatus) (glStatus, string) {
	at := now()
	g.mu.Lock()
	defer g.mu.Unlock()
	key := statusKey{p.path, s.SHA}
	history := g.statuses[key]
	s.ref, s.created = cmp.Or(s.ref, g.refOfLocked(p, s.SHA)), at
	from := "created"
	for i := len(history) - 1; i >= 0; i-- {
		if last := history[i]; last.Context == s.Context {
			if last.State == "pending" || last.State == "running" {
				from = last.State
				s.id, s.created, s.started = last.id, last.created, last.started
			}
			break
		}
	}
	if msg := transitionError(from, s.State); msg != "" {
		return s, msg
	}
	if s.id == 0 {
		g.lastID++
		s.id = g.lastID
	}
	switch s.State {
	case "running":
		s.started = at
	case "success", "failed", "canceled":
		s.finished = at
	}
	if _, ok := g.pipelines[key]; !ok {
		g.lastID++
		g.pipelines[key] = g.lastID
	}
	s.pipeline = g.pipelines[key]
	g.statuses[key] = append(history, s)
	return s, ""
}

// refOfLocked is the branch GitLab would say a status is for when the
// request names none: the source branch of a merge request whose head sha
// is, or "".
func (g *GitLab) refOfLocked(p *project, sha string) string {
	for _, mr := range p.mrs {
		if mr.HeadSHA == sha && mr.Fork == "" {
			return mr.Branch
		}
	}
	return ""
}

// Statuses returns the latest state of every commit status (by name, in
// Status.Context) set on sha, sorted by name.
func (g *GitLab) Statuses(repo, sha string) []Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	latest := map[string]Status{}
	for _, s := range g.statuses[statusKey{repo, sha}] {
		latest[s.Context] = s.Status
	}
	out := make([]Status, 0, len(latest))
	for _, s := range latest {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Context, b.Context) })
	return out
}

// StatusHistory returns every state the commit status called name went
// through on sha, oldest first; refused transitions are not in it.
func (g *GitLab) StatusHistory(repo, sha, name string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, s := range g.statuses[statusKey{repo, sha}] {
		if s.Context == name {
			out = append(out, s.State)
		}
	}
	return out
}
