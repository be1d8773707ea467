package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/atoll-iac/atoll/locking/redistest"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// The CI examples in docs/examples are run here: their atoll steps, with
// the variables each CI sets, against the fake forges. Steps that only
// install things (setup actions, go install) are left out: the test puts
// atoll and tofu on PATH itself.

// readExample decodes docs/examples/name into v.
func readExample(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// exampleShell runs script with sh in dir, with environ and bin (atoll,
// tofu) first on PATH, and returns its exit code and output.
func exampleShell(t *testing.T, dir, script string, environ []string, bin ...string) (int, string) {
	t.Helper()
	cmd := exec.Command("sh", "-ec", script)
	cmd.Dir = dir
	path := strings.Join(bin, string(os.PathListSeparator)) + string(os.PathListSeparator) + os.Getenv("PATH")
	cmd.Env = append(environ, "PATH="+path)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// binDirs are the directories of a fresh atoll build and of tofu.
func binDirs(t *testing.T) []string {
	t.Helper()
	tofu, err := exec.LookPath(testTofu(t))
	if err != nil {
		t.Fatal(err)
	}
	return []string{filepath.Dir(buildAtoll(t)), filepath.Dir(tofu)}
}

// githubWorkflow is the part of a GitHub Actions workflow the test reads.
type githubWorkflow struct {
	On          map[string]any    `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Jobs        map[string]struct {
		Env   map[string]string `yaml:"env"`
		Steps []struct {
			Uses string `yaml:"uses"`
			Run  string `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// expression matches a ${{ ... }} expression of GitHub Actions.
var expression = regexp.MustCompile(`\$\{\{\s*([^}]+?)\s*\}\}`)

func TestExampleGitHubActions(t *testing.T) {
	t.Parallel()
	var wf githubWorkflow
	readExample(t, "github-actions.yml", &wf)
	for _, ev := range []string{"pull_request", "issue_comment"} {
		if _, ok := wf.On[ev]; !ok {
			t.Errorf("the workflow does not run on %s", ev)
		}
	}
	for _, p := range []string{"pull-requests", "issues", "statuses"} {
		if wf.Permissions[p] != "write" {
			t.Errorf("the workflow lacks %s: write", p)
		}
	}
	job, ok := wf.Jobs["atoll"]
	if !ok {
		t.Fatal("the workflow has no job atoll")
	}
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghs_example"})
	redis := redistest.Start(t, redistest.Options{})
	secrets := map[string]string{"secrets.GITHUB_TOKEN": gh.Token(), "secrets.ATOLL_REDIS_ADDR": redis.Addr, "secrets.ATOLL_REDIS_PASSWORD": ""}
	var jobEnv []string
	for k, v := range job.Env {
		jobEnv = append(jobEnv, k+"="+expression.ReplaceAllStringFunc(v, func(e string) string {
			name := expression.FindStringSubmatch(e)[1]
			val, ok := secrets[name]
			if !ok {
				t.Fatalf("the workflow uses %s, which this test does not set", name)
			}
			return val
		}))
	}
	var scripts []string
	for _, st := range job.Steps {
		if strings.HasPrefix(st.Run, "atoll ") {
			scripts = append(scripts, st.Run)
		}
	}
	if len(scripts) == 0 {
		t.Fatal("the workflow runs no atoll step")
	}
	bin := binDirs(t)
	gh.CreateRepo(t, "acme/infra", nil)
	pr := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"main.tf": ciOneResource}})
	runJob := func(event string, payload []byte) {
		t.Helper()
		environ := append(actionsJob(t, gh, event, payload), jobEnv...)
		for _, s := range scripts {
			if code, out := exampleShell(t, t.TempDir(), s, environ, bin...); code != 0 {
				t.Fatalf("%s run, step %q: exit %d\n%s", event, s, code, out)
			}
		}
	}
	runJob("pull_request", gh.Payload(t, "pull_request", "opened", pr, "", ""))
	gh.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
	runJob("issue_comment", gh.Payload(t, "issue_comment", "created", pr, "bob", "atoll apply"))
	cs := gh.Comments("acme/infra", pr.Number)
	if len(cs) != 2 || !strings.Contains(cs[0].Body, "Plan: 1 to add") || !strings.Contains(cs[1].Body, "Apply complete! Resources: 1 added") {
		t.Errorf("comments after the example's runs: %+v; want a plan, then its apply", cs)
	}
}

// gitlabJob is the part of a GitLab CI job the test reads.
type gitlabJob struct {
	Rules []struct {
		If   string `yaml:"if"`
		When string `yaml:"when"`
	} `yaml:"rules"`
	Script    []string `yaml:"script"`
	Artifacts struct {
		Paths []string `yaml:"paths"`
	} `yaml:"artifacts"`
}

func TestExampleGitLabCI(t *testing.T) {
	t.Parallel()
	var pipeline struct {
		Plan  gitlabJob `yaml:"atoll-plan"`
		Apply gitlabJob `yaml:"atoll-apply"`
	}
	readExample(t, "gitlab-ci.yml", &pipeline)
	plan, apply := pipeline.Plan, pipeline.Apply
	for name, j := range map[string]gitlabJob{"atoll-plan": plan, "atoll-apply": apply} {
		if len(j.Rules) == 0 || !strings.Contains(j.Rules[0].If, `$CI_PIPELINE_SOURCE == "merge_request_event"`) || len(j.Script) == 0 {
			t.Fatalf("job %s does not run atoll in merge request pipelines: %+v", name, j)
		}
	}
	if apply.Rules[0].When != "manual" {
		t.Error("the apply job is not manual")
	}
	g := vcstest.NewGitLab(t, vcstest.GitLabOptions{})
	g.CreateRepo(t, "acme/platform/infra", nil)
	mr := g.OpenPull(t, "acme/platform/infra", vcstest.PullSpec{Author: "alice", Files: map[string]string{"main.tf": ciOneResource}})
	bin := binDirs(t)
	runJob := func(name string, j gitlabJob, dir, user string) {
		t.Helper()
		for _, s := range j.Script {
			if code, out := exampleShell(t, dir, s, gitLabJob(t, g, mr, user), bin...); code != 0 {
				t.Fatalf("job %s, %q: exit %d\n%s", name, s, code, out)
			}
		}
	}
	planDir, applyDir := t.TempDir(), t.TempDir()
	runJob("atoll-plan", plan, planDir, "alice")
	// The plan job's artifacts are restored in the apply job's directory.
	for _, p := range plan.Artifacts.Paths {
		if out, err := exec.Command("cp", "-a", filepath.Join(planDir, p), filepath.Join(applyDir, p)).CombinedOutput(); err != nil {
			t.Fatalf("artifact %s: %v\n%s", p, err, out)
		}
	}
	g.Approve(t, "acme/platform/infra", mr.Number, "bob")
	runJob("atoll-apply", apply, applyDir, "bob")
	cs := g.Comments("acme/platform/infra", mr.Number)
	if len(cs) != 2 || !strings.Contains(cs[0].Body, "Plan: 1 to add") || !strings.Contains(cs[1].Body, "Apply complete! Resources: 1 added") {
		t.Errorf("notes after the example's jobs: %+v; want a plan, then its apply", cs)
	}
}
