package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking/redistest"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// replica is an `atoll server` process.
type replica struct {
	name string
	url  string
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs strings.Builder
	done chan struct{}
	term sync.Once
}

// waiter is a fake forge, for its WaitFor.
type waiter interface {
	WaitFor(t vcstest.T, timeout time.Duration, what string, cond func() bool)
}

// startReplica runs the binary as a server with env (ATOLL_* variables)
// on a free loopback port, waits until it answers /healthz, and stops it
// when the test ends.
func startReplica(t *testing.T, gh waiter, bin, name string, env ...string) *replica {
	t.Helper()
	return startServerBinary(t, gh, bin, name, env, nil)
}

// startServerBinary is startReplica with more flags, args.
func startServerBinary(t *testing.T, forge waiter, bin, name string, env, args []string) *replica {
	t.Helper()
	port := freePort(t)
	r := &replica{name: name, url: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan struct{})}
	r.cmd = exec.Command(bin, append([]string{"server", "--bind-addr", "127.0.0.1", "--port", fmt.Sprint(port)}, args...)...)
	r.cmd.Env = append(os.Environ(), env...)
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r.mu.Lock()
			r.logs.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
		}
		r.cmd.Wait()
	}()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("replica %s log:\n%s", r.name, r.log())
		}
	})
	forge.WaitFor(t, 30*time.Second, "replica "+name+" to answer /healthz", func() bool {
		resp, err := http.Get(r.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return r
}

// stop ends the replica as SIGTERM does and waits until it has; it may
// be called again.
func (r *replica) stop() {
	r.term.Do(func() { r.cmd.Process.Signal(syscall.SIGTERM) })
	<-r.done
}

// log returns what the replica has logged so far.
func (r *replica) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.String()
}

// kill ends the replica as a crash would: SIGKILL, no clean-up.
func (r *replica) kill() {
	r.cmd.Process.Kill()
	<-r.done
}

// TestReplicaKilledMidPlan runs two replicas on one Redis: the one that
// took a plan is killed -9 in the middle of it, and the other finishes the
// job once the dead one's claim lapses. The pull request gets one result.
func TestReplicaKilledMidPlan(t *testing.T) {
	t.Parallel()
	tofu := testTofu(t)
	redis := redistest.Start(t, redistest.Options{AppendOnly: true})
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_replicas", WebhookSecret: "shh"})
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})

	// A hook slow enough to kill the replica in the middle of the plan.
	repoConfig := filepath.Join(t.TempDir(), "repos.yaml")
	if err := os.WriteFile(repoConfig, []byte("repos:\n- id: acme/infra\n  pre_workflow_hooks:\n  - run: sleep 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildAtoll(t)
	env := func() []string {
		return []string{
			"ATOLL_REPO_ALLOWLIST=acme/*", "ATOLL_GH_TOKEN=ghp_replicas", "ATOLL_GH_WEBHOOK_SECRET=shh",
			"ATOLL_GH_API_URL=" + gh.APIURL(), "ATOLL_TF_BIN=" + tofu, "ATOLL_DATA_DIR=" + dataDir(t),
			"ATOLL_REDIS_ADDR=" + redis.Addr, "ATOLL_CLAIM_TTL=2s", "ATOLL_PARALLELISM=1", "ATOLL_REPO_CONFIG=" + repoConfig,
		}
	}
	a := startReplica(t, gh, bin, "a", env()...)
	if d := gh.SendPullComment(t, a.url+"/events", pr, "alice", "atoll plan"); d.Status != http.StatusAccepted {
		t.Fatalf("webhook answered %d %s", d.Status, d.Body)
	}
	gh.WaitFor(t, 30*time.Second, "replica a to start the plan", func() bool {
		cs := gh.Comments("acme/infra", pr.Number)
		return len(cs) > 0 && strings.HasPrefix(cs[0].Body, "⏳")
	})
	b := startReplica(t, gh, bin, "b", env()...)
	start := time.Now()
	a.kill()

	gh.WaitFor(t, 90*time.Second, "replica b to finish the plan", func() bool {
		for _, c := range gh.Comments("acme/infra", pr.Number) {
			if strings.Contains(c.Body, "plan succeeded") {
				return true
			}
		}
		return false
	})
	t.Logf("replica b finished the dead replica's plan %v after the kill", time.Since(start).Round(100*time.Millisecond))
	var results int
	for _, c := range gh.Comments("acme/infra", pr.Number) {
		if strings.Contains(c.Body, "Plan: 1 to add, 0 to change, 0 to destroy.") {
			results++
		}
	}
	if results != 1 {
		t.Errorf("%d plan results on the pull request, want 1: %+v", results, gh.Comments("acme/infra", pr.Number))
	}
	// The dead replica's running comment became the result.
	if cs := gh.Comments("acme/infra", pr.Number); len(cs) != 1 {
		t.Errorf("%d comments on the pull request, want the one running comment edited into the result: %+v", len(cs), cs)
	}
	if h := gh.StatusHistory("acme/infra", pr.HeadSHA, "atoll/plan: ./default"); len(h) == 0 || h[len(h)-1] != "success" {
		t.Errorf("plan status history = %v, want it to end in success", h)
	}
	if log := b.log(); !strings.Contains(log, "running a task again") {
		t.Errorf("replica b did not say it ran a task again:\n%s", log)
	}
}

// TestPollingReplicaKilled runs two polling replicas on one Redis, with
// no webhook: the one polling is killed -9, leaving its lease to lapse,
// and the other takes over: a comment written after the kill is planned.
func TestPollingReplicaKilled(t *testing.T) {
	t.Parallel()
	tofu := testTofu(t)
	redis := redistest.Start(t, redistest.Options{})
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_pollers"})
	gh.CreateRepo(t, "acme/infra", nil)
	bin := buildAtoll(t)
	env := func() []string {
		return []string{
			"ATOLL_REPO_ALLOWLIST=acme/infra", "ATOLL_GH_TOKEN=ghp_pollers", "ATOLL_GH_API_URL=" + gh.APIURL(),
			"ATOLL_TF_BIN=" + tofu, "ATOLL_DATA_DIR=" + dataDir(t), "ATOLL_REDIS_ADDR=" + redis.Addr, "ATOLL_POLL_INTERVAL=1s",
		}
	}
	replicas := []*replica{startReplica(t, gh, bin, "a", env()...), startReplica(t, gh, bin, "b", env()...)}
	var polling, standing *replica
	gh.WaitFor(t, 30*time.Second, "a replica to poll", func() bool {
		for i, r := range replicas {
			if pollsNow(r.url) {
				polling, standing = r, replicas[1-i]
				return true
			}
		}
		return false
	})
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	gh.WaitFor(t, 60*time.Second, "the autoplan", func() bool { return len(gh.Comments("acme/infra", pr.Number)) == 1 })
	polling.kill()
	start := time.Now()
	gh.PostComment(t, pr, "alice", "atoll plan")
	gh.WaitFor(t, 60*time.Second, "the other replica to plan the comment", func() bool {
		cs := gh.Comments("acme/infra", pr.Number)
		return len(cs) == 2 && strings.Contains(cs[1].Body, "Plan: 1 to add")
	})
	t.Logf("the comment was planned %v after the kill", time.Since(start).Round(100*time.Millisecond))
	if !pollsNow(standing.url) {
		t.Error("the replica left does not say it polls")
	}
}

// pollsNow reports whether the server at url says it polls GitHub.
func pollsNow(url string) bool {
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		Pollers map[string]struct {
			Polling bool `json:"polling"`
		} `json:"pollers"`
	}
	return json.NewDecoder(resp.Body).Decode(&h) == nil && h.Pollers["github"].Polling
}
