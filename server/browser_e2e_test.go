package server

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// browser starts headless Chromium for t, which sends user's basic-auth
// credentials with every request, and returns a context to drive it. It
// fails the test, saying how to get Chromium, when there is none.
func browser(t *testing.T, user, password string) context.Context {
	t.Helper()
	path := os.Getenv("ATOLL_TEST_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		t.Fatal("this test needs Chromium: apt-get install chromium (Debian), or name a binary in ATOLL_TEST_CHROMIUM")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root runs the tests here; the page is the test's own
		chromedp.WindowSize(1100, 800),
		chromedp.UserDataDir(t.TempDir()),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}})
		return err
	}))
	if err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	return ctx
}

// screenshot saves the page as name.png in $ATOLL_TEST_SCREENSHOTS, when
// set, for a person to look at; else in the test's temporary directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("ATOLL_TEST_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot of %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A person in a browser sees the lock a plan took, unlocks it with the
// button, and sees it go; the pull request is told.
func TestBrowserUnlock(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.Web = WebConfig{Username: "ops", Password: "s3cret-pass"} }})
	pr := e.planned(t, map[string]string{"main.tf": oneResource})
	ctx := browser(t, "ops", "s3cret-pass")

	// text navigates to path and returns the text of the element sel.
	text := func(path string, sel chromedp.CSS) string {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(e.base()+path)); err != nil {
			t.Fatal(err)
		}
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	if overview := text("/", "main"); !strings.Contains(overview, "acme/infra") {
		t.Errorf("the overview does not show the lock:\n%s", overview)
	}
	screenshot(t, ctx, "overview")
	if before := text("/locks", "tbody"); !strings.Contains(before, "acme/infra") || !strings.Contains(before, "#1") {
		t.Fatalf("the locks page does not list #1's lock:\n%s", before)
	}
	screenshot(t, ctx, "locks")
	// On a phone's width the button stays in reach.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "locks-phone")
	if err := chromedp.Do(ctx, chromedp.ResetViewport()); err != nil {
		t.Fatal(err)
	}

	n := len(e.f.Comments(pr.Repo, pr.Number))
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="unlock acme/infra#1"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	); err != nil {
		t.Fatal(err)
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".flash")))
	if err != nil || !strings.Contains(flash, "Unlocked acme/infra#1") {
		t.Errorf("after the click the page says %q (%v)", flash, err)
	}
	screenshot(t, ctx, "unlock-done")
	c := e.waitComments(t, pr, n+1)[n]
	if !strings.Contains(c.Body, "as `ops` asked through atoll's web UI") {
		t.Errorf("the pull request was not told who unlocked it:\n%s", c.Body)
	}
	if after := text("/locks", "main"); !strings.Contains(after, "No lock is held") {
		t.Errorf("the lock is still listed after the unlock:\n%s", after)
	}
	screenshot(t, ctx, "unlocked")
}

// A person in a browser sees a lock's line, in order, and unlocks a
// pull request that only waits in it with its own button.
func TestBrowserLines(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.Web = WebConfig{Username: "ops", Password: "s3cret-pass"} }})
	e.server.web.unlockWait = time.Second
	e.f.CreateRepo(t, "acme/infra", map[string]string{"main.tf": oneResource})
	for range 3 {
		e.f.OpenPull(t, "acme/infra", vcstest.PullSpec{Author: "alice"})
	}
	key := locking.Key{Forge: "github", Repo: "acme/infra", Dir: ".", Workspace: "default"}
	// #1 takes the lock; #2, then #3, wait in its line.
	for i, user := range []string{"alice", "bob", "carol"} {
		if _, place, err := e.server.locker.Wait(t.Context(), locking.Lock{Key: key, Pull: i + 1, User: user, Time: time.Now()}); err != nil || place != i {
			t.Fatalf("#%d waits: place %d, %v", i+1, place, err)
		}
	}
	ctx := browser(t, "ops", "s3cret-pass")
	if err := chromedp.Do(ctx, chromedp.Navigate(e.base()+"/locks")); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`ol[aria-label="line for acme/infra . in default"]`)))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(strings.Fields(text), " ")
	if i, j := strings.Index(line, "1st #2 for bob"), strings.Index(line, "2nd #3 for carol"); i < 0 || j < i {
		t.Errorf("the line of #1's lock reads:\n%s", line)
	}
	screenshot(t, ctx, "lines")

	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="unlock acme/infra#3"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	); err != nil {
		t.Fatal(err)
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".flash")))
	if err != nil || !regexp.MustCompile(`^(Unlocked|Unlock of) acme/infra#3 (queued )?\(job [0-9a-f]+\)`).MatchString(flash) {
		t.Errorf("after the click the page says %q (%v)", flash, err)
	}
	screenshot(t, ctx, "lines-unlock")
	if jobs := e.endedJobs(t, 1); jobs[0].Command != "unlock" || jobs[0].Pull != 3 || jobs[0].User != "ops" {
		t.Errorf("the job queued is %+v, want the unlock of #3", jobs[0])
	}
	// The unlock took #3 out of the line, and told it so.
	lines, err := e.server.locker.Lines(t.Context())
	if err != nil || len(lines) != 1 || len(lines[0].Waiting) != 1 || lines[0].Waiting[0].Pull != 2 {
		t.Errorf("lines after #3's unlock = %+v, %v; want #2 alone", lines, err)
	}
	if cs := e.gh.Comments("acme/infra", 3); len(cs) == 0 || !strings.Contains(cs[len(cs)-1].Body, "Left the line for the locks of:") {
		t.Errorf("#3 was not told it left the line: %+v", cs)
	}
}

// tickingApply is a configuration whose apply prints a line, waits, and
// prints another: a job to watch while it runs.
const tickingApply = `resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "echo tick-1; sleep 3; echo tick-2"
  }
}
`

var jobInBody = regexp.MustCompile(`\(job ([0-9a-f]+)\)`)

// A person watching a job's page sees its output arrive while it runs,
// then its end, with no reload.
func TestBrowserFollowsAJob(t *testing.T) {
	t.Parallel()
	e := webEnv(t)
	pr := e.planned(t, map[string]string{"main.tf": tickingApply})
	e.gh.Review(t, "acme/infra", pr.Number, "bob", "APPROVED")
	d := e.gh.SendPullComment(t, e.events, pr, "bob", "atoll apply")
	m := jobInBody.FindStringSubmatch(d.Body)
	if d.Status != http.StatusAccepted || m == nil {
		t.Fatalf("the apply's webhook answered %d %q", d.Status, d.Body)
	}
	ctx := browser(t, "ops", "s3cret-pass")
	if err := chromedp.Do(ctx, chromedp.Navigate(e.base()+"/jobs/"+m[1])); err != nil {
		t.Fatal(err)
	}
	// read returns the page's output and state as they are now.
	read := func() (output, state string) {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`[document.getElementById('output').textContent, document.getElementById('state').textContent]`))
		if err != nil {
			t.Fatal(err)
		}
		return v[0], v[1]
	}
	deadline := time.Now().Add(60 * time.Second)
	output, state := read()
	for !strings.Contains(output, "): tick-1") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		output, state = read()
	}
	if !strings.Contains(output, "): tick-1") || strings.Contains(output, "): tick-2") || state != "running" {
		t.Fatalf("while the apply runs, the page shows state %q and:\n%s", state, output)
	}
	screenshot(t, ctx, "job-running")
	for state != "succeeded" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		output, state = read()
	}
	if state != "succeeded" || !strings.Contains(output, "): tick-2") || !strings.Contains(output, "Apply complete!") {
		t.Errorf("once the apply ended, the page shows state %q and:\n%s", state, output)
	}
	if strings.Count(output, "): tick-1") != 1 {
		t.Errorf("a line was shown twice:\n%s", output)
	}
	screenshot(t, ctx, "job-done")
}
