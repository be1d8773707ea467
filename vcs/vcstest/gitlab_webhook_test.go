package vcstest_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// Every example payload the fake builds from is one go-gitlab reads.
func TestGitLabFixturesParse(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob("../../testdata/gitlab/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	want := map[string]any{
		"merge_request.json":      &gl.MergeEvent{},
		"note_merge_request.json": &gl.MergeCommentEvent{},
		"note_issue.json":         &gl.IssueCommentEvent{},
		"note_commit.json":        &gl.CommitCommentEvent{},
		"note_snippet.json":       &gl.SnippetCommentEvent{},
		"push.json":               &gl.PushEvent{},
	}
	for _, p := range paths {
		name := filepath.Base(p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		event := gl.EventTypeNote
		switch name {
		case "merge_request.json":
			event = gl.EventTypeMergeRequest
		case "push.json":
			event = gl.EventTypePush
		}
		ev, err := gl.ParseWebhook(event, b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if w, ok := want[name]; !ok || reflect.TypeOf(ev) != reflect.TypeOf(w) {
			t.Errorf("%s parses as %T, want %T", name, ev, w)
		}
	}
}

var uuid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestGitLabDeliveries(t *testing.T) {
	t.Parallel()
	g, p := newGitLabFixture(t, vcstest.GitLabOptions{WebhookSecret: "hook-secret"})
	target, got := glReceiver(t)

	d := g.SendPullRequest(t, target, "open", p)
	r := <-got
	if d.Status != 202 || d.Body != "queued" || !uuid.MatchString(d.ID) || !uuid.MatchString(d.IdempotencyKey) || d.ID == d.IdempotencyKey {
		t.Errorf("Delivery = %+v", d)
	}
	for k, want := range map[string]string{
		"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": "hook-secret", "X-Gitlab-Event-UUID": d.ID,
		"Idempotency-Key": d.IdempotencyKey, "Content-Type": "application/json", "X-Gitlab-Instance": g.URL(),
	} {
		if r.header.Get(k) != want {
			t.Errorf("header %s = %q, want %q", k, r.header.Get(k), want)
		}
	}
	if !strings.HasPrefix(r.header.Get("User-Agent"), "GitLab/17.") || !uuid.MatchString(r.header.Get("X-Gitlab-Webhook-UUID")) {
		t.Errorf("User-Agent %q, X-Gitlab-Webhook-UUID %q", r.header.Get("User-Agent"), r.header.Get("X-Gitlab-Webhook-UUID"))
	}
	if r.err != nil {
		t.Fatalf("ParseWebhook: %v", r.err)
	}
	ev := r.event.(*gl.MergeEvent)
	a := ev.ObjectAttributes
	if ev.ObjectKind != "merge_request" || a.Action != "open" || a.IID != 1 || a.State != "opened" || a.LastCommit.ID != p.HeadSHA ||
		a.SourceBranch != "pr-1" || a.TargetBranch != "main" || a.Draft || a.WorkInProgress || a.OldRev != "" ||
		a.SourceProjectID != a.TargetProjectID || a.Target.PathWithNamespace != glRepo || a.URL != g.URL()+"/"+glRepo+"/-/merge_requests/1" ||
		ev.Project.PathWithNamespace != glRepo || ev.Project.GitHTTPURL != g.CloneURL(glRepo) || ev.Project.DefaultBranch != "main" ||
		ev.Project.ID != a.TargetProjectID || ev.User.Username != "alice" || int64(ev.User.ID) != g.UserID("alice") ||
		a.AuthorID != ev.User.ID || a.DetailedMergeStatus != "mergeable" || a.LastCommit.Title != "Merge request !1" ||
		ev.Changes.Labels.Current != nil || ev.Labels[0].Title != "API" {
		t.Errorf("open event = %+v", ev)
	}

	// New commits: oldrev. A title edit: changes.title, no oldrev.
	p2 := g.PushToPull(t, glRepo, 1, map[string]string{"main.tf": "# again\n"})
	g.SendPullRequest(t, target, "update", p2)
	ev = (<-got).event.(*gl.MergeEvent)
	if ev.ObjectAttributes.Action != "update" || ev.ObjectAttributes.OldRev != p.HeadSHA || ev.ObjectAttributes.LastCommit.ID != p2.HeadSHA {
		t.Errorf("update event: action %s, oldrev %s, last commit %s", ev.ObjectAttributes.Action, ev.ObjectAttributes.OldRev, ev.ObjectAttributes.LastCommit.ID)
	}
	g.SendTitleEdit(t, target, p2, "Add b")
	ev = (<-got).event.(*gl.MergeEvent)
	if ev.ObjectAttributes.Action != "update" || ev.ObjectAttributes.OldRev != "" || ev.ObjectAttributes.Title != "Add b" ||
		ev.Changes.Title.Previous != "Merge request !1" || ev.Changes.Title.Current != "Add b" {
		t.Errorf("title event: %+v, changes %+v", ev.ObjectAttributes, ev.Changes.Title)
	}

	// Notes: on the merge request, edited, and on an issue.
	g.SendPullComment(t, target, p2, "bob", "atoll plan")
	r = <-got
	note := r.event.(*gl.MergeCommentEvent)
	if r.header.Get("X-Gitlab-Event") != "Note Hook" || note.ObjectAttributes.Note != "atoll plan" || note.ObjectAttributes.NoteableType != "MergeRequest" ||
		note.ObjectAttributes.Action != "create" || note.User.Username != "bob" || note.MergeRequest.IID != 1 ||
		note.MergeRequest.LastCommit.ID != p2.HeadSHA || note.MergeRequest.Title != "Add b" || note.ProjectID != ev.Project.ID ||
		note.Project.PathWithNamespace != glRepo || note.MergeRequest.State != "opened" || note.MergeRequest.SourceBranch != "pr-1" ||
		note.ObjectAttributes.NoteableID != note.MergeRequest.ID || !strings.HasSuffix(note.ObjectAttributes.URL, "#note_"+strconv.Itoa(note.ObjectAttributes.ID)) {
		t.Errorf("note event = %+v", note)
	}
	g.SendCommentEdited(t, target, p2, "bob", "atoll apply")
	edited := (<-got).event.(*gl.MergeCommentEvent)
	if edited.ObjectAttributes.Action != "update" || edited.ObjectAttributes.ID != note.ObjectAttributes.ID || edited.ObjectAttributes.Note != "atoll apply" {
		t.Errorf("edited note event = %+v", edited.ObjectAttributes)
	}
	g.SendIssueComment(t, target, glRepo, 7, "bob", "atoll plan")
	issue := (<-got).event.(*gl.IssueCommentEvent)
	if issue.Issue.IID != 7 || issue.ObjectAttributes.NoteableType != "Issue" || issue.Issue.State != "opened" ||
		issue.ObjectAttributes.ID == edited.ObjectAttributes.ID || issue.ObjectAttributes.Note != "atoll plan" {
		t.Errorf("issue note event = %+v", issue)
	}
	if c := g.Comments(glRepo, 1); len(c) != 0 {
		t.Errorf("users' notes among atoll's: %+v", c)
	}

	// Close, reopen and merge change the fake first.
	g.SendPullRequest(t, target, "closed", p2) // the fake GitHub's name works too
	if ev := (<-got).event.(*gl.MergeEvent); ev.ObjectAttributes.Action != "close" || ev.ObjectAttributes.State != "closed" ||
		ev.Changes.StateID.Previous != 1 || ev.Changes.StateID.Current != 2 || g.Pull(glRepo, 1).Open {
		t.Errorf("close event: %+v, changes %+v; open %v", ev.ObjectAttributes, ev.Changes.StateID, g.Pull(glRepo, 1).Open)
	}
	g.SendPullRequest(t, target, "reopen", p2)
	if ev := (<-got).event.(*gl.MergeEvent); ev.ObjectAttributes.State != "opened" || !g.Pull(glRepo, 1).Open {
		t.Errorf("reopen event state %q; open %v", ev.ObjectAttributes.State, g.Pull(glRepo, 1).Open)
	}
	g.SendPullRequest(t, target, "merge", g.Pull(glRepo, 1))
	if ev := (<-got).event.(*gl.MergeEvent); ev.ObjectAttributes.Action != "merge" || ev.ObjectAttributes.State != "merged" ||
		len(ev.ObjectAttributes.MergeCommitSHA) != 40 || !g.Merged(glRepo, 1) {
		t.Errorf("merge event: %+v; merged %v", ev.ObjectAttributes, g.Merged(glRepo, 1))
	}

	// Low level: no token, a redelivery with the same key.
	none := ""
	payload := g.Payload(t, "merge_request", "update", p2, "", "")
	d = g.Deliver(t, target, "Merge Request Hook", payload, vcstest.DeliverOptions{Secret: &none})
	r = <-got
	d2 := g.Deliver(t, target, "Merge Request Hook", payload, vcstest.DeliverOptions{IdempotencyKey: d.IdempotencyKey})
	r2 := <-got
	if _, ok := r.header["X-Gitlab-Token"]; ok || r2.header.Get("X-Gitlab-Token") != "hook-secret" {
		t.Errorf("X-Gitlab-Token: %q without a secret, %q with", r.header.Get("X-Gitlab-Token"), r2.header.Get("X-Gitlab-Token"))
	}
	if d2.IdempotencyKey != d.IdempotencyKey || r2.header.Get("Idempotency-Key") != d.IdempotencyKey || d2.ID == d.ID ||
		string(r2.body) != string(payload) {
		t.Errorf("redelivery: %+v after %+v", d2, d)
	}
}

// Drafts and forks, as payloads describe them.
func TestGitLabPayloads(t *testing.T) {
	t.Parallel()
	g, _ := newGitLabFixture(t, vcstest.GitLabOptions{})
	target, got := glReceiver(t)
	draft := g.OpenPull(t, glRepo, vcstest.PullSpec{Draft: true, Author: "bob", Files: map[string]string{"d.tf": ""}})
	parse := func(payload []byte) *gl.MergeEvent {
		t.Helper()
		ev, err := gl.ParseWebhook(gl.EventTypeMergeRequest, payload)
		if err != nil {
			t.Fatal(err)
		}
		return ev.(*gl.MergeEvent)
	}
	if ev := parse(g.Payload(t, "merge_request", "open", draft, "", "")); !ev.ObjectAttributes.Draft ||
		!ev.ObjectAttributes.WorkInProgress || ev.ObjectAttributes.Title != "Draft: Merge request !2" ||
		ev.ObjectAttributes.DetailedMergeStatus != "draft_status" || ev.User.Username != "bob" {
		t.Errorf("draft open = %+v", ev.ObjectAttributes)
	}
	g.SendPullRequest(t, target, "ready", draft)
	ev := (<-got).event.(*gl.MergeEvent)
	if ev.ObjectAttributes.Action != "update" || ev.ObjectAttributes.Draft || !ev.Changes.Draft.Previous || ev.Changes.Draft.Current ||
		ev.Changes.Title.Previous != "Draft: Merge request !2" || ev.Changes.Title.Current != "Merge request !2" || g.Pull(glRepo, 2).Draft {
		t.Errorf("ready event: %+v, changes %+v %+v; fake draft %v", ev.ObjectAttributes, ev.Changes.Draft, ev.Changes.Title, g.Pull(glRepo, 2).Draft)
	}

	fork := g.OpenPull(t, glRepo, vcstest.PullSpec{Author: "mallory", Fork: "mallory/infra", Branch: "main"})
	ev = parse(g.Payload(t, "merge_request", "opened", fork, "", ""))
	a := ev.ObjectAttributes
	if a.Source.PathWithNamespace != "mallory/infra" || a.Target.PathWithNamespace != glRepo || a.SourceProjectID == a.TargetProjectID ||
		a.SourceBranch != "main" || a.Source.GitHTTPURL != g.URL()+"/mallory/infra.git" || a.LastCommit.ID != fork.HeadSHA {
		t.Errorf("fork open = %+v", a)
	}

	// Payload leaves the fake alone, and fills what it does not know as
	// GitLab's example does.
	var doc map[string]any
	if err := json.Unmarshal(g.Payload(t, "merge_request", "close", fork, "", ""), &doc); err != nil {
		t.Fatal(err)
	}
	attrs := doc["object_attributes"].(map[string]any)
	if attrs["state"] != "closed" || !g.Pull(glRepo, fork.Number).Open || attrs["human_time_estimate"] != "1h" || doc["event_type"] != "merge_request" {
		t.Errorf("close payload: state %v, human_time_estimate %v; fake open %v", attrs["state"], attrs["human_time_estimate"], g.Pull(glRepo, fork.Number).Open)
	}
}
