package server

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking"
)

// webGet fetches path from e's server as user (no credentials when
// user is ""), and returns the status and the body.
func (e *testEnv) webGet(t *testing.T, path, user, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	return do(t, req)
}

// webPost posts form to path as user, with the Origin header origin when
// set, not following a redirect, and returns the status and the
// Location or the body.
func (e *testEnv) webPost(t *testing.T, path, user, password, origin string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base()+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, password)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if loc := resp.Header.Get("Location"); loc != "" {
		return resp.StatusCode, loc
	}
	return resp.StatusCode, string(b)
}

// base is the server's root URL.
func (e *testEnv) base() string { return strings.TrimSuffix(e.events, "/events") }

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// The UI is off until it is told who may use it.
func TestWebOffByDefault(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	for _, path := range []string{"/", "/locks"} {
		if code, _ := e.webGet(t, path, "", ""); code != http.StatusNotFound {
			t.Errorf("GET %s with no UI configured: %d, want 404", path, code)
		}
	}
}

// Only the UI's user unlocks, through a form of the UI's own; the pull
// request is told who unlocked it, and its lock is gone.
func TestWebUnlock(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.Web = WebConfig{Username: "ops", Password: "s3cret-pass"} }})
	pr := e.planned(t, map[string]string{"main.tf": oneResource})

	for _, c := range []struct{ user, password string }{{"", ""}, {"ops", "wrong"}, {"someone", "s3cret-pass"}} {
		code, body := e.webGet(t, "/locks", c.user, c.password)
		if code != http.StatusUnauthorized || strings.Contains(body, "acme/infra") {
			t.Errorf("GET /locks as %q/%q: %d, want 401 and no lock shown:\n%s", c.user, c.password, code, body)
		}
	}
	code, page := e.webGet(t, "/locks", "ops", "s3cret-pass")
	if code != http.StatusOK || !strings.Contains(page, "acme/infra") || !strings.Contains(page, "Unlock #1") {
		t.Fatalf("GET /locks: %d, want the lock of #1 and its button:\n%s", code, page)
	}
	if code, page := e.webGet(t, "/", "ops", "s3cret-pass"); code != http.StatusOK || !strings.Contains(page, `<b id="locks">1</b>`) {
		t.Errorf("GET /: %d, want one lock counted:\n%s", code, page)
	}
	if code, page := e.webGet(t, "/?repo=acme/other", "ops", "s3cret-pass"); code != http.StatusOK || !strings.Contains(page, `<b id="locks">0</b>`) {
		t.Errorf("GET / filtered to another repository: %d, want no lock:\n%s", code, page)
	}
	token := csrfField.FindStringSubmatch(page)
	if token == nil {
		t.Fatalf("the locks page has no CSRF token:\n%s", page)
	}
	form := url.Values{"forge": {"github"}, "repo": {"acme/infra"}, "pull": {"1"}, "csrf": {token[1]}}

	// Refused: no token, a wrong one, a form from another site, another
	// user's credentials.
	noToken := url.Values{"forge": {"github"}, "repo": {"acme/infra"}, "pull": {"1"}}
	wrongToken := url.Values{"forge": {"github"}, "repo": {"acme/infra"}, "pull": {"1"}, "csrf": {strings.Repeat("0", 64)}}
	for name, c := range map[string]struct {
		password, origin string
		form             url.Values
		want             int
	}{
		"no token":     {"s3cret-pass", "", noToken, http.StatusForbidden},
		"wrong token":  {"s3cret-pass", "", wrongToken, http.StatusForbidden},
		"another site": {"s3cret-pass", "https://evil.example", form, http.StatusForbidden},
		"bad password": {"nope", "", form, http.StatusUnauthorized},
	} {
		if code, body := e.webPost(t, "/locks/unlock", "ops", c.password, c.origin, c.form); code != c.want {
			t.Errorf("%s: unlock answered %d %s, want %d", name, code, body, c.want)
		}
	}
	if locks, _ := e.server.Locks(t.Context()); len(locks) != 1 {
		t.Fatalf("a refused unlock released locks: %+v", locks)
	}

	n := len(e.f.Comments(pr.Repo, pr.Number))
	code, loc := e.webPost(t, "/locks/unlock", "ops", "s3cret-pass", e.base(), form)
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/locks?done=") {
		t.Fatalf("unlock: %d %s, want a redirect to /locks saying it is queued", code, loc)
	}
	c := e.waitComments(t, pr, n+1)[n]
	for _, want := range []string{"**atoll unlocked this pull request**, as `ops` asked through atoll's web UI.", "Locks released:", "Unapplied plans discarded:"} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("the pull request's comment lacks %q:\n%s", want, c.Body)
		}
	}
	if locks, _ := e.server.Locks(t.Context()); len(locks) != 0 {
		t.Errorf("locks left after the unlock: %+v", locks)
	}
	done, _ := url.QueryUnescape(strings.TrimPrefix(loc, "/locks?done="))
	if code, page := e.webGet(t, "/locks?done="+url.QueryEscape(done), "ops", "s3cret-pass"); code != http.StatusOK || !strings.Contains(page, "No lock is held") || !strings.Contains(page, "Unlocked acme/infra#1 (job ") {
		t.Errorf("the locks page after the unlock: %d\n%s", code, page)
	}
	// Again: nothing to unlock, said so.
	if code, loc := e.webPost(t, "/locks/unlock", "ops", "s3cret-pass", "", form); code != http.StatusSeeOther || !strings.Contains(loc, "error=") {
		t.Errorf("a second unlock: %d %s, want a redirect with an error", code, loc)
	}
}

// An unlock that cannot run yet (here no worker runs jobs) is said to be
// queued.
func TestWebUnlockQueued(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{idle: true, configure: func(c *Config) { c.Web = WebConfig{Username: "ops", Password: "s3cret-pass"} }})
	e.server.web.unlockWait = 100 * time.Millisecond
	// A lock of #1, as a plan would have taken it.
	if _, ok, err := e.server.locker.TryLock(t.Context(), locking.Lock{Key: locking.Key{Forge: "github", Repo: "acme/infra", Dir: ".", Workspace: "default"}, Pull: 1, User: "alice", Time: time.Now()}); err != nil || !ok {
		t.Fatalf("TryLock: %v, %v", ok, err)
	}
	_, page := e.webGet(t, "/locks", "ops", "s3cret-pass")
	token := csrfField.FindStringSubmatch(page)
	if token == nil {
		t.Fatalf("no CSRF token:\n%s", page)
	}
	form := url.Values{"forge": {"github"}, "repo": {"acme/infra"}, "pull": {"1"}, "csrf": {token[1]}}
	code, loc := e.webPost(t, "/locks/unlock", "ops", "s3cret-pass", "", form)
	if done, _ := url.QueryUnescape(loc); code != http.StatusSeeOther || !strings.Contains(done, "Unlock of acme/infra#1 queued (job ") {
		t.Errorf("unlock with no worker: %d %s, want a redirect saying it is queued", code, done)
	}
	if n, _ := e.server.tasks.Pending(t.Context()); n != 1 {
		t.Errorf("%d tasks queued, want the unlock", n)
	}
}

// An open UI asks no one; a UI with a user and no password does not start.
func TestWebOpenAndMisconfigured(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.Web = WebConfig{Open: true} }})
	if code, page := e.webGet(t, "/", "", ""); code != http.StatusOK || !strings.Contains(page, "signed in as anonymous") {
		t.Errorf("GET / of an open UI: %d\n%s", code, page)
	}
	for _, w := range []WebConfig{{Username: "ops"}, {Password: "x"}, {Open: true, Username: "ops", Password: "x"}} {
		cfg := Config{DataDir: t.TempDir(), Tool: testTool(t), Web: w}
		if _, err := New(cfg); err == nil {
			t.Errorf("New with web %+v: no error", w)
		}
	}
}
