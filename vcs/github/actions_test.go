package github

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs"
)

// actionsEnv is the environment GitHub Actions gives a job started by
// event, whose event file holds body.
func actionsEnv(t *testing.T, event string, body []byte) map[string]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": path,
		"GITHUB_REPOSITORY": "Codertocat/Hello-World", "GITHUB_RUN_ID": "1658821493", "GITHUB_RUN_ATTEMPT": "1",
	}
}

func getter(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestActionsDelivery(t *testing.T) {
	t.Parallel()
	env := actionsEnv(t, "issue_comment", prComment(t))
	d, ok, err := ActionsDelivery(getter(env), "s3cret")
	if err != nil || !ok {
		t.Fatalf("ActionsDelivery = %v, %v", ok, err)
	}
	// The server takes it as it takes GitHub's own.
	f, err := New(Config{WebhookSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := f.ParseWebhook(d.Header, d.Body)
	if err != nil || ev.Type != vcs.CommentCreated || ev.Pull.Number != 1 || ev.Comment.Body == "" {
		t.Fatalf("the delivery parses as %+v, %v", ev, err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(ev.DeliveryID) {
		t.Errorf("delivery id %q is not shaped as a UUID", ev.DeliveryID)
	}
	// A re-run of the job is the same delivery; another run is not.
	env["GITHUB_RUN_ATTEMPT"] = "2"
	again, _, _ := ActionsDelivery(getter(env), "s3cret")
	env["GITHUB_RUN_ID"] = "1658821494"
	other, _, _ := ActionsDelivery(getter(env), "s3cret")
	if id := again.Header.Get("X-GitHub-Delivery"); id != ev.DeliveryID {
		t.Errorf("a re-run has delivery id %s, want %s", id, ev.DeliveryID)
	}
	if id := other.Header.Get("X-GitHub-Delivery"); id == ev.DeliveryID {
		t.Error("another run has the same delivery id")
	}
	// Without a secret, unsigned; a server with one refuses it.
	unsigned, _, _ := ActionsDelivery(getter(env), "")
	if _, err := f.ParseWebhook(unsigned.Header, unsigned.Body); err == nil {
		t.Error("an unsigned delivery was taken by a server with a secret")
	}
}

func TestActionsDeliveryEvents(t *testing.T) {
	t.Parallel()
	env := actionsEnv(t, "pull_request_target", readFixture(t, "pull_request.opened.json"))
	d, _, err := ActionsDelivery(getter(env), "")
	if err != nil || d.Header.Get("X-GitHub-Event") != "pull_request" {
		t.Errorf("pull_request_target is sent as %q, %v; want pull_request", d.Header.Get("X-GitHub-Event"), err)
	}
	if _, ok, err := ActionsDelivery(getter(map[string]string{"GITLAB_CI": "true"}), ""); ok || err != nil {
		t.Errorf("outside GitHub Actions: ok %v, %v", ok, err)
	}
	for name, change := range map[string]func(map[string]string){
		"no event name":     func(e map[string]string) { delete(e, "GITHUB_EVENT_NAME") },
		"no event file":     func(e map[string]string) { e["GITHUB_EVENT_PATH"] = filepath.Join(t.TempDir(), "gone.json") },
		"a directory":       func(e map[string]string) { e["GITHUB_EVENT_PATH"] = t.TempDir() },
		"a file over 25 MB": func(e map[string]string) { e["GITHUB_EVENT_PATH"] = bigFile(t) },
	} {
		e := actionsEnv(t, "pull_request", []byte("{}"))
		change(e)
		if _, ok, err := ActionsDelivery(getter(e), ""); !ok || err == nil || !strings.HasPrefix(err.Error(), "github: ") {
			t.Errorf("%s: ok %v, %v; want an error", name, ok, err)
		}
	}
}

// bigFile is a sparse file of 26 MB.
func bigFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(26 << 20); err != nil {
		t.Fatal(err)
	}
	return path
}
