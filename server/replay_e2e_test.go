package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
	"github.com/atoll-iac/atoll/workflows"
)

// The tests here replay deliveries as someone who saw one could: the
// signed body is the same, the delivery id, which no signature covers,
// is new or gone. What the body reports must run once.

// deliveryIDHeaders name the headers a forge identifies a delivery by.
var deliveryIDHeaders = []string{"X-GitHub-Delivery", "X-Gitlab-Event-UUID", "Idempotency-Key"}

// capture is a delivery as it went over the wire.
type capture struct {
	header http.Header
	body   []byte
}

// eavesdrop has the fake forge deliver payload as event to a listener
// that keeps it, and returns what an eavesdropper would hold.
func eavesdrop(t *testing.T, e *testEnv, event string, payload []byte) capture {
	t.Helper()
	got := make(chan capture, 1)
	tap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- capture{header: r.Header.Clone(), body: body}
	}))
	defer tap.Close()
	e.f.Deliver(t, tap.URL, event, payload, vcstest.DeliverOptions{})
	return <-got
}

// send POSTs the captured delivery to target, its headers first changed
// by edit, and returns the answer.
func (c capture) send(t *testing.T, target string, edit func(http.Header)) vcstest.Delivery {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, target, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = c.header.Clone()
	if edit != nil {
		edit(req.Header)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("replaying a delivery: %v", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return vcstest.Delivery{Status: resp.StatusCode, Body: string(answer)}
}

// replays are the ways a captured delivery is sent again.
var replays = []struct {
	name string
	edit func(http.Header)
}{
	{"new delivery id", func(h http.Header) {
		for i, name := range deliveryIDHeaders {
			if h.Get(name) != "" {
				h.Set(name, fmt.Sprintf("00000000-0000-4000-8000-%012d", time.Now().UnixNano()%1e12+int64(i)))
			}
		}
	}},
	{"no delivery id", func(h http.Header) {
		for _, name := range deliveryIDHeaders {
			h.Del(name)
		}
	}},
}

// replayAll sends c again in every way replays names, and fails t unless
// each is answered as already received.
func (c capture) replayAll(t *testing.T, target string) {
	t.Helper()
	for _, r := range replays {
		d := c.send(t, target, r.edit)
		if d.Status != http.StatusOK || !strings.Contains(d.Body, "already received") {
			t.Errorf("replayed with %s: answered %d %q, want 200 already received", r.name, d.Status, d.Body)
		}
	}
}

func TestReplayedCommentRunsOnce(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"main.tf": oneResource})
		c := eavesdrop(t, e, f.commentEvent, e.f.Payload(t, f.commentPayload, f.commentAction, pr, "bob", "atoll plan"))
		mustStatus(t, c.send(t, e.events, nil), http.StatusAccepted, "queued")
		c.replayAll(t, e.events)
		e.barrier(t, pr)
		if n := len(e.commentsContaining(pr, "Plan: 1 to add")); n != 2 {
			t.Errorf("%d plans, want 2: the autoplan and one for the comment, however often it came", n)
		}
	})
}

func TestReplayedPullEventPlansOnce(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		e.f.CreateRepo(t, "acme/infra", nil)
		pr := e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
		head := e.f.PushToPull(t, "acme/infra", pr.Number, map[string]string{"main.tf": twoResources})
		for _, action := range []string{"opened", "synchronize"} {
			c := eavesdrop(t, e, f.pullEvent, e.f.Payload(t, f.pullPayload, action, head, "", ""))
			if action == "opened" {
				mustStatus(t, c.send(t, e.events, nil), http.StatusAccepted, "queued")
			}
			c.replayAll(t, e.events)
		}
		e.barrier(t, head)
		if n := len(e.commentsContaining(head, "Plan: 2 to add")); n != 1 {
			t.Errorf("%d plans of one head, want 1", n)
		}
		if h := e.f.StatusHistory("acme/infra", head.HeadSHA, "atoll/plan: ./default"); len(h) != 2 {
			t.Errorf("plan status history %v, want one pending and one result", h)
		}
	})
}

// An apply captured on its way, replayed once the pull request has a new
// commit and a new plan, must not apply that plan in its author's name.
func TestReplayedApplyDoesNotApplyALaterPlan(t *testing.T) {
	t.Parallel()
	noRequirements := testOptions{configure: func(c *Config) { c.ApplyRequirements = workflows.Requirements{} }}
	onEachForge(t, noRequirements, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"main.tf": oneResource})
		apply := eavesdrop(t, e, f.commentEvent, e.f.Payload(t, f.commentPayload, f.commentAction, pr, "bob", "atoll apply"))
		mustStatus(t, apply.send(t, e.events, nil), http.StatusAccepted, "queued")
		if c := e.waitComments(t, pr, 2)[1]; !strings.Contains(c.Body, "Apply complete!") {
			t.Fatalf("apply:\n%s", c.Body)
		}

		head := e.f.PushToPull(t, "acme/infra", pr.Number, map[string]string{"main.tf": twoResources})
		mustStatus(t, e.f.SendPullRequest(t, e.events, "synchronize", head), http.StatusAccepted, "queued")
		if c := e.waitComments(t, head, 3)[2]; !strings.Contains(c.Body, "Plan: 1 to add") {
			t.Fatalf("plan of the new commit:\n%s", c.Body)
		}
		apply.replayAll(t, e.events)
		e.barrier(t, head)
		if n := len(e.commentsContaining(head, "Apply complete!")); n != 1 {
			t.Errorf("%d applies, want the one that was asked for", n)
		}
		if h := e.f.StatusHistory("acme/infra", head.HeadSHA, "atoll/apply: ./default"); len(h) != 0 {
			t.Errorf("the new commit's plan was applied: status history %v", h)
		}
	})
}

// A comment written longer ago than a comment's mark is kept is not run
// when a delivery brings it: a replay of a captured apply, say, after
// its mark lapsed.
func TestOldCommentIsNotRun(t *testing.T) {
	t.Parallel()
	onEachForge(t, testOptions{}, func(t *testing.T, f forge, e *testEnv) {
		pr := e.planned(t, map[string]string{"main.tf": oneResource})
		written := time.Now().Add(-maxCommentAge - time.Hour).UTC()
		payload := writtenAt(t, f.name, e.f.Payload(t, f.commentPayload, f.commentAction, pr, "bob", "atoll plan"), written)
		mustStatus(t, e.f.Deliver(t, e.events, f.commentEvent, payload, vcstest.DeliverOptions{}), http.StatusOK, "comment written more than")
		e.barrier(t, pr)
		if n := len(e.commentsContaining(pr, "Plan: 1 to add")); n != 1 {
			t.Errorf("%d plans, want the autoplan's alone", n)
		}
	})
}

// writtenAt is a comment payload of forge as if the comment was written
// at t.
func writtenAt(t *testing.T, forge string, payload []byte, at time.Time) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatal(err)
	}
	switch forge {
	case "github":
		p["comment"].(map[string]any)["created_at"] = at.Format(time.RFC3339)
	case "gitlab":
		// An edited note is one updated since it was made: this one is not.
		attrs := p["object_attributes"].(map[string]any)
		attrs["created_at"] = at.Format("2006-01-02 15:04:05 MST")
		attrs["updated_at"] = attrs["created_at"]
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
