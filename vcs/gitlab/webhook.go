package gitlab

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs"
)

// Handles implements vcs.Forge: GitLab names the event in X-Gitlab-Event.
func (f *Forge) Handles(h http.Header) bool { return h.Get("X-Gitlab-Event") != "" }

// ParseWebhook implements vcs.Forge. With a secret configured, the
// delivery's X-Gitlab-Token must be it (compared in constant time) before
// anything in the body is read. A redelivery repeats the delivery id:
// Idempotency-Key, which GitLab keeps across retries, else
// X-Gitlab-Event-UUID.
func (f *Forge) ParseWebhook(h http.Header, body []byte) (vcs.Event, error) {
	if len(f.secret) > 0 {
		token := h.Get("X-Gitlab-Token")
		if token == "" {
			return vcs.Event{}, fmt.Errorf("%w: no X-Gitlab-Token header", vcs.ErrUnauthorized)
		}
		if subtle.ConstantTimeCompare([]byte(token), f.secret) != 1 {
			return vcs.Event{}, fmt.Errorf("%w: X-Gitlab-Token does not match", vcs.ErrUnauthorized)
		}
	}
	ev, err := decode(h.Get("X-Gitlab-Event"), body)
	if err != nil {
		return vcs.Event{}, err
	}
	ev.DeliveryID = h.Get("Idempotency-Key")
	if ev.DeliveryID == "" {
		ev.DeliveryID = h.Get("X-Gitlab-Event-UUID")
	}
	return ev, nil
}

// decode decodes a delivery of event (X-Gitlab-Event).
func decode(event string, payload []byte) (vcs.Event, error) {
	switch gl.EventType(event) {
	case gl.EventTypeMergeRequest:
	case gl.EventTypeNote:
		// Notes on designs, wiki pages and the like are no concern of
		// atoll's, nor of go-gitlab's, which refuses the types it does not
		// know: a 400 for them would count toward GitLab disabling the hook.
		var note struct {
			Attrs struct {
				NoteableType string `json:"noteable_type"`
			} `json:"object_attributes"`
		}
		if err := json.Unmarshal(payload, &note); err != nil {
			return vcs.Event{}, fmt.Errorf("%w: %s: %v", vcs.ErrBadPayload, event, err)
		}
		if note.Attrs.NoteableType != "MergeRequest" {
			return vcs.Event{}, fmt.Errorf("%w: a note on a %s, not a merge request", vcs.ErrIgnored, note.Attrs.NoteableType)
		}
	default:
		return vcs.Event{}, fmt.Errorf("%w: event %q", vcs.ErrIgnored, event)
	}
	parsed, err := gl.ParseWebhook(gl.EventType(event), payload)
	if err != nil {
		return vcs.Event{}, fmt.Errorf("%w: %s: %v", vcs.ErrBadPayload, event, err)
	}
	switch e := parsed.(type) {
	case *gl.MergeEvent:
		return decodeMergeRequest(e)
	case *gl.MergeCommentEvent:
		return decodeNote(e)
	}
	return vcs.Event{}, fmt.Errorf("%w: a note on something else than a merge request", vcs.ErrIgnored)
}

// decodeMergeRequest reads a Merge Request Hook. An update with new
// commits carries oldrev; one without (a title, label or description
// edit) asks for nothing, unless it marks a draft ready.
func decodeMergeRequest(e *gl.MergeEvent) (vcs.Event, error) {
	a := e.ObjectAttributes
	if e.Project.PathWithNamespace == "" || a.IID == 0 || a.LastCommit.ID == "" {
		return vcs.Event{}, fmt.Errorf("%w: merge request without project, iid or last commit", vcs.ErrBadPayload)
	}
	ev := vcs.Event{Repo: vcs.Repo{FullName: e.Project.PathWithNamespace, CloneURL: e.Project.GitHTTPURL}}
	switch {
	case a.Action == "open" || a.Action == "reopen":
		ev.Type = vcs.PullOpened
	case a.Action == "update" && a.OldRev != "":
		ev.Type = vcs.PullUpdated
	case a.Action == "update" && e.Changes.Draft.Previous && !e.Changes.Draft.Current:
		ev.Type = vcs.PullReady
	case a.Action == "close" || a.Action == "merge":
		ev.Type = vcs.PullClosed
	case a.Action == "update":
		return vcs.Event{}, fmt.Errorf("%w: merge request update without new commits", vcs.ErrIgnored)
	default:
		return vcs.Event{}, fmt.Errorf("%w: merge request action %q", vcs.ErrIgnored, a.Action)
	}
	ev.Pull = vcs.PullRequest{
		Repo:    ev.Repo,
		Number:  a.IID,
		HeadSHA: a.LastCommit.ID,
		BaseRef: a.TargetBranch,
		HeadRef: a.SourceBranch,
		URL:     a.URL,
		Draft:   a.Draft || a.WorkInProgress,
		Open:    openStates[a.State],
		Updated: hookTime(a.UpdatedAt),
		Fork:    a.SourceProjectID != 0 && a.TargetProjectID != 0 && a.SourceProjectID != a.TargetProjectID,
	}
	if e.User != nil {
		ev.Pull.Author = e.User.Username
	}
	return ev, nil
}

// decodeNote reads a Note Hook on a merge request. An edited note asks
// for nothing, as an edited GitHub comment does not.
func decodeNote(e *gl.MergeCommentEvent) (vcs.Event, error) {
	a := e.ObjectAttributes
	if e.Project.PathWithNamespace == "" || e.MergeRequest.IID == 0 || a.ID == 0 || e.User == nil {
		return vcs.Event{}, fmt.Errorf("%w: note without project, merge request, id or author", vcs.ErrBadPayload)
	}
	if a.Action != "" && a.Action != gl.CommentEventActionCreate {
		return vcs.Event{}, fmt.Errorf("%w: note action %q", vcs.ErrIgnored, a.Action)
	}
	// GitLab before 16.11 sends no action, and a hook for an edit too:
	// an edited note has been updated since it was made.
	if a.Action == "" && a.UpdatedAt != a.CreatedAt {
		return vcs.Event{}, fmt.Errorf("%w: an edited note", vcs.ErrIgnored)
	}
	repo := vcs.Repo{FullName: e.Project.PathWithNamespace, CloneURL: e.Project.GitHTTPURL}
	return vcs.Event{
		Type:    vcs.CommentCreated,
		Repo:    repo,
		Pull:    vcs.PullRequest{Repo: repo, Number: e.MergeRequest.IID},
		Comment: vcs.Comment{ID: int64(a.ID), Author: e.User.Username, Body: a.Note, Created: hookTime(a.CreatedAt)},
	}, nil
}

// hookTime reads a time in a webhook, which GitLab writes either way
// ("2013-12-03T17:23:34Z", "2013-12-03 17:23:34 UTC"); zero when it
// cannot.
func hookTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
