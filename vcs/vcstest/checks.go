package vcstest

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"
)

// checkRun is a check run as the fake holds it: one a CI app (GitHub
// Actions, say) reported on a commit, or one the fake's App created
// through the API (checkruns.go).
type checkRun struct {
	id         int64
	sha        string
	name       string
	status     string
	conclusion string // "" until completed
	started    time.Time
	completed  time.Time // zero until completed

	// app is the slug of the App that created the run through the API;
	// "" for one AddCheckRun reported, as GitHub Actions.
	app                    string
	appID                  int64
	detailsURL, externalID string // "" for GitHub's default
	// title, summary and text are the run's output; nil is null.
	title, summary, text *string
	updates              int // PATCHes
}

// checkStatuses and checkConclusions are the values a check run's status
// and conclusion take.
var (
	checkStatuses    = []string{"queued", "in_progress", "completed", "waiting", "requested", "pending"}
	checkConclusions = []string{"action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out"}
)

// AddCheckRun reports a check run named name on commit sha of repo, as a
// CI app would: status is "queued", "in_progress" or "completed" (or
// "waiting", "requested", "pending"); conclusion is set exactly when it is
// completed ("success", "failure", "neutral", "skipped", "cancelled",
// "timed_out", "action_required" or "stale"). A run of a name the commit
// has already is a rerun: commits/REF/check-runs lists the latest one
// only, as GitHub's default filter does.
func (g *GitHub) AddCheckRun(t T, repo, sha, name, status, conclusion string) {
	t.Helper()
	switch {
	case !slices.Contains(checkStatuses, status):
		t.Fatalf("fake github: check run status %q is none of %s", status, strings.Join(checkStatuses, ", "))
	case (status == "completed") != (conclusion != ""):
		t.Fatalf("fake github: check run status %q with conclusion %q: a conclusion comes with completed only", status, conclusion)
	case conclusion != "" && !slices.Contains(checkConclusions, conclusion):
		t.Fatalf("fake github: check run conclusion %q is none of %s", conclusion, strings.Join(checkConclusions, ", "))
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.repos[repo] == nil {
		t.Fatalf("fake github: no repository %s", repo)
	}
	g.lastID++
	run := checkRun{id: g.lastID, sha: sha, name: name, status: status, conclusion: conclusion, started: githubNow()}
	if status == "completed" {
		run.completed = run.started
	}
	key := statusKey{repo, sha}
	g.checkRuns[key] = append(g.checkRuns[key], run)
}

// listCheckRuns answers GET commits/REF/check-runs: the check runs of the
// commit REF names, newest first, a page at a time, with total_count the
// number across pages. As on GitHub, filter "latest" (the default) keeps
// the latest run of each name, "all" every run; check_name and status
// narrow the list.
func (g *GitHub) listCheckRuns(w http.ResponseWriter, r *http.Request) {
	rp, sha, ok := g.commitFor(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	filter := q.Get("filter")
	if filter != "" && filter != "latest" && filter != "all" {
		validationFailed(w, gh.Error{Resource: "CheckRun", Code: "invalid", Field: "filter"})
		return
	}
	g.mu.Lock()
	runs := slices.Clone(g.checkRuns[statusKey{rp.fullName, sha}])
	g.mu.Unlock()
	slices.Reverse(runs) // newest first
	seen := map[string]bool{}
	runs = slices.DeleteFunc(runs, func(c checkRun) bool {
		latest := !seen[c.name]
		seen[c.name] = true
		return filter != "all" && !latest ||
			q.Has("check_name") && c.name != q.Get("check_name") ||
			q.Has("status") && c.status != q.Get("status")
	})

	lo, hi := g.paginate(w, r, len(runs))
	out := []map[string]any{}
	for _, c := range runs[lo:hi] {
		out = append(out, g.checkRunJSON(rp.fullName, c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(runs), "check_runs": out})
}

// checkRunJSON is c as GitHub's check-run object, reported by GitHub
// Actions or by the fake's App.
func (g *GitHub) checkRunJSON(fullName string, c checkRun) map[string]any {
	api := fmt.Sprintf("%srepos/%s/check-runs/%d", g.APIURL(), fullName, c.id)
	var conclusion, completed any
	if c.conclusion != "" {
		conclusion, completed = c.conclusion, c.completed.Format(time.RFC3339)
	}
	owner := map[string]any{}
	g.setUser(owner, "github")
	app := map[string]any{
		"id": 15368, "slug": "github-actions", "node_id": "MDM6QXBwMTUzNjg=",
		"name": "GitHub Actions", "owner": owner,
	}
	details := fmt.Sprintf("%s/%s/actions/runs/%d/job/%d", g.url, fullName, c.id, c.id)
	if c.app != "" {
		g.setUser(owner, "octocat")
		app = map[string]any{"id": c.appID, "slug": c.app, "node_id": fmt.Sprintf("A_kwDO%d", c.appID),
			"name": c.app, "owner": owner}
		details = g.url + "/apps/" + c.app
	}
	return map[string]any{
		"id":           c.id,
		"node_id":      fmt.Sprintf("CR_%d", c.id),
		"head_sha":     c.sha,
		"external_id":  c.externalID,
		"url":          api,
		"html_url":     fmt.Sprintf("%s/%s/runs/%d", g.url, fullName, c.id),
		"details_url":  cmp.Or(c.detailsURL, details),
		"status":       c.status,
		"conclusion":   conclusion,
		"started_at":   c.started.Format(time.RFC3339),
		"completed_at": completed,
		"output": map[string]any{
			"title": c.title, "summary": c.summary, "text": c.text, "annotations_count": 0,
			"annotations_url": api + "/annotations",
		},
		"name":          c.name,
		"check_suite":   map[string]any{"id": c.id},
		"app":           app,
		"pull_requests": []any{},
	}
}
