package vcstest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// glIssue is a GitLab issue with the state only the API shows.
type glIssue struct {
	Issue
	created  time.Time
	updated  time.Time
	closedAt time.Time // zero while open
	closedBy string
}

// OpenIssue opens an issue in project repo as spec.Author, as a user
// does on GitLab's pages, and returns it.
func (g *GitLab) OpenIssue(t T, repo string, spec IssueSpec) Issue {
	t.Helper()
	p := g.project(t, repo)
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.addIssueLocked(p, cmp.Or(spec.Author, "octocat"), spec.Title, spec.Body, spec.Labels).Issue
	out.Labels = slices.Clone(out.Labels)
	return out
}

// Issues returns the issues of project repo, by iid, with the notes
// posted on each through the API.
func (g *GitLab) Issues(repo string) []Issue {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.projects[repo]
	if p == nil {
		return nil
	}
	var out []Issue
	for _, is := range p.issues {
		i := is.Issue
		i.Labels = slices.Clone(i.Labels)
		for _, n := range g.notes {
			if n.project == repo && n.noteable == "Issue" && n.iid == i.Number && !n.byUser {
				i.Comments = append(i.Comments, n.Body)
			}
		}
		out = append(out, i)
	}
	return out
}

// addIssueLocked opens an issue in p by author, with the project's next
// iid, titled "Issue #N" when title is "". Labels are kept once each.
func (g *GitLab) addIssueLocked(p *project, author, title, body string, labels []string) *glIssue {
	g.meetLocked(author)
	iid := len(p.issues) + 1
	at := now()
	is := &glIssue{Issue: Issue{Number: iid, Title: cmp.Or(title, fmt.Sprintf("Issue #%d", iid)), Body: body,
		Author: author, Labels: uniqueLabels(labels), Open: true}, created: at, updated: at}
	p.issues = append(p.issues, is)
	return is
}

// uniqueLabels is labels trimmed, without blanks and repeats, in order.
func uniqueLabels(labels []string) []string {
	var out []string
	for _, l := range labels {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// labelList is the labels parameter as go-gitlab sends it in JSON: one
// comma-separated string, or an array.
type labelList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *labelList) UnmarshalJSON(data []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("[")) {
		return json.Unmarshal(data, (*[]string)(l))
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	*l = strings.Split(s, ",")
	return nil
}

// glIssueInput is the body of POST issues and PUT issues/:iid: each
// field nil when absent.
type glIssueInput struct {
	Title       *string    `json:"title"`
	Description *string    `json:"description"`
	Labels      *labelList `json:"labels"`
	StateEvent  *string    `json:"state_event"`
}

// maxIssueDescriptionLen is the longest issue description GitLab accepts, in
// characters.
const maxIssueDescriptionLen = 1_048_576

// invalid is the message of GitLab's 400 for in's fields, as its Issue
// model words it, or nil when they are valid.
func (in glIssueInput) invalid() map[string][]string {
	errs := map[string][]string{}
	switch {
	case in.Title != nil && strings.TrimSpace(*in.Title) == "":
		errs["title"] = []string{"can't be blank"}
	case in.Title != nil && utf8.RuneCountInString(*in.Title) > 255:
		errs["title"] = []string{"is too long (maximum is 255 characters)"}
	}
	if in.Description != nil && utf8.RuneCountInString(*in.Description) > maxIssueDescriptionLen {
		errs["description"] = []string{fmt.Sprintf("is too long (maximum is %d characters)", maxIssueDescriptionLen)}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// issueFor finds the issue a request names, answering 404 as GitLab does
// if the fake has none.
func (g *GitLab) issueFor(w http.ResponseWriter, r *http.Request) (*project, *glIssue) {
	p := g.projectFor(w, r)
	if p == nil {
		return nil, nil
	}
	iid, err := strconv.Atoi(r.PathValue("iid"))
	g.mu.Lock()
	var is *glIssue
	if err == nil && iid >= 1 && iid <= len(p.issues) {
		is = p.issues[iid-1]
	}
	g.mu.Unlock()
	if is == nil {
		glError(w, http.StatusNotFound, "404 Not found")
		return nil, nil
	}
	return p, is
}

// createIssue answers POST issues: an issue by the bot, with labels
// GitLab creates if the project lacks them.
func (g *GitLab) createIssue(w http.ResponseWriter, r *http.Request) {
	p := g.projectFor(w, r)
	if p == nil {
		return
	}
	var in glIssueInput
	if !decodeBody(w, r, &in) {
		return
	}
	if in.Title == nil {
		paramError(w, "title is missing")
		return
	}
	if errs := in.invalid(); errs != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": errs})
		return
	}
	var labels []string
	if in.Labels != nil {
		labels = *in.Labels
	}
	g.mu.Lock()
	out := g.issueJSONLocked(p, g.addIssueLocked(p, g.bot, *in.Title, deref(in.Description), labels))
	g.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

// updateIssue answers PUT issues/:iid: a new title, description or
// labels, and state_event close or reopen, which GitLab takes as nothing
// to do when the issue is in that state already.
func (g *GitLab) updateIssue(w http.ResponseWriter, r *http.Request) {
	p, is := g.issueFor(w, r)
	if is == nil {
		return
	}
	var in glIssueInput
	if !decodeBody(w, r, &in) {
		return
	}
	if in.StateEvent != nil && *in.StateEvent != "close" && *in.StateEvent != "reopen" {
		paramError(w, "state_event does not have a valid value")
		return
	}
	if errs := in.invalid(); errs != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": errs})
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	at := now()
	if in.Title != nil {
		is.Title = *in.Title
	}
	if in.Description != nil {
		is.Body = *in.Description
	}
	if in.Labels != nil {
		is.Labels = uniqueLabels(*in.Labels)
	}
	switch {
	case in.StateEvent != nil && *in.StateEvent == "close" && is.Open:
		is.Open, is.closedAt, is.closedBy = false, at, g.bot
	case in.StateEvent != nil && *in.StateEvent == "reopen" && !is.Open:
		is.Open, is.closedAt, is.closedBy = true, time.Time{}, ""
	}
	is.updated = at
	writeJSON(w, http.StatusOK, g.issueJSONLocked(p, is))
}

// createIssueNote answers POST issues/:iid/notes: a note by the bot.
func (g *GitLab) createIssueNote(w http.ResponseWriter, r *http.Request) {
	p, is := g.issueFor(w, r)
	if is == nil {
		return
	}
	body, ok := newNoteBody(w, r)
	if !ok {
		return
	}
	g.mu.Lock()
	n := g.addNoteLocked(p.path, "Issue", is.Number, g.bot, body, false)
	is.updated = n.created
	out := g.noteJSONLocked(n)
	g.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

// listIssues answers GET issues: a project's issues in state (opened,
// closed or all, the default), carrying every label of labels
// (comma-separated), by the author author_username or author_id names
// when given, sorted by order_by (created_at, the default, or
// updated_at) in sort (desc by default), a page at a time.
func (g *GitLab) listIssues(w http.ResponseWriter, r *http.Request) {
	p := g.projectFor(w, r)
	if p == nil {
		return
	}
	q := r.URL.Query()
	st, by, dir := cmp.Or(q.Get("state"), "all"), cmp.Or(q.Get("order_by"), "created_at"), cmp.Or(q.Get("sort"), "desc")
	for name, vals := range map[string][]string{
		"state": {st, "opened", "closed", "all"}, "order_by": {by, "created_at", "updated_at"}, "sort": {dir, "asc", "desc"},
	} {
		if !slices.Contains(vals[1:], vals[0]) {
			paramError(w, name+" does not have a valid value")
			return
		}
	}
	labels := uniqueLabels(strings.Split(q.Get("labels"), ","))
	username, authorID := q.Get("author_username"), q.Get("author_id")
	g.mu.Lock()
	var issues []*glIssue
	for _, is := range p.issues {
		if (st == "all" || st == glIssueState(is.Open)) &&
			(username == "" || strings.EqualFold(username, is.Author)) &&
			(authorID == "" || authorID == strconv.FormatInt(userID(is.Author), 10)) &&
			!slices.ContainsFunc(labels, func(l string) bool { return !slices.Contains(is.Labels, l) }) {
			issues = append(issues, is)
		}
	}
	slices.SortFunc(issues, func(a, b *glIssue) int {
		c := a.created.Compare(b.created)
		if by == "updated_at" {
			c = a.updated.Compare(b.updated)
		}
		return flip(dir, cmp.Or(c, cmp.Compare(a.Number, b.Number)))
	})
	lo, hi := g.paginate(w, r, len(issues))
	out := []map[string]any{}
	for _, is := range issues[lo:hi] {
		out = append(out, g.issueJSONLocked(p, is))
	}
	g.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// glIssueState is an issue's state as GitLab's API says it.
func glIssueState(open bool) string {
	if open {
		return "opened"
	}
	return "closed"
}

// issueJSONLocked is issue is of project p as the REST API shows it.
func (g *GitLab) issueJSONLocked(p *project, is *glIssue) map[string]any {
	api := fmt.Sprintf("%sprojects/%d/issues/%d", g.APIURL(), p.id, is.Number)
	notes := 0
	for _, n := range g.notes {
		if n.project == p.path && n.noteable == "Issue" && n.iid == is.Number {
			notes++
		}
	}
	var closedBy any
	if is.closedBy != "" {
		closedBy = g.userBasic(is.closedBy)
	}
	ref := fmt.Sprintf("#%d", is.Number)
	return map[string]any{
		"id":                   issueID(p.id, is.Number),
		"iid":                  is.Number,
		"project_id":           p.id,
		"title":                is.Title,
		"description":          is.Body,
		"state":                glIssueState(is.Open),
		"created_at":           apiTime(is.created),
		"updated_at":           apiTime(is.updated),
		"closed_at":            apiTime(is.closedAt),
		"closed_by":            closedBy,
		"labels":               append([]string{}, is.Labels...),
		"milestone":            nil,
		"assignees":            []any{},
		"assignee":             nil,
		"author":               g.userBasic(is.Author),
		"type":                 "ISSUE",
		"issue_type":           "issue",
		"user_notes_count":     notes,
		"merge_requests_count": 0,
		"upvotes":              0,
		"downvotes":            0,
		"due_date":             nil,
		"confidential":         false,
		"discussion_locked":    nil,
		"web_url":              fmt.Sprintf("%s/-/issues/%d", g.webURL(p.path), is.Number),
		"time_stats": map[string]any{
			"time_estimate": 0, "total_time_spent": 0, "human_time_estimate": nil, "human_total_time_spent": nil,
		},
		"task_completion_status": map[string]any{"count": 0, "completed_count": 0},
		"has_tasks":              false,
		"_links": map[string]any{
			"self": api, "notes": api + "/notes", "award_emoji": api + "/award_emoji",
			"project": fmt.Sprintf("%sprojects/%d", g.APIURL(), p.id),
		},
		"references":  map[string]any{"short": ref, "relative": ref, "full": p.path + ref},
		"severity":    "UNKNOWN",
		"moved_to_id": nil,
	}
}
