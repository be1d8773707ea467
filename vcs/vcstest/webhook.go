package vcstest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Delivery is the target's answer to one webhook.
type Delivery struct {
	Status int
	Body   string
	// ID is the X-GitHub-Delivery header sent, or GitLab's
	// X-Gitlab-Event-UUID.
	ID string
	// IdempotencyKey is GitLab's Idempotency-Key header sent; empty for
	// GitHub, which has none.
	IdempotencyKey string
}

// DeliverOptions adjusts one delivery.
type DeliverOptions struct {
	// DeliveryID is X-GitHub-Delivery, or GitLab's X-Gitlab-Event-UUID;
	// default a random UUID. Repeat one to act out a redelivery.
	DeliveryID string
	// Secret, when not nil, signs with *Secret instead of the fake's
	// WebhookSecret; an empty string sends the delivery unsigned. GitLab
	// sends it as X-Gitlab-Token, or no token when it is empty.
	Secret *string
	// ContentType defaults to application/json. With
	// application/x-www-form-urlencoded the body is sent as GitHub sends
	// it then: payload=<url-encoded JSON>, signed as sent. GitLab only
	// sends JSON: the fake GitLab puts ContentType in the header and
	// leaves the body as it is.
	ContentType string
	// IdempotencyKey is GitLab's Idempotency-Key, which stays the same
	// when GitLab redelivers an event; default a random UUID. Repeat a
	// Delivery's IdempotencyKey to act out a redelivery. GitHub ignores
	// it.
	IdempotencyKey string
}

// SendPullRequest delivers a pull_request event for p. The action's effect
// (closed, reopened, ready_for_review, converted_to_draft) is applied to
// the fake's pull request first with Act, as GitHub does before it sends
// the hook. The payload describes p in the state the fake then holds it
// in, at p's head: an older p acts out a late delivery. The sender is
// p.Author.
func (g *GitHub) SendPullRequest(t T, target, action string, p Pull) Delivery {
	t.Helper()
	held := g.Act(t, action, p)
	p.Open, p.Draft = held.Open, held.Draft
	payload := g.Payload(t, "pull_request", action, p, p.Author, "")
	return g.Deliver(t, target, "pull_request", payload, DeliverOptions{})
}

// SendPullComment delivers an issue_comment "created" event: author wrote
// body on pull request p, which the fake keeps, as PostComment does.
func (g *GitHub) SendPullComment(t T, target string, p Pull, author, body string) Delivery {
	t.Helper()
	payload := g.Payload(t, "issue_comment", "created", p, author, body)
	return g.Deliver(t, target, "issue_comment", payload, DeliverOptions{})
}

// SendCommentEdited delivers an issue_comment "edited" event: author
// changed their latest comment on pull request p (a new one if there is
// none) to body, which the fake keeps, as EditComment does.
func (g *GitHub) SendCommentEdited(t T, target string, p Pull, author, body string) Delivery {
	t.Helper()
	payload := g.Payload(t, "issue_comment", "edited", p, author, body)
	return g.Deliver(t, target, "issue_comment", payload, DeliverOptions{})
}

// SendIssueComment delivers an issue_comment "created" event on a plain
// issue, which is not a pull request: the payload has no
// issue.pull_request.
func (g *GitHub) SendIssueComment(t T, target, repo string, number int, author, body string) Delivery {
	t.Helper()
	payload := g.build(t, hook{
		event: "issue_comment", action: "created",
		pull:   Pull{Repo: repo, Number: number, Author: author, Open: true},
		author: author, body: body,
	})
	return g.Deliver(t, target, "issue_comment", payload, DeliverOptions{})
}

// Payload builds the JSON body of an event about pull request p from
// GitHub's documented example for event and action
// (testdata/github/EVENT.ACTION.json, or EVENT.json when action is empty). For pull_request events author is
// the sender (p.Author when empty) and body is unused; for issue_comment
// events author wrote body as a comment on p ("edited": their latest
// comment there now reads body), which the fake keeps.
func (g *GitHub) Payload(t T, event, action string, p Pull, author, body string) []byte {
	t.Helper()
	if event == "pull_request" {
		p = afterAction(p, action)
		author = cmp.Or(author, p.Author)
	}
	return g.build(t, hook{event: event, action: action, pull: p, onPull: true, author: author, body: body})
}

// Deliver POSTs payload to target as GitHub delivers event: its headers,
// and signatures made with the webhook secret. Once EnableApp, the
// delivery is the App's: it is logged (AppDeliveries, and the App's
// /app/hook/deliveries), and a target that does not answer, or target
// "" (the App's webhook URL reaches nothing), makes a failed delivery,
// with Status 0, instead of failing the test.
func (g *GitHub) Deliver(t T, target, event string, payload []byte, o DeliverOptions) Delivery {
	t.Helper()
	id := cmp.Or(o.DeliveryID, newUUID())
	secret := g.secret
	if o.Secret != nil {
		secret = *o.Secret
	}
	contentType := cmp.Or(o.ContentType, "application/json")
	body := payload
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/x-www-form-urlencoded" {
		body = []byte("payload=" + url.QueryEscape(string(payload)))
	}

	g.mu.Lock()
	app := g.app
	g.mu.Unlock()
	targetType, targetID := "repository", "1"
	if app != nil {
		targetType, targetID = "integration", strconv.FormatInt(app.ID, 10)
	}
	header := http.Header{}
	header.Set("Content-Type", contentType)
	header.Set("User-Agent", "GitHub-Hookshot/fake")
	header.Set("X-GitHub-Event", event)
	header.Set("X-GitHub-Delivery", id)
	header.Set("X-GitHub-Hook-ID", "1")
	header.Set("X-GitHub-Hook-Installation-Target-Type", targetType)
	header.Set("X-GitHub-Hook-Installation-Target-ID", targetID)
	if secret != "" {
		header.Set("X-Hub-Signature", "sha1="+sign(sha1.New, secret, body))
		header.Set("X-Hub-Signature-256", "sha256="+sign(sha256.New, secret, body))
	}
	if app == nil {
		status, answer := postHook(t, "fake github", event, target, header, body)
		return Delivery{Status: status, Body: answer, ID: id}
	}
	start := time.Now()
	var ans hookAnswer
	err := errNoTarget
	if target != "" {
		ans, err = sendHook(t.Context(), target, header, body)
	}
	g.logDelivery(sent{target: target, event: event, guid: id, header: header, payload: payload,
		start: start, answer: ans, err: err})
	return Delivery{Status: ans.status, Body: ans.body, ID: id}
}

// hookAnswer is what a webhook's target answered.
type hookAnswer struct {
	status int
	header http.Header
	body   string
}

// errNoTarget is why a delivery to target "" failed.
var errNoTarget = errors.New("no webhook URL")

// postHook POSTs body with header to target, as a forge delivers a
// webhook about event, and returns the target's answer; a target that
// does not answer fails the test. Redirects are not followed.
func postHook(t T, forge, event, target string, header http.Header, body []byte) (int, string) {
	t.Helper()
	ans, err := sendHook(t.Context(), target, header, body)
	if err != nil {
		t.Fatalf("%s: delivering %s to %s: %v", forge, event, target, err)
	}
	return ans.status, ans.body
}

// sendHook POSTs body with header to target and returns its answer, or
// why it could not: the target did not answer, or not in full.
// Redirects are not followed.
func sendHook(ctx context.Context, target string, header http.Header, body []byte) (hookAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return hookAnswer{}, err
	}
	req.Header = header.Clone()
	client := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return hookAnswer{}, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return hookAnswer{}, fmt.Errorf("reading the answer: %w", err)
	}
	return hookAnswer{status: resp.StatusCode, header: resp.Header, body: string(answer)}, nil
}

func sign(h func() hash.Hash, secret string, body []byte) string {
	mac := hmac.New(h, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// newUUID returns a random version 4 UUID, as GitHub's delivery ids and
// GitLab's event UUIDs and idempotency keys are.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return strings.Join([]string{h[:8], h[8:12], h[12:16], h[16:20], h[20:]}, "-")
}

// afterAction is p as GitHub holds it once action has happened.
func afterAction(p Pull, action string) Pull {
	switch action {
	case "opened", "reopened":
		p.Open = true
	case "closed":
		p.Open = false
	case "ready_for_review":
		p.Draft = false
	case "converted_to_draft":
		p.Draft = true
	}
	return p
}

// mustJSON encodes v, which cannot fail for the maps the fake builds.
func mustJSON(t T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("vcstest: encoding a payload: %v", err)
	}
	return b
}
