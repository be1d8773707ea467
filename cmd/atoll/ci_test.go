package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

const (
	ciOneResource = "resource \"terraform_data\" \"web\" {\n  input = \"v1\"\n}\n"
	ciBroken      = "resource \"terraform_data\" \"web\" {\n  input = nope\n}\n"
)

// ciEnviron is this process's environment without any CI's variables,
// and with vars and a tofu to run.
func ciEnviron(t *testing.T, vars map[string]string) []string {
	t.Helper()
	tofu, err := exec.LookPath(testTofu(t))
	if err != nil {
		t.Fatal(err)
	}
	var environ []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "GITLAB_") || strings.HasPrefix(k, "CI_") || strings.HasPrefix(k, "ATOLL_") {
			continue
		}
		environ = append(environ, kv)
	}
	environ = append(environ, "ATOLL_TF_BIN="+tofu)
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	return environ
}

// runCI runs atoll ci with args in environ.
func runCI(environ []string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(append([]string{"ci"}, args...), environ, &out, &errOut)
	return code, out.String(), errOut.String()
}

// actionsJob is the environment of a GitHub Actions job on gh started by
// event, whose event file holds payload.
func actionsJob(t *testing.T, gh *vcstest.GitHub, event string, payload []byte) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(path, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	return ciEnviron(t, map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": path,
		"GITHUB_REPOSITORY": "acme/infra", "GITHUB_RUN_ID": "1", "GITHUB_API_URL": strings.TrimSuffix(gh.APIURL(), "/"),
		"GITHUB_TOKEN": gh.Token(),
	})
}

// A pull request's workflow plans; a comment's workflow, in another run
// with the plans directory carried over, applies.
func TestCIGitHubActionsPlanThenApply(t *testing.T) {
	t.Parallel()
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghs_actions"})
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"main.tf": ciOneResource}})
	plans := t.TempDir()

	code, out, errOut := runCI(actionsJob(t, gh, "pull_request", gh.Payload(t, "pull_request", "opened", pr, "", "")), "--plans-dir", plans)
	if code != 0 || !strings.Contains(out, "Plan: 1 to add, 0 to change, 0 to destroy.") {
		t.Fatalf("plan: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if cs := gh.Comments("acme/infra", pr.Number); len(cs) != 1 || !strings.Contains(out, strings.TrimSpace(cs[0].Body)) {
		t.Errorf("the job's log does not hold the comment:\n%+v\nlog:\n%s", cs, out)
	}
	if !strings.Contains(errOut, "locks hold only within this run") {
		t.Errorf("no warning that locks are this run's alone:\n%s", errOut)
	}

	comment := func(body string) []string {
		return actionsJob(t, gh, "issue_comment", gh.Payload(t, "issue_comment", "created", pr, "bob", body))
	}
	if code, out, _ := runCI(comment("atoll apply"), "--plans-dir", plans); code != 1 || !strings.Contains(out, "will not apply yet") {
		t.Errorf("apply before an approval: exit %d\n%s; want 1 and a refusal", code, out)
	}
	gh.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
	if code, out, errOut := runCI(comment("atoll apply"), "--plans-dir", plans); code != 0 || !strings.Contains(out, "Apply complete! Resources: 1 added") {
		t.Errorf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, out, _ := runCI(comment("LGTM"), "--plans-dir", plans); code != 0 || !strings.Contains(out, "nothing to do") {
		t.Errorf("a comment that is no command: exit %d, %q; want 0 and nothing done", code, out)
	}
}

func TestCIGitHubActionsFailedPlan(t *testing.T) {
	t.Parallel()
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghs_actions"})
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": ciBroken}})
	code, out, _ := runCI(actionsJob(t, gh, "pull_request", gh.Payload(t, "pull_request", "opened", pr, "", "")))
	if code != 1 || !strings.Contains(out, "plan failed") {
		t.Errorf("a failing plan: exit %d\n%s; want 1 and the tool's error", code, out)
	}
}

// gitLabJob is the environment of a job of a merge request pipeline for
// mr on g, run by user.
func gitLabJob(t *testing.T, g *vcstest.GitLab, mr vcstest.Pull, user string) []string {
	t.Helper()
	return ciEnviron(t, map[string]string{
		"GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "merge_request_event", "CI_PIPELINE_ID": "5",
		"CI_SERVER_URL": g.URL(), "CI_PROJECT_PATH": mr.Repo, "CI_PROJECT_URL": g.URL() + "/" + mr.Repo,
		"CI_MERGE_REQUEST_IID": "1", "CI_COMMIT_SHA": mr.HeadSHA, "GITLAB_USER_LOGIN": user,
		"ATOLL_GITLAB_TOKEN": g.Token(),
	})
}

// The plan job of a merge request pipeline plans; its manual apply job,
// with the plan job's artifact, applies.
func TestCIGitLabPlanThenApply(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitLab(t, vcstest.GitLabOptions{})
	g.CreateRepo(t, "acme/platform/infra", nil)
	mr := g.OpenPull(t, "acme/platform/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"main.tf": ciOneResource}})
	plans := t.TempDir()
	if code, out, errOut := runCI(gitLabJob(t, g, mr, "alice"), "plan", "--plans-dir", plans); code != 0 || !strings.Contains(out, "Plan: 1 to add") {
		t.Fatalf("plan: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	g.SetPermission("acme/platform/infra", "rita", "reporter")
	if code, out, _ := runCI(gitLabJob(t, g, mr, "rita"), "apply", "--plans-dir", plans); code != 1 || !strings.Contains(out, "you may not run atoll commands") {
		t.Errorf("apply by a Reporter: exit %d\n%s; want 1 and a refusal", code, out)
	}
	g.Approve(t, "acme/platform/infra", mr.Number, "bob")
	if code, out, errOut := runCI(gitLabJob(t, g, mr, "bob"), "apply", "--plans-dir", plans); code != 0 || !strings.Contains(out, "Apply complete! Resources: 1 added") {
		t.Errorf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := len(g.Comments("acme/platform/infra", mr.Number)); n != 3 {
		t.Errorf("%d notes, want the plan, the refusal and the apply", n)
	}
}

func TestCIUsage(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(path, []byte("{}"), 0o600)
	actions := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": path, "GITHUB_REPOSITORY": "acme/infra"}
	gitlabJob := map[string]string{"GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "merge_request_event", "CI_PROJECT_PATH": "acme/infra", "CI_MERGE_REQUEST_IID": "1", "CI_COMMIT_SHA": "abc"}
	withToken := map[string]string{"ATOLL_GITLAB_TOKEN": "glpat-x"}
	for name, tt := range map[string]struct {
		vars []map[string]string
		args []string
		want string
	}{
		"not in CI":            {nil, nil, "not in a GitHub Actions or GitLab CI job"},
		"no GitHub token":      {[]map[string]string{actions}, nil, "no GitHub token"},
		"a command in Actions": {[]map[string]string{actions, {"GITHUB_TOKEN": "x"}}, []string{"apply"}, "give no command"},
		"no GitLab token":      {[]map[string]string{gitlabJob}, []string{"plan"}, "a job token cannot write notes"},
		"unknown command":      {[]map[string]string{gitlabJob, withToken}, []string{"destroy"}, `unknown command "destroy"`},
		"bad flag":             {[]map[string]string{gitlabJob, withToken}, []string{"plan", "--poll-interval", "1ms"}, "--poll-interval 1ms"},
	} {
		vars := map[string]string{}
		for _, m := range tt.vars {
			for k, v := range m {
				vars[k] = v
			}
		}
		code, _, errOut := runCI(ciEnviron(t, vars), tt.args...)
		if code != 2 || !strings.HasPrefix(errOut, "atoll ci: ") || !strings.Contains(errOut, tt.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, %q; want 2 and one line saying %q", name, code, errOut, tt.want)
		}
	}
}

// atoll ci -h prints its flags and exits 0, as the other commands do.
func TestCIHelp(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCI(ciEnviron(t, nil), "-h")
	if code != 0 || errOut != "" || !strings.Contains(out, "-plans-dir") {
		t.Errorf("atoll ci -h: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
}

// A run of atoll ci that finds a project locked (runs share a data
// directory here, as they share --redis-addr elsewhere) is refused, and
// does not promise a turn: no one would plan the pull request later.
func TestCILockedDoesNotWaitInLine(t *testing.T) {
	t.Parallel()
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghs_actions"})
	gh.CreateRepo(t, "acme/infra", nil)
	data := t.TempDir()
	for i, author := range []string{"alice", "bob"} {
		pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: author, Files: map[string]string{"main.tf": ciOneResource}})
		code, out, errOut := runCI(actionsJob(t, gh, "pull_request", gh.Payload(t, "pull_request", "opened", pr, "", "")), "--data-dir", data)
		switch {
		case i == 0 && (code != 0 || !strings.Contains(out, "Plan: 1 to add")):
			t.Fatalf("#1's plan: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		case i == 1 && (code != 1 || !strings.Contains(out, "locked by #1") || strings.Contains(out, "in line")):
			t.Errorf("#2's plan while #1 holds the lock: exit %d\n%s; want 1, locked by #1, and no place in line", code, out)
		}
	}
}
