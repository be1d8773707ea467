package vcstest

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	gh "github.com/google/go-github/v60/github"
)

// maxDescriptionLen is the longest commit status description GitHub
// accepts, in characters.
const maxDescriptionLen = 140

// createStatus sets a commit status, validated as GitHub does: a known
// state, a short description, and a commit the repository has.
func (g *GitHub) createStatus(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	var in struct {
		State       string `json:"state"`
		Context     string `json:"context"`
		Description string `json:"description"`
		TargetURL   string `json:"target_url"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	switch in.State {
	case "pending", "success", "failure", "error":
	default:
		validationFailed(w, gh.Error{Resource: "Status", Code: "custom", Field: "state",
			Message: "state is not included in the list"})
		return
	}
	if utf8.RuneCountInString(in.Description) > maxDescriptionLen {
		validationFailed(w, gh.Error{Resource: "Status", Code: "custom", Field: "description",
			Message: fmt.Sprintf("description is too long (maximum is %d characters)", maxDescriptionLen)})
		return
	}
	sha, err := g.revParse(r.Context(), rp.bare, r.PathValue("sha"))
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, apiErrorBody{
			Message: "No commit found for SHA: " + r.PathValue("sha"), DocumentationURL: docsURL})
		return
	}

	s := Status{SHA: sha, Context: cmp.Or(in.Context, "default"), State: in.State,
		Description: in.Description, TargetURL: in.TargetURL}
	g.mu.Lock()
	g.lastID++
	id := g.lastID
	key := statusKey{rp.fullName, sha}
	g.statuses[key] = append(g.statuses[key], s)
	g.mu.Unlock()

	now, login := &gh.Timestamp{Time: githubNow()}, g.callerOf(r).login
	out := &gh.RepoStatus{
		ID:          gh.Int64(id),
		URL:         gh.String(fmt.Sprintf("%srepos/%s/statuses/%s", g.APIURL(), rp.fullName, sha)),
		State:       gh.String(s.State),
		Context:     gh.String(s.Context),
		Description: gh.String(s.Description),
		Creator:     &gh.User{Login: gh.String(login), ID: gh.Int64(userID(login)), Type: gh.String(userType(login))},
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if s.TargetURL != "" {
		out.TargetURL = gh.String(s.TargetURL)
	}
	writeJSON(w, http.StatusCreated, out)
}

// Statuses returns the latest status of every context set on sha, sorted
// by context.
func (g *GitHub) Statuses(repo, sha string) []Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	latest := map[string]Status{}
	for _, s := range g.statuses[statusKey{repo, sha}] {
		latest[s.Context] = s
	}
	out := make([]Status, 0, len(latest))
	for _, s := range latest {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Context, b.Context) })
	return out
}

// StatusHistory returns every state set for context on sha, oldest first.
func (g *GitHub) StatusHistory(repo, sha, context string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, s := range g.statuses[statusKey{repo, sha}] {
		if s.Context == context {
			out = append(out, s.State)
		}
	}
	return out
}

// combinedStatus answers GET commits/REF/status as GitHub does: the latest
// status of each context on the commit REF names, a page at a time (with
// the Link header), and the state they combine to: failure if any failed
// or errored, pending if any is pending or there are none, else success.
// REF is a SHA or a branch or tag without a slash.
func (g *GitHub) combinedStatus(w http.ResponseWriter, r *http.Request) {
	rp, sha, ok := g.commitFor(w, r)
	if !ok {
		return
	}
	all := g.Statuses(rp.fullName, sha)
	state := "success"
	if len(all) == 0 {
		state = "pending"
	}
	for _, s := range all {
		switch {
		case s.State == "failure" || s.State == "error":
			state = "failure"
		case s.State == "pending" && state != "failure":
			state = "pending"
		}
	}
	lo, hi := g.paginate(w, r, len(all))
	statuses := []*gh.RepoStatus{}
	for _, s := range all[lo:hi] {
		st := &gh.RepoStatus{
			URL:         gh.String(fmt.Sprintf("%srepos/%s/statuses/%s", g.APIURL(), rp.fullName, sha)),
			State:       gh.String(s.State),
			Context:     gh.String(s.Context),
			Description: gh.String(s.Description),
		}
		if s.TargetURL != "" {
			st.TargetURL = gh.String(s.TargetURL)
		}
		statuses = append(statuses, st)
	}
	repoDoc := map[string]any{}
	g.fillRepo(repoDoc, rp.fullName)
	api := fmt.Sprintf("%srepos/%s/commits/%s", g.APIURL(), rp.fullName, sha)
	writeJSON(w, http.StatusOK, map[string]any{
		"state":       state,
		"statuses":    statuses,
		"sha":         sha,
		"total_count": len(all),
		"repository":  repoDoc,
		"commit_url":  api,
		"url":         api + "/status",
	})
}

// commitFor resolves the commit a request's {ref} names in its repository,
// answering 404 for an unknown repository and 422, as GitHub does, for a
// ref it lacks.
func (g *GitHub) commitFor(w http.ResponseWriter, r *http.Request) (*repo, string, bool) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return nil, "", false
	}
	ref := r.PathValue("ref")
	sha, err := g.revParse(r.Context(), rp.bare, ref)
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, apiErrorBody{
			Message: "No commit found for SHA: " + ref, DocumentationURL: docsURL})
		return nil, "", false
	}
	return rp, sha, true
}

// StatusMark is how a status's state shows at a glance: ✓ for success,
// ✗ for failure or error, … while pending.
func StatusMark(state string) string {
	switch state {
	case "success":
		return "✓"
	case "failure", "error":
		return "✗"
	}
	return "…"
}
