package vcstest

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// gitlabVersion is the GitLab the fake's deliveries say they come from.
const gitlabVersion = "17.5.0"

// mrAction is what a merge request action does: its name in GitLab's
// payload, and the names the fake takes for it, GitLab's and the fake
// GitHub's, so that a test can drive either fake.
type mrAction struct {
	hook  string // object_attributes.action
	names []string
}

// mrActions are the merge request actions SendPullRequest and Payload
// act out; the first name of each is the one used below.
var mrActions = []mrAction{
	{"open", []string{"open", "opened"}},
	{"reopen", []string{"reopen", "reopened"}},
	{"update", []string{"update", "synchronize"}},       // new commits: oldrev
	{"update", []string{"ready", "ready_for_review"}},   // draft to ready: changes.draft
	{"update", []string{"draft", "converted_to_draft"}}, // ready to draft
	{"close", []string{"close", "closed"}},
	{"merge", []string{"merge", "merged"}},
	{"approved", []string{"approved"}},
	{"unapproved", []string{"unapproved"}},
	{"approval", []string{"approval"}},
	{"unapproval", []string{"unapproval"}},
}

// lookupAction finds the merge request action called name.
func lookupAction(t T, name string) (canonical, hook string) {
	t.Helper()
	var known []string
	for _, a := range mrActions {
		if slices.Contains(a.names, name) {
			return a.names[0], a.hook
		}
		known = append(known, a.names...)
	}
	t.Fatalf("fake gitlab: unknown merge request action %q; have %s", name, strings.Join(known, ", "))
	return "", ""
}

// SendPullRequest delivers a "Merge Request Hook" for p, whose action is
// one of open, reopen, update (new commits: oldrev is the head before the
// last PushToPull), close, merge, ready (draft to ready: action "update"
// with changes.draft and changes.title), draft (the reverse), approved,
// unapproved, approval or unapproval; the fake GitHub's names (opened,
// synchronize, ready_for_review, closed and so on) work too. The action's
// effect is applied to the fake's merge request first with Act, as GitLab
// does before it sends the hook: merge merges it with real git. The
// payload describes p in the state the fake then holds it in, at p's
// head: an older p acts out a late delivery. The sender is p.Author.
func (g *GitLab) SendPullRequest(t T, target, action string, p Pull) Delivery {
	t.Helper()
	name, hook := lookupAction(t, action)
	g.mu.Lock()
	var before time.Time
	if mr := g.mrLocked(p.Repo, p.Number); mr != nil {
		before = mr.updated
	}
	g.mu.Unlock()
	held := g.Act(t, action, p)
	p.Open, p.Draft = held.Open, held.Draft
	payload := g.build(t, glHook{kind: "merge_request", action: name, hook: hook, p: p, user: p.Author, before: before})
	return g.Deliver(t, target, "Merge Request Hook", payload, DeliverOptions{})
}

// mergeForHook merges p with real git, as a user merging it in GitLab's
// page would, unless it is merged already.
func (g *GitLab) mergeForHook(t T, p Pull, mr *mergeRequest) {
	t.Helper()
	g.opMu.Lock()
	defer g.opMu.Unlock()
	g.mu.Lock()
	merged, title := mr.merged != nil, mr.fullTitle()
	g.mu.Unlock()
	if merged {
		return
	}
	proj := g.project(t, p.Repo)
	msg := fmt.Sprintf("Merge branch '%s' into 'main'\n\n%s\n\nSee merge request %s!%d", p.Branch, title, p.Repo, p.Number)
	if err := g.mergeMR(t.Context(), proj, p.Number, p.Author, false, msg, nil); err != nil {
		t.Fatalf("fake gitlab: merging %s!%d: %v", p.Repo, p.Number, err)
	}
}

// SendTitleEdit renames merge request p to title (without the "Draft: "
// prefix, which follows p.Draft) and delivers the "update" hook GitLab
// sends for it: changes.title, and no oldrev.
func (g *GitLab) SendTitleEdit(t T, target string, p Pull, title string) Delivery {
	t.Helper()
	g.mu.Lock()
	mr := g.mrLocked(p.Repo, p.Number)
	var before string
	if mr != nil {
		before = mr.fullTitle()
		mr.title, mr.updated = title, now()
	}
	g.mu.Unlock()
	if mr == nil {
		t.Fatalf("fake gitlab: no merge request %s!%d", p.Repo, p.Number)
	}
	after := title
	if p.Draft {
		after = "Draft: " + title
	}
	payload := g.build(t, glHook{kind: "merge_request", action: "title", hook: "update", p: p, user: p.Author,
		changes: map[string]any{"title": map[string]any{"previous": before, "current": after}}})
	return g.Deliver(t, target, "Merge Request Hook", payload, DeliverOptions{})
}

// SendPullComment delivers a "Note Hook": author wrote body on merge
// request p. The fake keeps the note, so that the API can serve it.
func (g *GitLab) SendPullComment(t T, target string, p Pull, author, body string) Delivery {
	t.Helper()
	payload := g.Payload(t, "note", "create", p, author, body)
	return g.Deliver(t, target, "Note Hook", payload, DeliverOptions{})
}

// SendCommentEdited delivers the "Note Hook" GitLab sends when author
// edits a note on merge request p to read body (action "update"): the
// author's latest note there, or a new one if there is none.
func (g *GitLab) SendCommentEdited(t T, target string, p Pull, author, body string) Delivery {
	t.Helper()
	payload := g.Payload(t, "note", "update", p, author, body)
	return g.Deliver(t, target, "Note Hook", payload, DeliverOptions{})
}

// SendIssueComment delivers a "Note Hook" about a note on issue iid of
// project repo, which is not a merge request: noteable_type "Issue".
func (g *GitLab) SendIssueComment(t T, target, repo string, iid int, author, body string) Delivery {
	t.Helper()
	payload := g.build(t, glHook{kind: "note", hook: "create", issue: true,
		p: Pull{Repo: repo, Number: iid, Author: author, Open: true}, user: author, body: body})
	return g.Deliver(t, target, "Note Hook", payload, DeliverOptions{})
}

// Payload builds the JSON body of a webhook about merge request p from
// GitLab's documented example (testdata/gitlab). For event
// "merge_request", action is one SendPullRequest takes, described as
// having happened (the fake's state is left alone) and user is the sender
// (p.Author when empty). For event "note", user wrote body on p; action
// is "create" (or empty) or "update", which edits user's latest note
// there. The fake keeps the note, as SendPullComment does.
func (g *GitLab) Payload(t T, event, action string, p Pull, user, body string) []byte {
	t.Helper()
	switch event {
	case "merge_request":
		name, hook := lookupAction(t, action)
		return g.build(t, glHook{kind: event, action: name, hook: hook, p: p, user: cmp.Or(user, p.Author)})
	case "note":
		if action != "" && action != "create" && action != "update" {
			t.Fatalf("fake gitlab: a note's action is create or update, not %q", action)
		}
		return g.build(t, glHook{kind: event, hook: cmp.Or(action, "create"), p: p, user: user, body: body})
	}
	t.Fatalf("fake gitlab: no example payload for %q; have merge_request and note", event)
	return nil
}

// Deliver POSTs payload to target as GitLab delivers a webhook of event
// ("Merge Request Hook", "Note Hook"): its headers, with the webhook
// secret as X-Gitlab-Token, a new X-Gitlab-Event-UUID and
// Idempotency-Key unless o gives them.
func (g *GitLab) Deliver(t T, target, event string, payload []byte, o DeliverOptions) Delivery {
	t.Helper()
	id := cmp.Or(o.DeliveryID, newUUID())
	key := cmp.Or(o.IdempotencyKey, newUUID())
	secret := g.secret
	if o.Secret != nil {
		secret = *o.Secret
	}
	header := http.Header{}
	header.Set("Content-Type", cmp.Or(o.ContentType, "application/json"))
	header.Set("User-Agent", "GitLab/"+gitlabVersion)
	header.Set("X-Gitlab-Event", event)
	header.Set("X-Gitlab-Instance", g.url)
	header.Set("X-Gitlab-Webhook-UUID", newUUID())
	header.Set("X-Gitlab-Event-UUID", id)
	header.Set("Idempotency-Key", key)
	if secret != "" {
		header.Set("X-Gitlab-Token", secret)
	}
	status, answer := postHook(t, "fake gitlab", event, target, header, payload)
	return Delivery{Status: status, Body: answer, ID: id, IdempotencyKey: key}
}
