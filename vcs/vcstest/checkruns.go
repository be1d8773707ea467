package vcstest

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CheckRun is a check run on a commit, as a test reads it: one the App
// created through the API, or one AddCheckRun reported.
type CheckRun struct {
	ID         int64
	Name       string
	Status     string
	Conclusion string // "" until completed
	// Title, Summary and Text are the run's output; "" when not given.
	Title, Summary, Text string
	// App is the slug of the App that created the run; "" for one
	// AddCheckRun reported.
	App string
	// Updates counts the times the run was PATCHed.
	Updates int
}

// CheckRuns returns the latest check run of each name on commit sha of
// repo, sorted by name.
func (g *GitHub) CheckRuns(repo, sha string) []CheckRun {
	g.mu.Lock()
	runs := slices.Clone(g.checkRuns[statusKey{repo, sha}])
	g.mu.Unlock()
	latest := map[string]checkRun{}
	for _, c := range runs { // in creation order: the last of a name wins
		latest[c.name] = c
	}
	var out []CheckRun
	for _, c := range latest {
		out = append(out, CheckRun{
			ID: c.id, Name: c.name, Status: c.status, Conclusion: c.conclusion,
			Title: deref(c.title), Summary: deref(c.summary), Text: deref(c.text),
			App: c.app, Updates: c.updates,
		})
	}
	slices.SortFunc(out, func(a, b CheckRun) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// maxOutputLen is the most characters GitHub takes in a check run's
// output.summary and output.text.
const maxOutputLen = 65535

// The values an App may give a check run's status and conclusion: the
// others are GitHub's own.
var (
	appCheckStatuses    = []string{"queued", "in_progress", "completed"}
	appCheckConclusions = []string{"action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out"}
)

// fullSHA is what a check run's head_sha must look like.
var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// checkRunInput is the body of POST and PATCH check-runs; nil is absent.
type checkRunInput struct {
	Name        *string    `json:"name"`
	HeadSHA     *string    `json:"head_sha"`
	Status      *string    `json:"status"`
	Conclusion  *string    `json:"conclusion"`
	StartedAt   *time.Time `json:"started_at"`
	CompletedAt *time.Time `json:"completed_at"`
	DetailsURL  *string    `json:"details_url"`
	ExternalID  *string    `json:"external_id"`
	Output      *struct {
		Title   *string `json:"title"`
		Summary *string `json:"summary"`
		Text    *string `json:"text"`
	} `json:"output"`
}

// invalid is why GitHub refuses in, in its words after "Invalid
// request.", or "" if it takes it. A new run needs a name and a
// head_sha, and its output a title; any output needs a summary.
func (in *checkRunInput) invalid(creating bool) string {
	missing := func(field string) string { return fmt.Sprintf("%q wasn't supplied.", field) }
	switch {
	case creating && (in.Name == nil || *in.Name == ""):
		return missing("name")
	case creating && in.HeadSHA == nil:
		return missing("head_sha")
	case in.Status != nil && !slices.Contains(appCheckStatuses, *in.Status):
		return notOneOf("status", *in.Status, appCheckStatuses)
	case in.Conclusion != nil && !slices.Contains(appCheckConclusions, *in.Conclusion):
		return notOneOf("conclusion", *in.Conclusion, appCheckConclusions)
	case in.Output == nil:
		return ""
	case creating && in.Output.Title == nil:
		return missing("title")
	case in.Output.Summary == nil:
		return missing("summary")
	}
	for _, s := range []*string{in.Output.Summary, in.Output.Text} {
		if n := utf8.RuneCountInString(deref(s)); n > maxOutputLen {
			return fmt.Sprintf("Only %d characters are allowed; %d were supplied.", maxOutputLen, n)
		}
	}
	return ""
}

// notOneOf is GitHub's words for a value outside a field's enum.
func notOneOf(field, value string, allowed []string) string {
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	return fmt.Sprintf("For 'properties/%s', %q is not one of [%s].", field, value, strings.Join(quoted, ", "))
}

// apply sets what in gives on c, as of now. A conclusion completes the
// run, as on GitHub; a completed run without one is refused ("" when
// applied).
func (in *checkRunInput) apply(c *checkRun, now time.Time) string {
	if in.Name != nil && *in.Name != "" { // go-github always sends a name
		c.name = *in.Name
	}
	if in.Status != nil {
		c.status = *in.Status
		if c.status != "completed" {
			c.conclusion, c.completed = "", time.Time{}
		}
	}
	if in.Conclusion != nil {
		c.status, c.conclusion = "completed", *in.Conclusion
	}
	if c.status == "completed" && c.conclusion == "" {
		return fmt.Sprintf("%q wasn't supplied.", "conclusion")
	}
	if in.StartedAt != nil {
		c.started = in.StartedAt.UTC().Truncate(time.Second)
	}
	if c.status == "completed" && (c.completed.IsZero() || in.CompletedAt != nil) {
		c.completed = now
		if in.CompletedAt != nil {
			c.completed = in.CompletedAt.UTC().Truncate(time.Second)
		}
	}
	if in.DetailsURL != nil {
		c.detailsURL = *in.DetailsURL
	}
	if in.ExternalID != nil {
		c.externalID = *in.ExternalID
	}
	if o := in.Output; o != nil {
		c.summary = o.Summary
		if o.Title != nil {
			c.title = o.Title
		}
		if o.Text != nil {
			c.text = o.Text
		}
	}
	return ""
}

// refuseCheckRun answers 422 with GitHub's words for an invalid check
// run.
func refuseCheckRun(w http.ResponseWriter, why string) {
	writeJSON(w, http.StatusUnprocessableEntity, apiErrorBody{Message: "Invalid request.\n\n" + why, DocumentationURL: docsURL})
}

// appOnly reports whether r carries an installation token, which alone
// may write check runs; if not, it answers 403 as GitHub does.
func (g *GitHub) appOnly(w http.ResponseWriter, r *http.Request) bool {
	if g.callerOf(r).token == nil {
		apiError(w, http.StatusForbidden, "You must authenticate via a GitHub App.")
		return false
	}
	return true
}

// createCheckRun answers POST repos/OWNER/REPO/check-runs: a check run
// by the App on a commit of the repository, 201; 403 for anyone but the
// App, 422 for a run GitHub would refuse or a commit the repository
// lacks.
func (g *GitHub) createCheckRun(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil || !g.appOnly(w, r) {
		return
	}
	var in checkRunInput
	if !decodeJSON(w, r, &in) {
		return
	}
	if why := in.invalid(true); why != "" {
		refuseCheckRun(w, why)
		return
	}
	sha := *in.HeadSHA
	if !fullSHA.MatchString(sha) {
		sha = "" // GitHub wants the commit's full SHA
	} else if got, err := g.revParse(r.Context(), rp.bare, sha); err != nil || got != sha {
		sha = ""
	}
	if sha == "" {
		writeJSON(w, http.StatusUnprocessableEntity, apiErrorBody{
			Message: "No commit found for SHA: " + *in.HeadSHA, DocumentationURL: docsURL})
		return
	}
	now := githubNow()
	c := checkRun{sha: sha, status: "queued", started: now}
	if why := in.apply(&c, now); why != "" {
		refuseCheckRun(w, why)
		return
	}
	g.mu.Lock()
	g.lastID++
	c.id = g.lastID
	c.app, c.appID = g.app.Slug, g.app.ID // an installation token: the App is on
	key := statusKey{rp.fullName, sha}
	g.checkRuns[key] = append(g.checkRuns[key], c)
	g.mu.Unlock()
	writeJSON(w, http.StatusCreated, g.checkRunJSON(rp.fullName, c))
}

// updateCheckRun answers PATCH repos/OWNER/REPO/check-runs/ID: the run
// with what the body gives changed; 404 for a run the repository lacks,
// 403 for one another App reported (AddCheckRun's), and 403 and 422 as
// createCheckRun.
func (g *GitHub) updateCheckRun(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil || !g.appOnly(w, r) {
		return
	}
	var in checkRunInput
	if !decodeJSON(w, r, &in) {
		return
	}
	in.HeadSHA = nil // not a field of an update
	if why := in.invalid(false); why != "" {
		refuseCheckRun(w, why)
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	g.mu.Lock()
	c := g.checkRunLocked(rp.fullName, id)
	if c == nil {
		g.mu.Unlock()
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	if c.app != g.app.Slug {
		g.mu.Unlock()
		writeJSON(w, http.StatusForbidden, apiErrorBody{DocumentationURL: docsURL, Message: fmt.Sprintf(
			"Invalid app_id `%d` - check run can only be modified by the GitHub App that created it.", g.app.ID)})
		return
	}
	changed := *c
	why := in.apply(&changed, githubNow())
	if why == "" {
		changed.updates++
		*c = changed
	}
	g.mu.Unlock()
	if why != "" {
		refuseCheckRun(w, why)
		return
	}
	writeJSON(w, http.StatusOK, g.checkRunJSON(rp.fullName, changed))
}

// checkRunLocked is check run id of repository fullName, or nil.
func (g *GitHub) checkRunLocked(fullName string, id int64) *checkRun {
	for key, runs := range g.checkRuns {
		if key.repo != fullName {
			continue
		}
		for i := range runs {
			if runs[i].id == id {
				return &runs[i]
			}
		}
	}
	return nil
}
