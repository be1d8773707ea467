package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer that the drive's watcher and the test may
// use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// The story is testdrive's own test: it checks every step, and exits 0
// only if each did what it should.
func TestTestdriveScript(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	code := run([]string{"testdrive", "--script", "--tf-bin", testTofu(t)}, []string{"PATH=" + os.Getenv("PATH")}, &stdout, &stderr)
	out := stdout.String()
	if code != 0 {
		t.Fatalf("testdrive --script exited %d; stderr:\n%s\nstdout:\n%s", code, stderr.String(), out)
	}
	for _, want := range []string{
		"its web UI: jobs with their output, and locks",
		"1. alice changes the shared module modules/tags in a pull request",
		"alice opens pull request #1",
		"webhook pull_request opened → atoll answered 202",
		"│ atoll plan: 2 of 2 projects succeeded",
		"│ stacks/app      default    ✅ plan succeeded  +1 ~0 -0",
		"✓ atoll/plan: stacks/network/default  Plan: 1 to add, 0 to change, 0 to destroy.",
		"▸ Full output: ",
		"│ atoll will not apply yet.",
		"bob approves pull request #1",
		"│ atoll apply: 2 of 2 projects succeeded",
		"✓ atoll/apply  2/2 projects applied",
		"alice merges pull request #1 into main",
		"│ Locks released:",
		"│ ✅ plan succeeded: stacks/dns in workspace default",
		"✓ every step did what it should",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the story lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour in output that is not a terminal:\n%q", out)
	}
	// What the drive made is gone: its log was in its directory.
	log := regexp.MustCompile(`its log: (\S+)`).FindStringSubmatch(out)
	if log == nil {
		t.Fatalf("the story does not say where atoll's log is:\n%s", out)
	}
	if _, err := os.Stat(filepath.Dir(log[1])); !os.IsNotExist(err) {
		t.Errorf("the testdrive's directory %s is still there (%v)", filepath.Dir(log[1]), err)
	}
}

// A step that does not do what it should fails the testdrive, saying
// which and showing atoll's log.
func TestTestdriveFailsWhenAStepDoes(t *testing.T) {
	t.Parallel()
	broken := filepath.Join(t.TempDir(), "tofu")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\n[ \"$1\" = version ] && echo 'OpenTofu v1.10.7' && exit 0\necho 'Error: this tofu is broken on purpose' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	code := run([]string{"testdrive", "--script", "--tf-bin", broken}, []string{"PATH=" + os.Getenv("PATH")}, &stdout, &stderr)
	out := stdout.String()
	if code != 1 {
		t.Fatalf("testdrive with a broken tofu exited %d, want 1:\n%s%s", code, out, stderr.String())
	}
	for _, want := range []string{
		"✗ the testdrive went wrong: step 1, alice changes the shared module",
		"this tofu is broken on purpose",
		"The last lines of atoll's log:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the failed story lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "step 2") || strings.Contains(out, "every step did") {
		t.Errorf("the story went on after a failed step:\n%s", out)
	}
}

func TestTestdriveBadFlag(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"testdrive", "--port", "70000"}, nil, &stdout, &stderr); code != 2 {
		t.Errorf("--port 70000: exit %d, want 2", code)
	}
	if got := stderr.String(); got != "atoll testdrive: --port 70000 is not a TCP port\n" {
		t.Errorf("stderr %q", got)
	}
	stderr.Reset()
	if code := run([]string{"testdrive", "--scrip"}, nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "-scrip") {
		t.Errorf("--scrip: exit %d, stderr %q", code, stderr.String())
	}
}

// The prompt's commands act on your pull request as a person on the
// forge would, and atoll's answers are printed as they come.
func TestTestdrivePrompt(t *testing.T) {
	t.Parallel()
	editor := filepath.Join(t.TempDir(), "editor")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nprintf 'output \"more\" {\\n  value = 1\\n}\\n' >> \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	dr, err := startDrive(t.Context(), driveOptions{bin: testTofu(t), environ: []string{"PATH=" + os.Getenv("PATH"), "EDITOR=" + editor}, out: newScreen(&out, false)})
	if err != nil {
		t.Fatal(err)
	}
	defer dr.stop()
	if err := dr.story(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	pr := dr.pull
	// The web UI shows the story's jobs, to whoever is on this machine.
	resp, err := http.Get("http://" + dr.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), ">apply</a>") || !strings.Contains(string(page), "acme/infra") {
		t.Errorf("the testdrive's web UI: %s\n%s", resp.Status, page)
	}
	// answered waits for an answer on pr after its first n comments that
	// holds want.
	answered := func(n int, want string) {
		t.Helper()
		if err := dr.t.do(func() { dr.expect(dr.answer(pr, n).Body, want) }); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
	}

	n := len(dr.gh.Comments(pr.Repo, pr.Number))
	dr.prompt(strings.NewReader("atoll plan -d stacks/app\nfrobnicate\n"))
	answered(n, "plan succeeded: `stacks/app`")
	if !strings.Contains(out.String(), `"frobnicate" is not a testdrive command; type help`) {
		t.Errorf("an unknown command was not answered:\n%s", out.String())
	}

	n = len(dr.gh.Comments(pr.Repo, pr.Number))
	dr.prompt(strings.NewReader("edit stacks/dns/main.tf\npush\n"))
	if dr.pull.HeadSHA == pr.HeadSHA {
		t.Fatalf("push pushed nothing:\n%s", out.String())
	}
	pr = dr.pull
	answered(n, "Changes to Outputs")

	n = len(dr.gh.Comments(pr.Repo, pr.Number))
	dr.prompt(strings.NewReader("approve\natoll apply -d stacks/dns\n"))
	answered(n, "Apply complete! Resources: 1 added")

	n = len(dr.gh.Comments(pr.Repo, pr.Number))
	dr.prompt(strings.NewReader("merge\n"))
	answered(n, "Locks released")
	if !dr.gh.Merged(pr.Repo, pr.Number) {
		t.Errorf("merge did not merge #%d", pr.Number)
	}

	// A new pull request from the working copy, after one more edit.
	dr.prompt(strings.NewReader("new\nedit stacks/app/main.tf\nnew\n"))
	if !strings.Contains(out.String(), "nothing to propose: the working copy is as main") {
		t.Errorf("new with nothing changed was not refused:\n%s", out.String())
	}
	if dr.pull.Number != pr.Number+1 || !dr.pull.Open {
		t.Fatalf("new opened no pull request: the prompt is on %+v\n%s", dr.pull, out.String())
	}
	pr = dr.pull
	answered(0, "plan succeeded: `stacks/app`")
	for _, want := range []string{"you comment on #2: atoll plan -d stacks/app", "you push to #2: stacks/dns/main.tf", "bob approves pull request #2", "you merge pull request #2 into main", "you open pull request #3: stacks/app/main.tf"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the prompt's transcript lacks %q:\n%s", want, out.String())
		}
	}
}

// Ctrl-C at the prompt stops everything and removes what the drive made.
func TestTestdriveStopsAtPrompt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	dr, err := startDrive(ctx, driveOptions{bin: testTofu(t), environ: []string{"PATH=" + os.Getenv("PATH")}, out: newScreen(io.Discard, false)})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := io.Pipe() // a reader who types nothing
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		dr.prompt(in)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the prompt did not return when the drive was stopped")
	}
	dr.stop()
	if _, err := os.Stat(dr.t.dir); !os.IsNotExist(err) {
		t.Errorf("the testdrive's directory %s is still there (%v)", dr.t.dir, err)
	}
}

// Comments render for a terminal as the golden files say: tables
// aligned, code indented, collapsed output folded unless shown.
func TestTestdriveRender(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("../../runner/report/testdata/comments/plan_many.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, expand := range []bool{false, true} {
		name := "plan_many_folded.txt"
		if expand {
			name = "plan_many_shown.txt"
		}
		got := strings.Join(newScreen(io.Discard, false).render(string(body), expand), "\n") + "\n"
		golden := filepath.Join("testdata", "testdrive", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./cmd/atoll -run TestdriveRender -update)", err)
		}
		if got != string(want) {
			t.Errorf("%s: rendered\n%s\nwant\n%s", golden, got, want)
		}
	}
	if got := newScreen(io.Discard, true).inline("**atoll** ran `plan` [here](http://x)"); got != bold+"atoll"+reset+" ran "+cyan+"plan"+reset+" here" {
		t.Errorf("inline with colour: %q", got)
	}
}

// A testdrive whose reader goes away (| head) still removes what it made.
func TestTestdriveBrokenPipe(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	cmd := exec.Command("sh", "-c", `"$0" testdrive --script --tf-bin "$1" | head -n 1`, buildAtoll(t), testTofu(t))
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "atoll testdrive:") {
		t.Fatalf("atoll testdrive | head -n 1: %v\n%s", err, out)
	}
	// The testdrive goes on after head is gone; give it time to end.
	deadline := time.Now().Add(60 * time.Second)
	for {
		left, _ := filepath.Glob(filepath.Join(tmp, "atoll-testdrive-*"))
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the testdrive left %v behind", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
