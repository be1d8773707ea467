package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs"
)

const fixtures = "../../testdata/github"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// prComment is GitHub's documented issue_comment example, made a comment on
// a pull request the way GitHub marks one: an issue.pull_request object.
func prComment(t testing.TB) []byte {
	b := readFixture(t, "issue_comment.created.json")
	marker := `"issue": {`
	links := `"issue": {"pull_request": {"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1", "html_url": "https://github.com/Codertocat/Hello-World/pull/1", "diff_url": "https://github.com/Codertocat/Hello-World/pull/1.diff", "patch_url": "https://github.com/Codertocat/Hello-World/pull/1.patch", "merged_at": null},`
	if !strings.Contains(string(b), marker) {
		t.Fatalf("fixture has no %s", marker)
	}
	return []byte(strings.Replace(string(b), marker, links, 1))
}

func headers(event, secret string, body []byte) http.Header {
	h := http.Header{}
	h.Set("X-GitHub-Event", event)
	h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	h.Set("Content-Type", "application/json")
	if secret != "" {
		h.Set("X-Hub-Signature-256", sign(secret, body))
	}
	return h
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestParseWebhookFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		event, file string
		want        vcs.EventType
		mergeable   bool // as the example says; null reads as false
		wantErr     error
	}{
		{"pull_request", "pull_request.opened.json", vcs.PullOpened, false, nil},
		{"pull_request", "pull_request.reopened.json", vcs.PullOpened, false, nil},
		{"pull_request", "pull_request.synchronize.json", vcs.PullUpdated, false, nil},
		{"pull_request", "pull_request.ready_for_review.json", vcs.PullReady, true, nil},
		{"pull_request", "pull_request.closed.json", vcs.PullClosed, true, nil},
		{"pull_request", "pull_request.labeled.json", 0, false, vcs.ErrIgnored},
		{"pull_request", "pull_request.converted_to_draft.json", 0, false, vcs.ErrIgnored},
		{"issue_comment", "issue_comment.created.json", 0, false, vcs.ErrIgnored},
		{"issue_comment", "issue_comment.edited.json", 0, false, vcs.ErrIgnored},
		{"ping", "ping.json", 0, false, vcs.ErrIgnored},
	}
	f, err := New(Config{WebhookSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readFixture(t, tt.file)
			ev, err := f.ParseWebhook(headers(tt.event, "s3cret", body), body)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type != tt.want {
				t.Errorf("type = %v, want %v", ev.Type, tt.want)
			}
			want := vcs.PullRequest{
				Repo:      vcs.Repo{FullName: "Codertocat/Hello-World", CloneURL: "https://github.com/Codertocat/Hello-World.git"},
				Number:    2,
				HeadSHA:   "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
				BaseRef:   "master",
				HeadRef:   "changes",
				HeadRepo:  "Codertocat/Hello-World",
				URL:       "https://github.com/Codertocat/Hello-World/pull/2",
				Author:    "Codertocat",
				Open:      tt.want != vcs.PullClosed,
				Mergeable: tt.mergeable,
				Updated:   fixtureUpdated(t, body),
			}
			if ev.Pull != want {
				t.Errorf("pull = %+v\nwant   %+v", ev.Pull, want)
			}
			if ev.DeliveryID != "72d3162e-cc78-11e3-81ab-4c9367dc0958" {
				t.Errorf("delivery id = %q", ev.DeliveryID)
			}
		})
	}
}

func TestParseWebhookPullComment(t *testing.T) {
	t.Parallel()
	f, _ := New(Config{})
	body := prComment(t)
	ev, err := f.ParseWebhook(headers("issue_comment", "", body), body)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != vcs.CommentCreated || ev.Pull.Number != 1 || ev.Repo.FullName != "Codertocat/Hello-World" {
		t.Errorf("event = %+v", ev)
	}
	written := time.Date(2019, 5, 15, 15, 20, 21, 0, time.UTC)
	if ev.Comment.Author != "Codertocat" || !strings.HasPrefix(ev.Comment.Body, "You are totally right!") || ev.Comment.ID == 0 || !ev.Comment.Created.Equal(written) {
		t.Errorf("comment = %+v", ev.Comment)
	}
}

func TestParseWebhookRejects(t *testing.T) {
	t.Parallel()
	body := readFixture(t, "pull_request.opened.json")
	form := []byte(url.Values{"payload": {string(body)}}.Encode())
	tests := []struct {
		name    string
		secret  string
		header  func(h http.Header)
		body    []byte
		wantErr error
	}{
		{"missing signature", "s3cret", func(h http.Header) { h.Del("X-Hub-Signature-256") }, body, vcs.ErrUnauthorized},
		{"wrong signature", "s3cret", func(h http.Header) { h.Set("X-Hub-Signature-256", sign("other", body)) }, body, vcs.ErrUnauthorized},
		{"sha1 only", "s3cret", func(h http.Header) { h.Del("X-Hub-Signature-256"); h.Set("X-Hub-Signature", "sha1=00") }, body, vcs.ErrUnauthorized},
		{"malformed json", "", nil, []byte(`{"action": "opened", "pull_request": `), vcs.ErrBadPayload},
		{"wrong json shape", "", nil, []byte(`{"action": "opened", "pull_request": {"number": "two"}}`), vcs.ErrBadPayload},
		{"no pull request", "", nil, []byte(`{"action": "opened"}`), vcs.ErrBadPayload},
		{"unsupported content type", "", func(h http.Header) { h.Set("Content-Type", "text/plain") }, body, vcs.ErrBadPayload},
		{"form encoded", "s3cret", func(h http.Header) {
			h.Set("Content-Type", "application/x-www-form-urlencoded")
			h.Set("X-Hub-Signature-256", sign("s3cret", form))
		}, form, nil},
		{"json with charset", "", func(h http.Header) { h.Set("Content-Type", "application/json; charset=utf-8") }, body, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := New(Config{WebhookSecret: tt.secret})
			h := headers("pull_request", tt.secret, tt.body)
			if tt.header != nil {
				tt.header(h)
			}
			_, err := f.ParseWebhook(h, tt.body)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func FuzzParseWebhook(f *testing.F) {
	entries, err := os.ReadDir(fixtures)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		event, _, _ := strings.Cut(e.Name(), ".")
		f.Add(event, readFixture(f, e.Name()))
	}
	f.Add("issue_comment", prComment(f))
	forge, _ := New(Config{})
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		ev, err := forge.ParseWebhook(headers(event, "", body), body)
		if err == nil && (ev.Repo.FullName == "" || ev.Pull.Number <= 0) {
			t.Fatalf("accepted an event without repository or number: %+v", ev)
		}
	})
}

// fixtureUpdated is the pull request's updated_at in a pull_request
// payload.
func fixtureUpdated(t *testing.T, body []byte) time.Time {
	t.Helper()
	var p struct {
		PullRequest struct {
			UpdatedAt time.Time `json:"updated_at"`
		} `json:"pull_request"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.PullRequest.UpdatedAt.IsZero() {
		t.Fatalf("the fixture has no pull_request.updated_at: %v", err)
	}
	return p.PullRequest.UpdatedAt
}
