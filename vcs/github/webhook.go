package github

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs"
)

// Handles implements vcs.Forge: GitHub names the event in X-GitHub-Event.
func (f *Forge) Handles(h http.Header) bool { return h.Get("X-GitHub-Event") != "" }

// ParseWebhook implements vcs.Forge. With a secret configured, the body's
// X-Hub-Signature-256 is checked (in constant time) before anything in it is
// read.
func (f *Forge) ParseWebhook(h http.Header, body []byte) (vcs.Event, error) {
	if len(f.secret) > 0 {
		sig := h.Get("X-Hub-Signature-256")
		if sig == "" {
			return vcs.Event{}, fmt.Errorf("%w: no X-Hub-Signature-256 header", vcs.ErrUnauthorized)
		}
		if err := gh.ValidateSignature(sig, body, f.secret); err != nil {
			return vcs.Event{}, fmt.Errorf("%w: %v", vcs.ErrUnauthorized, err)
		}
	}
	payload, err := jsonPayload(h.Get("Content-Type"), body)
	if err != nil {
		return vcs.Event{}, err
	}
	ev, err := decode(h.Get("X-GitHub-Event"), payload)
	if err != nil {
		return vcs.Event{}, err
	}
	ev.DeliveryID = h.Get("X-GitHub-Delivery")
	return ev, nil
}

// jsonPayload returns the JSON document of a delivery: the body itself, or
// its "payload" field when GitHub was set to send form-encoded webhooks.
func jsonPayload(contentType string, body []byte) ([]byte, error) {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("%w: content type %q: %v", vcs.ErrBadPayload, contentType, err)
	}
	switch mediaType {
	case "application/json":
		return body, nil
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", vcs.ErrBadPayload, err)
		}
		return []byte(form.Get("payload")), nil
	}
	return nil, fmt.Errorf("%w: unsupported content type %q", vcs.ErrBadPayload, mediaType)
}

func decode(event string, payload []byte) (vcs.Event, error) {
	switch event {
	case "pull_request":
		return decodePull(payload)
	case "issue_comment":
		return decodeComment(payload)
	}
	return vcs.Event{}, fmt.Errorf("%w: event %q", vcs.ErrIgnored, event)
}

// pullActions maps the pull_request actions atoll acts on.
var pullActions = map[string]vcs.EventType{
	"opened":           vcs.PullOpened,
	"reopened":         vcs.PullOpened,
	"synchronize":      vcs.PullUpdated,
	"ready_for_review": vcs.PullReady,
	"closed":           vcs.PullClosed,
}

func decodePull(payload []byte) (vcs.Event, error) {
	var e gh.PullRequestEvent
	if err := json.Unmarshal(payload, &e); err != nil {
		return vcs.Event{}, fmt.Errorf("%w: pull_request: %v", vcs.ErrBadPayload, err)
	}
	if e.PullRequest == nil || e.PullRequest.GetNumber() <= 0 || e.GetRepo().GetFullName() == "" || e.PullRequest.GetHead().GetSHA() == "" {
		return vcs.Event{}, fmt.Errorf("%w: pull_request without repository, number or head sha", vcs.ErrBadPayload)
	}
	typ, ok := pullActions[e.GetAction()]
	if !ok {
		return vcs.Event{}, fmt.Errorf("%w: pull_request action %q", vcs.ErrIgnored, e.GetAction())
	}
	repo := convertRepo(e.GetRepo())
	return vcs.Event{Type: typ, Repo: repo, Pull: convertPull(repo, e.PullRequest)}, nil
}

// commentEvent is what atoll reads of an issue_comment event: a few
// fields of a payload of some 15 KB, decoded into no more (go-github's
// full event takes some three times as long, on every webhook).
type commentEvent struct {
	Action string `json:"action"`
	Issue  *struct {
		Number int       `json:"number"`
		User   loginOnly `json:"user"`
		State  string    `json:"state"`
		// Pull is there when the issue is a pull request.
		Pull json.RawMessage `json:"pull_request"`
	} `json:"issue"`
	Comment *struct {
		ID        int64     `json:"id"`
		User      loginOnly `json:"user"`
		Body      string    `json:"body"`
		CreatedAt time.Time `json:"created_at"`
	} `json:"comment"`
	Repo struct {
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
	} `json:"repository"`
}

type loginOnly struct {
	Login string `json:"login"`
}

func decodeComment(payload []byte) (vcs.Event, error) {
	var e commentEvent
	if err := json.Unmarshal(payload, &e); err != nil {
		return vcs.Event{}, fmt.Errorf("%w: issue_comment: %v", vcs.ErrBadPayload, err)
	}
	if e.Issue == nil || e.Comment == nil || e.Issue.Number <= 0 || e.Repo.FullName == "" {
		return vcs.Event{}, fmt.Errorf("%w: issue_comment without repository, issue or comment", vcs.ErrBadPayload)
	}
	if e.Action != "created" {
		return vcs.Event{}, fmt.Errorf("%w: issue_comment action %q", vcs.ErrIgnored, e.Action)
	}
	if len(e.Issue.Pull) == 0 || string(e.Issue.Pull) == "null" {
		return vcs.Event{}, fmt.Errorf("%w: comment on an issue, not a pull request", vcs.ErrIgnored)
	}
	repo := vcs.Repo{FullName: e.Repo.FullName, CloneURL: e.Repo.CloneURL}
	return vcs.Event{
		Type: vcs.CommentCreated,
		Repo: repo,
		Pull: vcs.PullRequest{Repo: repo, Number: e.Issue.Number, Author: e.Issue.User.Login, Open: e.Issue.State == "open"},
		Comment: vcs.Comment{
			ID:      e.Comment.ID,
			Author:  e.Comment.User.Login,
			Body:    e.Comment.Body,
			Created: e.Comment.CreatedAt,
		},
	}, nil
}

func convertRepo(r *gh.Repository) vcs.Repo {
	return vcs.Repo{FullName: r.GetFullName(), CloneURL: r.GetCloneURL()}
}
