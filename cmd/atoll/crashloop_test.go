package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// TestJobThatKillsItsServer kills -9 a server each time it runs a plan,
// as a pull request whose configuration makes the server use all the
// memory there is gets it killed, and starts it again on the same data
// directory: the plan's task is durable, so each start runs it again,
// until the third, which answers the pull request in the plan's running
// comment and runs nothing. (The job cannot kill its server itself: its
// steps run confined, and may not signal it.)
func TestJobThatKillsItsServer(t *testing.T) {
	t.Parallel()
	tofu := testTofu(t)
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_crashes", WebhookSecret: "shh"})
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})

	// A hook slow enough for the server to die in the middle of it.
	dir := dataDir(t)
	repoConfig := filepath.Join(dir, "repos.yaml")
	if err := os.WriteFile(repoConfig, []byte("repos:\n- id: acme/infra\n  pre_workflow_hooks:\n  - run: sleep 30\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildAtoll(t)
	env := []string{
		"ATOLL_REPO_ALLOWLIST=acme/*", "ATOLL_GH_TOKEN=ghp_crashes", "ATOLL_GH_WEBHOOK_SECRET=shh",
		"ATOLL_GH_API_URL=" + gh.APIURL(), "ATOLL_TF_BIN=" + tofu, "ATOLL_DATA_DIR=" + filepath.Join(dir, "data"),
		"ATOLL_REPO_CONFIG=" + repoConfig,
	}

	first := startReplica(t, gh, bin, "first", env...)
	if d := gh.SendPullComment(t, first.url+"/events", pr, "alice", "atoll plan"); d.Status != http.StatusAccepted {
		t.Fatalf("webhook answered %d %s", d.Status, d.Body)
	}
	gh.WaitFor(t, 60*time.Second, "the first start to run the plan", func() bool {
		cs := gh.Comments("acme/infra", pr.Number)
		return len(cs) > 0 && strings.HasPrefix(cs[0].Body, "⏳")
	})
	time.Sleep(500 * time.Millisecond) // for the job to note its comment on the task
	first.kill()
	// The second start takes the task up again at once, and dies too.
	second := startReplica(t, gh, bin, "second", env...)
	gh.WaitFor(t, 60*time.Second, "the second start to run the plan again", func() bool {
		return strings.Contains(second.log(), "running a task again")
	})
	time.Sleep(500 * time.Millisecond) // into the hook
	second.kill()
	cs := gh.Comments("acme/infra", pr.Number)
	if len(cs) != 1 || !strings.HasPrefix(cs[0].Body, "⏳") {
		t.Fatalf("after two crashes, want the one running comment: %+v", cs)
	}
	running := cs[0]

	third := startReplica(t, gh, bin, "third", env...)
	gh.WaitFor(t, 60*time.Second, "the third start to answer", func() bool {
		cs := gh.Comments("acme/infra", pr.Number)
		return len(cs) > 0 && !strings.HasPrefix(cs[0].Body, "⏳")
	})
	cs = gh.Comments("acme/infra", pr.Number)
	if len(cs) != 1 || cs[0].ID != running.ID {
		t.Errorf("want the running comment edited into the answer, got %+v", cs)
	}
	for _, want := range []string{"**atoll stopped twice while running this command**", "will not run it again", "push", "comment the command again"} {
		if !strings.Contains(cs[0].Body, want) {
			t.Errorf("the answer lacks %q:\n%s", want, cs[0].Body)
		}
	}
	var plan string
	for _, st := range gh.Statuses("acme/infra", pr.HeadSHA) {
		if st.Context == "atoll/plan" {
			plan = st.State
		}
	}
	if plan != "failure" {
		t.Errorf("atoll/plan status = %q, want failure", plan)
	}
	select {
	case <-third.done:
		t.Fatal("the third start ran the job that kills its server")
	case <-time.After(2 * time.Second):
	}
	if log := third.log(); !strings.Contains(log, "not running a job again") {
		t.Errorf("the third start did not log why it gave up:\n%s", log)
	}
}
