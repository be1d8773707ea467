package vcstest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	gh "github.com/google/go-github/v60/github"
)

// maxCommentLen is the longest comment body GitHub accepts, in characters.
const maxCommentLen = 65536

func (g *GitHub) createComment(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	body, ok := commentBody(w, r)
	if !ok {
		return
	}
	g.mu.Lock()
	out := g.commentJSONLocked(g.addCommentLocked(rp.fullName, n, g.callerOf(r).login, body, false))
	g.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

// addCommentLocked keeps a new comment by author on issue or pull request
// number of repo, which it touches. byUser marks one that stands for what
// a user wrote rather than what atoll posted through the API.
func (g *GitHub) addCommentLocked(repo string, number int, author, body string, byUser bool) *comment {
	now := githubNow()
	g.lastID++
	c := &comment{Comment: Comment{ID: g.lastID, Author: author, Body: body, Written: time.Now()}, repo: repo, number: number,
		created: now, updated: now, byUser: byUser}
	g.comments = append(g.comments, c)
	if p := g.statePullLocked(repo, number); p != nil {
		p.touch()
	}
	return c
}

// userComment keeps what a webhook says author wrote on issue or pull
// request number: a new comment or, editing, a new body for author's
// latest comment there (a new comment if there is none). It returns the
// comment, and the body it had before an edit.
func (g *GitHub) userComment(repo string, number int, author, body string, editing bool) (c comment, before string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if editing {
		for _, old := range slices.Backward(g.comments) {
			if old.repo == repo && old.number == number && old.Author == author {
				before = old.Body
				old.edit(body)
				return *old, before
			}
		}
	}
	return *g.addCommentLocked(repo, number, author, body, true), ""
}

// edit replaces c's body, as its author does.
func (c *comment) edit(body string) {
	c.Body = body
	c.Edits++
	c.updated, c.Written = githubNow(), time.Now()
}

func (g *GitHub) editComment(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	body, ok := commentBody(w, r)
	if !ok {
		return
	}
	g.mu.Lock()
	var found *comment
	for _, c := range g.comments {
		if c.ID == id && c.repo == rp.fullName {
			found = c
			c.edit(body)
			break
		}
	}
	var out *gh.IssueComment
	if found != nil {
		out = g.commentJSONLocked(found)
	}
	g.mu.Unlock()
	if found == nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// getComment answers issues/comments/ID for a comment posted through the
// API.
func (g *GitHub) getComment(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	g.mu.Lock()
	var out *gh.IssueComment
	if c := g.commentLocked(func(c *comment) bool { return c.ID == id && c.repo == rp.fullName }); err == nil && c != nil {
		out = g.commentJSONLocked(c)
	}
	g.mu.Unlock()
	if out == nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// commentLocked is the first comment that match accepts, or nil.
func (g *GitHub) commentLocked(match func(*comment) bool) *comment {
	for _, c := range g.comments {
		if match(c) {
			return c
		}
	}
	return nil
}

// commentNodeID is the GraphQL global id of the comment with REST id id.
func commentNodeID(id int64) string { return fmt.Sprintf("IC_kwDO%d", id) }

// commentBody reads and validates {"body": ...} as GitHub does.
func commentBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	var in struct {
		Body *string `json:"body"`
	}
	if !decodeJSON(w, r, &in) {
		return "", false
	}
	switch {
	case in.Body == nil:
		validationFailed(w, gh.Error{Resource: "IssueComment", Code: "missing_field", Field: "body"})
		return "", false
	case utf8.RuneCountInString(*in.Body) > maxCommentLen:
		validationFailed(w, gh.Error{Resource: "IssueComment", Code: "custom", Field: "body",
			Message: fmt.Sprintf("body is too long (maximum is %d characters)", maxCommentLen)})
		return "", false
	}
	return *in.Body, true
}

func (g *GitHub) commentJSONLocked(c *comment) *gh.IssueComment {
	api := g.APIURL() + "repos/" + c.repo
	kind := "issues"
	if _, isPull := g.pullLocked(c.repo, c.number); isPull {
		kind = "pull"
	}
	return &gh.IssueComment{
		ID:                gh.Int64(c.ID),
		NodeID:            gh.String(commentNodeID(c.ID)),
		Body:              gh.String(c.Body),
		User:              g.user(c.Author),
		URL:               gh.String(fmt.Sprintf("%s/issues/comments/%d", api, c.ID)),
		HTMLURL:           gh.String(fmt.Sprintf("%s/%s/%s/%d#issuecomment-%d", g.url, c.repo, kind, c.number, c.ID)),
		IssueURL:          gh.String(fmt.Sprintf("%s/issues/%d", api, c.number)),
		CreatedAt:         &gh.Timestamp{Time: c.created},
		UpdatedAt:         &gh.Timestamp{Time: c.updated},
		AuthorAssociation: gh.String("NONE"),
	}
}
