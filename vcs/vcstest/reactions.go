package vcstest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	gh "github.com/google/go-github/v60/github"
)

// reactionContents are the reactions GitHub knows.
var reactionContents = []string{"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}

// reaction is one reaction to a comment.
type reaction struct {
	id      int64
	content string
	user    string
	at      time.Time
}

// createReaction answers POST issues/comments/ID/reactions: the caller
// reacts with {"content": ...}, 201 with the new reaction, or 200 with
// the one it made before with that content; 422 for content GitHub does
// not know, 404 for a comment the repository does not have.
func (g *GitHub) createReaction(w http.ResponseWriter, r *http.Request) {
	rp := g.repoFor(w, r)
	if rp == nil {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var in struct {
		Content string `json:"content"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	login := g.callerOf(r).login
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.commentLocked(func(c *comment) bool { return c.ID == id && c.repo == rp.fullName })
	switch {
	case err != nil || c == nil:
		apiError(w, http.StatusNotFound, "Not Found")
		return
	case !slices.Contains(reactionContents, in.Content):
		validationFailed(w, gh.Error{Resource: "Reaction", Code: "custom", Field: "content",
			Message: "content is not included in the list"})
		return
	}
	status := http.StatusOK
	i := slices.IndexFunc(c.reactions, func(re reaction) bool { return re.content == in.Content && re.user == login })
	if i < 0 {
		g.lastID++
		c.reactions = append(c.reactions, reaction{id: g.lastID, content: in.Content, user: login, at: githubNow()})
		i, status = len(c.reactions)-1, http.StatusCreated
	}
	re := c.reactions[i]
	writeJSON(w, status, map[string]any{
		"id": re.id, "node_id": fmt.Sprintf("REA_lADO%d", re.id), "user": g.user(re.user),
		"content": re.content, "created_at": re.at.Format(time.RFC3339),
	})
}

// Reactions returns the contents of the reactions to comment commentID
// of repo, in the order they were made.
func (g *GitHub) Reactions(repo string, commentID int64) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	if c := g.commentLocked(func(c *comment) bool { return c.ID == commentID && c.repo == repo }); c != nil {
		for _, re := range c.reactions {
			out = append(out, re.content)
		}
	}
	return out
}
