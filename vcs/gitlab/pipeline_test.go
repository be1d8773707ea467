package gitlab

import (
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs"
)

// pipelineEnv is the environment GitLab CI gives a job of a merge request
// pipeline (a few of the variables it sets).
func pipelineEnv() map[string]string {
	return map[string]string{
		"GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "merge_request_event", "CI_PIPELINE_ID": "1000",
		"CI_PROJECT_PATH": "acme/platform/infra", "CI_PROJECT_URL": "https://gitlab.example.com/acme/platform/infra",
		"CI_MERGE_REQUEST_IID": "7", "CI_MERGE_REQUEST_PROJECT_ID": "42", "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "42",
		"CI_COMMIT_SHA": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "CI_COMMIT_BEFORE_SHA": noCommit,
		"CI_MERGE_REQUEST_DIFF_BASE_SHA":      "ba1560886d4f094c3e6c9ef40349f7d38b5d27d7",
		"CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
		"CI_MERGE_REQUEST_TITLE": "Add a bucket", "GITLAB_USER_LOGIN": "alice",
	}
}

func getter(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestPipelineDelivery(t *testing.T) {
	t.Parallel()
	env := pipelineEnv()
	d, ok, err := PipelineDelivery(getter(env), "s3cret")
	if err != nil || !ok {
		t.Fatalf("PipelineDelivery = %v, %v", ok, err)
	}
	f, err := New(Config{WebhookSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := f.ParseWebhook(d.Header, d.Body)
	if err != nil {
		t.Fatalf("the delivery does not parse: %v\n%s", err, d.Body)
	}
	want := vcs.PullRequest{Number: 7, HeadSHA: env["CI_COMMIT_SHA"], BaseRef: "main", HeadRef: "feature", Author: "alice", Open: true}
	got := ev.Pull
	got.Repo, got.URL = vcs.Repo{}, ""
	if ev.Type != vcs.PullUpdated || ev.Repo.FullName != "acme/platform/infra" || got != want {
		t.Errorf("the delivery parses as %+v (%v)", ev, ev.Type)
	}
	// A retried job is the same delivery; another pipeline is not.
	again, _, _ := PipelineDelivery(getter(env), "s3cret")
	env["CI_PIPELINE_ID"] = "1001"
	other, _, _ := PipelineDelivery(getter(env), "s3cret")
	if again.Header.Get("Idempotency-Key") != ev.DeliveryID || other.Header.Get("Idempotency-Key") == ev.DeliveryID {
		t.Errorf("delivery ids: %s, then %s and %s", ev.DeliveryID, again.Header.Get("Idempotency-Key"), other.Header.Get("Idempotency-Key"))
	}
	if unsigned, _, _ := PipelineDelivery(getter(env), ""); unsigned.Header.Get("X-Gitlab-Token") != "" {
		t.Error("a delivery without a secret carries a token")
	}
}

func TestPipelineDeliveryRefuses(t *testing.T) {
	t.Parallel()
	if _, ok, err := PipelineDelivery(getter(map[string]string{"GITHUB_ACTIONS": "true"}), ""); ok || err != nil {
		t.Errorf("outside GitLab CI: ok %v, %v", ok, err)
	}
	for name, change := range map[string]func(map[string]string){
		"a branch pipeline":    func(e map[string]string) { e["CI_PIPELINE_SOURCE"] = "push" },
		"no merge request iid": func(e map[string]string) { delete(e, "CI_MERGE_REQUEST_IID") },
		"no commit":            func(e map[string]string) { delete(e, "CI_COMMIT_SHA") },
	} {
		env := pipelineEnv()
		change(env)
		if _, ok, err := PipelineDelivery(getter(env), ""); !ok || err == nil || !strings.HasPrefix(err.Error(), "gitlab: ") {
			t.Errorf("%s: ok %v, %v; want an error", name, ok, err)
		}
	}
}
