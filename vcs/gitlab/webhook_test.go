package gitlab

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs"
)

const fixtures = "../../testdata/gitlab"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit changes a fixture as GitLab would send it for another case: fn
// edits the decoded document.
func edit(t testing.TB, payload []byte, fn func(doc map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(payload, &doc); err != nil {
		t.Fatal(err)
	}
	fn(doc)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attrs is a payload's object_attributes.
func attrs(doc map[string]any) map[string]any { return doc["object_attributes"].(map[string]any) }

func headers(event, token string) http.Header {
	h := http.Header{}
	h.Set("X-Gitlab-Event", event)
	h.Set("X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e")
	h.Set("Content-Type", "application/json")
	if token != "" {
		h.Set("X-Gitlab-Token", token)
	}
	return h
}

func TestParseWebhookFixtures(t *testing.T) {
	t.Parallel()
	mr := readFixture(t, "merge_request.json")
	action := func(a string, more func(map[string]any)) []byte {
		return edit(t, mr, func(doc map[string]any) {
			attrs(doc)["action"] = a
			if more != nil {
				more(doc)
			}
		})
	}
	withOldrev := func(doc map[string]any) { attrs(doc)["oldrev"] = "0b4bc9a49b562e85de7cc9e834518ea6828729b9" }
	undrafted := func(doc map[string]any) {
		doc["changes"] = map[string]any{"draft": map[string]any{"previous": true, "current": false}}
	}
	retitled := func(doc map[string]any) {
		doc["changes"] = map[string]any{"title": map[string]any{"previous": "old", "current": "new"}}
	}
	tests := []struct {
		name, event string
		payload     []byte
		want        vcs.EventType
		wantErr     error
	}{
		{"opened", "Merge Request Hook", mr, vcs.PullOpened, nil},
		{"reopened", "Merge Request Hook", action("reopen", nil), vcs.PullOpened, nil},
		{"new commits", "Merge Request Hook", action("update", withOldrev), vcs.PullUpdated, nil},
		{"draft marked ready", "Merge Request Hook", action("update", undrafted), vcs.PullReady, nil},
		{"title edit", "Merge Request Hook", action("update", retitled), 0, vcs.ErrIgnored},
		{"closed", "Merge Request Hook", action("close", nil), vcs.PullClosed, nil},
		{"merged", "Merge Request Hook", action("merge", nil), vcs.PullClosed, nil},
		{"approved", "Merge Request Hook", action("approved", nil), 0, vcs.ErrIgnored},
		{"note on a merge request", "Note Hook", readFixture(t, "note_merge_request.json"), vcs.CommentCreated, nil},
		{"note edited", "Note Hook", edit(t, readFixture(t, "note_merge_request.json"), func(doc map[string]any) { attrs(doc)["action"] = "update" }), 0, vcs.ErrIgnored},
		{"note on an issue", "Note Hook", readFixture(t, "note_issue.json"), 0, vcs.ErrIgnored},
		{"note on a commit", "Note Hook", readFixture(t, "note_commit.json"), 0, vcs.ErrIgnored},
		{"note on a snippet", "Note Hook", readFixture(t, "note_snippet.json"), 0, vcs.ErrIgnored},
		{"note on a design", "Note Hook", edit(t, readFixture(t, "note_merge_request.json"), func(doc map[string]any) { attrs(doc)["noteable_type"] = "DesignManagement::Design" }), 0, vcs.ErrIgnored},
		{"note of an older GitLab", "Note Hook", edit(t, readFixture(t, "note_merge_request.json"), func(doc map[string]any) { delete(attrs(doc), "action") }), vcs.CommentCreated, nil},
		{"note edited on an older GitLab", "Note Hook", edit(t, readFixture(t, "note_merge_request.json"), func(doc map[string]any) {
			delete(attrs(doc), "action")
			attrs(doc)["updated_at"] = "2015-05-17 18:30:02 UTC"
		}), 0, vcs.ErrIgnored},
		{"push", "Push Hook", readFixture(t, "push.json"), 0, vcs.ErrIgnored},
		{"not JSON", "Merge Request Hook", []byte("{"), 0, vcs.ErrBadPayload},
		{"no iid", "Merge Request Hook", edit(t, mr, func(doc map[string]any) { delete(attrs(doc), "iid") }), 0, vcs.ErrBadPayload},
	}
	f, err := New(Config{WebhookSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := f.ParseWebhook(headers(tt.event, "s3cret"), tt.payload)
			if !errors.Is(err, tt.wantErr) || tt.wantErr == nil && err != nil {
				t.Fatalf("ParseWebhook: %v, want %v", err, tt.wantErr)
			}
			if ev.Type != tt.want {
				t.Errorf("type = %v, want %v", ev.Type, tt.want)
			}
		})
	}
}

func TestParseWebhookFields(t *testing.T) {
	t.Parallel()
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := f.ParseWebhook(headers("Merge Request Hook", ""), readFixture(t, "merge_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := vcs.PullRequest{
		Repo:    vcs.Repo{FullName: "gitlabhq/gitlab-test", CloneURL: "http://example.com/gitlabhq/gitlab-test.git"},
		Number:  1,
		HeadSHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
		BaseRef: "master",
		HeadRef: "ms-viewport",
		URL:     "http://example.com/diaspora/merge_requests/1",
		Author:  "user1",
		Open:    true,
		Updated: time.Date(2013, 12, 3, 17, 23, 34, 0, time.UTC),
	}
	if ev.Pull != want || ev.Repo != want.Repo || ev.DeliveryID != "13792a34-cac6-4fda-95a8-c58e00a3954e" {
		t.Errorf("merge request event:\n got %+v (repo %+v, delivery %q)\nwant %+v", ev.Pull, ev.Repo, ev.DeliveryID, want)
	}

	h := headers("Note Hook", "")
	h.Set("Idempotency-Key", "5ce59ade-b4a1-4c5a-ba1f-0bcf3d1ab53b")
	ev, err = f.ParseWebhook(h, readFixture(t, "note_merge_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	written := time.Date(2015, 5, 17, 18, 21, 36, 0, time.UTC)
	if ev.Comment != (vcs.Comment{ID: 1244, Author: "root", Body: "This MR needs work.", Created: written}) || ev.Pull.Number != 1 || ev.Repo.FullName != "gitlab-org/gitlab-test" {
		t.Errorf("note event: %+v", ev)
	}
	if ev.DeliveryID != "5ce59ade-b4a1-4c5a-ba1f-0bcf3d1ab53b" {
		t.Errorf("a delivery with an Idempotency-Key has the id %q, want the key, which GitLab keeps across retries", ev.DeliveryID)
	}
}

func TestParseWebhookChecksTheToken(t *testing.T) {
	t.Parallel()
	f, err := New(Config{WebhookSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	body := readFixture(t, "merge_request.json")
	for _, token := range []string{"", "wrong", "s3cre", "s3cret "} {
		if _, err := f.ParseWebhook(headers("Merge Request Hook", token), body); !errors.Is(err, vcs.ErrUnauthorized) {
			t.Errorf("token %q: %v, want ErrUnauthorized", token, err)
		}
	}
	// Checked before the body is read: a bad token on garbage is still
	// unauthorized, not a bad payload.
	if _, err := f.ParseWebhook(headers("Merge Request Hook", "wrong"), []byte("{")); !errors.Is(err, vcs.ErrUnauthorized) {
		t.Errorf("bad token, bad body: %v, want ErrUnauthorized", err)
	}
	if f.Handles(headers("Merge Request Hook", "")) != true || f.Handles(http.Header{"X-Github-Event": {"ping"}}) {
		t.Error("Handles tells GitLab's deliveries from others wrongly")
	}
}

func FuzzParseWebhook(f *testing.F) {
	for _, name := range []string{"merge_request.json", "note_merge_request.json", "note_issue.json", "note_commit.json", "note_snippet.json", "push.json"} {
		b, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add("Merge Request Hook", b)
		f.Add("Note Hook", b)
	}
	forge, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		ev, err := forge.ParseWebhook(headers(event, ""), body)
		if err != nil {
			if !errors.Is(err, vcs.ErrIgnored) && !errors.Is(err, vcs.ErrBadPayload) {
				t.Fatalf("error %v is neither ignored nor a bad payload", err)
			}
			// A well-formed note on something else than a merge request
			// is ignored, never refused: GitLab disables a hook that keeps
			// failing.
			var note struct {
				Kind  string `json:"object_kind"`
				Attrs struct {
					Type string `json:"noteable_type"`
				} `json:"object_attributes"`
			}
			if errors.Is(err, vcs.ErrBadPayload) && event == "Note Hook" && json.Unmarshal(body, &note) == nil && note.Attrs.Type != "MergeRequest" && note.Attrs.Type != "" && note.Kind == "note" {
				t.Fatalf("a note on a %q was refused (%v), not ignored", note.Attrs.Type, err)
			}
			return
		}
		if ev.Repo.FullName == "" || ev.Pull.Number == 0 {
			t.Fatalf("accepted an event without repository or merge request: %+v", ev)
		}
	})
}

func TestHookTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2013, 12, 3, 17, 23, 34, 0, time.UTC)
	for _, in := range []string{"2013-12-03T17:23:34Z", "2013-12-03 17:23:34 UTC", "2013-12-03 18:23:34 +0100"} {
		if got := hookTime(in); !got.Equal(want) {
			t.Errorf("hookTime(%q) = %v, want %v", in, got, want)
		}
	}
	if got := hookTime("yesterday"); !got.IsZero() {
		t.Errorf("hookTime of nonsense = %v, want zero", got)
	}
}
