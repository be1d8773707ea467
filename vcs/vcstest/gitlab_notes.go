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

// maxNoteLen is the longest note GitLab accepts, in characters.
const maxNoteLen = 1_000_000

// emojiName is what the fake takes for an award emoji's name; GitLab
// checks its list of emoji.
var emojiName = regexp.MustCompile(`^[a-z0-9_+-]+$`)

// noteErrors validates a note's body as GitLab's Note model does, and
// returns the errors as GitLab prints them ({:note=>[...]}), or "".
func noteErrors(body string) string {
	switch {
	case strings.TrimSpace(body) == "":
		return `{:note=>["can't be blank"]}`
	case utf8.RuneCountInString(body) > maxNoteLen:
		return fmt.Sprintf(`{:note=>["is too long (maximum is %d characters)"]}`, maxNoteLen)
	}
	return ""
}

// noteBody reads {"body": ...}, answering 400 as GitLab does when it is
// missing.
func noteBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	var in struct {
		Body *string `json:"body"`
	}
	if !decodeBody(w, r, &in) {
		return "", false
	}
	if in.Body == nil {
		paramError(w, "body is missing")
		return "", false
	}
	return *in.Body, true
}

// newNoteBody is noteBody of a note to create, answering 400 as GitLab
// does for one it would not save.
func newNoteBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	body, ok := noteBody(w, r)
	if !ok {
		return "", false
	}
	if errs := noteErrors(body); errs != "" {
		glError(w, http.StatusBadRequest, "400 Bad request - Note "+errs)
		return "", false
	}
	return body, true
}

// createNote answers POST merge_requests/:iid/notes: a note by the bot.
func (g *GitLab) createNote(w http.ResponseWriter, r *http.Request) {
	p, mr := g.mrFor(w, r)
	if mr == nil {
		return
	}
	body, ok := newNoteBody(w, r)
	if !ok {
		return
	}
	g.mu.Lock()
	out := g.noteJSONLocked(g.addNoteLocked(p.path, "MergeRequest", mr.Number, g.bot, body, false))
	g.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

// addNoteLocked keeps a new note by author on merge request or issue iid
// of repo, touching a merge request. byUser marks one that stands for
// what a user wrote rather than what atoll posted through the API.
func (g *GitLab) addNoteLocked(repo, noteable string, iid int, author, body string, byUser bool) *note {
	at := now()
	g.lastID++
	n := &note{Comment: Comment{ID: g.lastID, Author: author, Body: body, Written: time.Now()}, project: repo,
		noteable: noteable, iid: iid, created: at, updated: at, byUser: byUser}
	g.notes = append(g.notes, n)
	g.touchNoteableLocked(n)
	return n
}

// editLocked replaces n's body, as its author does, touching the merge
// request it is on.
func (g *GitLab) editLocked(n *note, body string) {
	n.Body, n.updated, n.Written = body, now(), time.Now()
	n.Edits++
	g.touchNoteableLocked(n)
}

// touchNoteableLocked touches the merge request n is on, if it is on one.
func (g *GitLab) touchNoteableLocked(n *note) {
	if mr := g.mrLocked(n.project, n.iid); mr != nil && n.noteable == "MergeRequest" {
		mr.touch()
	}
}

// noteForLocked finds the note a request names on the merge request it
// names, or nil. The caller holds mu.
func (g *GitLab) noteForLocked(r *http.Request, p *project, mr *mergeRequest) *note {
	id, err := strconv.ParseInt(r.PathValue("note"), 10, 64)
	if err != nil {
		return nil
	}
	for _, n := range g.notes {
		if n.ID == id && n.project == p.path && n.noteable == "MergeRequest" && n.iid == mr.Number {
			return n
		}
	}
	return nil
}

// getNote answers GET merge_requests/:iid/notes/:note_id, for a note the
// bot posted or a webhook described.
func (g *GitLab) getNote(w http.ResponseWriter, r *http.Request) {
	p, mr := g.mrFor(w, r)
	if mr == nil {
		return
	}
	g.mu.Lock()
	var out map[string]any
	if n := g.noteForLocked(r, p, mr); n != nil {
		out = g.noteJSONLocked(n)
	}
	g.mu.Unlock()
	if out == nil {
		glError(w, http.StatusNotFound, "404 Not found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// updateNote answers PUT merge_requests/:iid/notes/:note_id: the bot may
// replace the body of its own notes.
func (g *GitLab) updateNote(w http.ResponseWriter, r *http.Request) {
	p, mr := g.mrFor(w, r)
	if mr == nil {
		return
	}
	body, ok := noteBody(w, r)
	if !ok {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.noteForLocked(r, p, mr)
	switch {
	case n == nil:
		glError(w, http.StatusNotFound, "404 Not found")
	case n.Author != g.bot:
		glError(w, http.StatusForbidden, "403 Forbidden")
	case noteErrors(body) != "":
		glError(w, http.StatusBadRequest, "400 Bad request - Failed to save note "+noteErrors(body))
	default:
		g.editLocked(n, body)
		writeJSON(w, http.StatusOK, g.noteJSONLocked(n))
	}
}

// awardEmoji answers POST merge_requests/:iid/notes/:note_id/award_emoji:
// the bot awards an emoji, once per name.
func (g *GitLab) awardEmoji(w http.ResponseWriter, r *http.Request) {
	p, mr := g.mrFor(w, r)
	if mr == nil {
		return
	}
	var in struct {
		Name *string `json:"name"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	if in.Name == nil {
		paramError(w, "name is missing")
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.noteForLocked(r, p, mr)
	switch {
	case n == nil:
		glError(w, http.StatusNotFound, "404 Not found")
	case !emojiName.MatchString(*in.Name):
		glError(w, http.StatusNotFound, "404 Award Emoji Name is not a valid emoji name Not Found")
	case slices.ContainsFunc(n.awards, func(a award) bool { return a.name == *in.Name && a.user == g.bot }):
		glError(w, http.StatusNotFound, "404 Award Emoji Name has already been taken Not Found")
	default:
		g.lastID++
		a := award{id: g.lastID, name: *in.Name, user: g.bot, at: now()}
		n.awards = append(n.awards, a)
		writeJSON(w, http.StatusCreated, map[string]any{
			"id": a.id, "name": a.name, "user": g.userBasic(a.user),
			"created_at": apiTime(a.at), "updated_at": apiTime(a.at),
			"awardable_id": n.ID, "awardable_type": "Note", "url": nil,
		})
	}
}

// Awards returns the names of the award emoji on a note of merge request
// iid, in the order they were awarded.
func (g *GitLab) Awards(repo string, iid int, noteID int64) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, n := range g.notes {
		if n.ID == noteID && n.project == repo && n.noteable == "MergeRequest" && n.iid == iid {
			for _, a := range n.awards {
				out = append(out, a.name)
			}
		}
	}
	return out
}

// noteJSONLocked is a note as the REST API shows it.
func (g *GitLab) noteJSONLocked(n *note) map[string]any {
	var noteableID, projectID int64
	if p := g.projects[n.project]; p != nil {
		projectID = p.id
	}
	if mr := g.mrLocked(n.project, n.iid); n.noteable == "MergeRequest" && mr != nil {
		noteableID = mr.id
	} else {
		noteableID = issueID(projectID, n.iid)
	}
	return map[string]any{
		"id":               n.ID,
		"type":             nil,
		"body":             n.Body,
		"attachment":       nil,
		"author":           g.userBasic(n.Author),
		"created_at":       apiTime(n.created),
		"updated_at":       apiTime(n.updated),
		"system":           false,
		"noteable_id":      noteableID,
		"noteable_type":    n.noteable,
		"project_id":       projectID,
		"resolvable":       false,
		"confidential":     false,
		"internal":         false,
		"imported":         false,
		"imported_from":    "none",
		"noteable_iid":     n.iid,
		"commands_changes": map[string]any{},
	}
}

// issueID is the made-up global id of issue iid of a project: the fake
// has no issues but those webhooks mention.
func issueID(projectID int64, iid int) int64 { return projectID*100000 + int64(iid) }

// recordUserNote keeps a note that a webhook payload describes, so that
// the API can serve it as GitLab would, and returns it. With editing set,
// it replaces the body of author's latest note there instead, if any.
func (g *GitLab) recordUserNote(repo, noteable string, iid int, author, body string, editing bool) note {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.meetLocked(author)
	if editing {
		for _, n := range slices.Backward(g.notes) {
			if n.project == repo && n.noteable == noteable && n.iid == iid && n.Author == author {
				g.editLocked(n, body)
				return *n
			}
		}
	}
	return *g.addNoteLocked(repo, noteable, iid, author, body, true)
}
