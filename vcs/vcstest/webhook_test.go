package vcstest_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// received is one request a test webhook receiver got.
type received struct {
	header  http.Header
	payload []byte // as github.ValidatePayload returns it
	err     error
}

// receiver starts a webhook endpoint on 127.0.0.1 that checks signatures
// with secret and answers 202 "queued".
func receiver(t *testing.T, secret string) (string, <-chan received) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan received, 10)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		payload, err := gh.ValidatePayload(r, []byte(secret))
		got <- received{header: r.Header.Clone(), payload: payload, err: err}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "queued")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/events", got
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	const secret = "hook-secret"
	g, p := newFixture(t, vcstest.GitHubOptions{WebhookSecret: secret})
	target, got := receiver(t, secret)
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

	d := g.SendPullRequest(t, target, "opened", p)
	r := <-got
	if d.Status != 202 || d.Body != "queued" || !uuid.MatchString(d.ID) {
		t.Errorf("Delivery = %+v", d)
	}
	if r.err != nil {
		t.Fatalf("ValidatePayload: %v", r.err)
	}
	for k, want := range map[string]string{
		"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": d.ID, "User-Agent": "GitHub-Hookshot/fake",
		"Content-Type": "application/json",
	} {
		if r.header.Get(k) != want {
			t.Errorf("header %s = %q, want %q", k, r.header.Get(k), want)
		}
	}
	if !strings.HasPrefix(r.header.Get("X-Hub-Signature"), "sha1=") {
		t.Errorf("X-Hub-Signature = %q", r.header.Get("X-Hub-Signature"))
	}
	ev := parse(t, "pull_request", r.payload).(*gh.PullRequestEvent)
	if ev.GetAction() != "opened" || ev.GetNumber() != 1 || ev.GetPullRequest().GetHead().GetSHA() != p.HeadSHA ||
		ev.GetRepo().GetFullName() != repoName || ev.GetRepo().GetCloneURL() != g.CloneURL(repoName) ||
		ev.GetSender().GetLogin() != "alice" || ev.GetPullRequest().GetBase().GetRef() != "main" {
		t.Errorf("pull_request event = %s", gh.Stringify(ev))
	}

	// Comments on the pull request carry issue.pull_request; on an issue not.
	g.SendPullComment(t, target, p, "bob", "atoll plan")
	ic := parse(t, "issue_comment", (<-got).payload).(*gh.IssueCommentEvent)
	if !ic.GetIssue().IsPullRequest() || ic.GetIssue().GetNumber() != 1 || ic.GetComment().GetBody() != "atoll plan" ||
		ic.GetComment().GetUser().GetLogin() != "bob" || ic.GetSender().GetLogin() != "bob" || ic.GetAction() != "created" {
		t.Errorf("pull comment event = %s", gh.Stringify(ic))
	}
	first := ic.GetComment().GetID()
	g.SendIssueComment(t, target, repoName, 7, "bob", "atoll plan")
	r = <-got
	ic = parse(t, "issue_comment", r.payload).(*gh.IssueCommentEvent)
	if ic.GetIssue().IsPullRequest() || strings.Contains(string(r.payload), `"pull_request"`) ||
		ic.GetIssue().GetNumber() != 7 || ic.GetComment().GetID() == first {
		t.Errorf("issue comment event = %s", r.payload)
	}
	g.SendCommentEdited(t, target, p, "bob", "atoll apply")
	if ic := parse(t, "issue_comment", (<-got).payload).(*gh.IssueCommentEvent); ic.GetAction() != "edited" || ic.GetComment().GetBody() != "atoll apply" {
		t.Errorf("edited event = %s", gh.Stringify(ic))
	}
	if c := g.Comments(repoName, 1); len(c) != 0 {
		t.Errorf("webhook comments stored: %+v", c)
	}

	// Closing changes the fake's state and the payload's.
	g.SendPullRequest(t, target, "closed", p)
	if ev := parse(t, "pull_request", (<-got).payload).(*gh.PullRequestEvent); ev.GetPullRequest().GetState() != "closed" {
		t.Errorf("closed event state = %q", ev.GetPullRequest().GetState())
	}
	if g.Pull(repoName, 1).Open {
		t.Error("pull request still open after a closed event")
	}

	// Low level: unsigned, form-encoded, redelivered.
	empty := ""
	d = g.Deliver(t, target, "ping", []byte(`{"zen":"hi"}`), vcstest.DeliverOptions{Secret: &empty, DeliveryID: "redelivery-1"})
	if r := <-got; r.header.Get("X-Hub-Signature-256") != "" || r.err == nil || d.ID != "redelivery-1" {
		t.Errorf("unsigned delivery: signature %q, validate error %v, id %s", r.header.Get("X-Hub-Signature-256"), r.err, d.ID)
	}
	payload := g.Payload(t, "pull_request", "synchronize", p, "", "")
	g.Deliver(t, target, "pull_request", payload, vcstest.DeliverOptions{ContentType: "application/x-www-form-urlencoded"})
	if r := <-got; r.err != nil || string(r.payload) != string(payload) {
		t.Errorf("form delivery: %v, payload %.60q", r.err, r.payload)
	}
}

// TestPayloads builds every pull_request action and checks that go-github
// reads the fake's pull request back out of it.
func TestPayloads(t *testing.T) {
	t.Parallel()
	g, p := newFixture(t, vcstest.GitHubOptions{})
	p.Draft = true
	for _, action := range []string{"opened", "reopened", "synchronize", "ready_for_review", "closed", "converted_to_draft", "labeled"} {
		ev := parse(t, "pull_request", g.Payload(t, "pull_request", action, p, "", "")).(*gh.PullRequestEvent)
		pr := ev.GetPullRequest()
		if ev.GetAction() != action || pr.GetNumber() != 1 || pr.GetHead().GetSHA() != p.HeadSHA ||
			pr.GetUser().GetLogin() != "alice" || pr.GetHead().GetRepo().GetFullName() != repoName ||
			pr.GetState() != map[bool]string{true: "closed", false: "open"}[action == "closed"] ||
			pr.GetDraft() != (action != "ready_for_review") {
			t.Errorf("%s: %s", action, gh.Stringify(pr))
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(g.Payload(t, "issue_comment", "created", p, "bob", "hi"), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"url": g.APIURL() + "repos/" + repoName + "/pulls/1", "html_url": g.URL() + "/" + repoName + "/pull/1",
		"diff_url": g.URL() + "/" + repoName + "/pull/1.diff", "patch_url": g.URL() + "/" + repoName + "/pull/1.patch",
		"merged_at": nil,
	}
	if got := doc["issue"].(map[string]any)["pull_request"]; !equalJSON(got, want) {
		t.Errorf("issue.pull_request = %v, want %v", got, want)
	}
}

func parse(t *testing.T, event string, payload []byte) any {
	t.Helper()
	ev, err := gh.ParseWebHook(event, payload)
	if err != nil {
		t.Fatalf("ParseWebHook(%s): %v", event, err)
	}
	return ev
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
