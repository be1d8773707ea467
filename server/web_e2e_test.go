package server

import (
	"encoding/json"
	"fmt"
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

// seedLines takes locks and lines of acme/infra (and one of acme/other)
// through e's locker, as plans refused for another's lock would:
//
//   - "." held by #1 since 10m, #2 then #3 in line;
//   - "net" handed to #5 from its line, its plan yet to take it (Turn),
//     #6 in line after it;
//   - "dns" free for a moment, passing to #7;
//   - "solo" held by #8, no line;
//   - acme/other "." held by #1, #2 in line.
func seedLines(t *testing.T, e *testEnv) {
	t.Helper()
	ctx, l := t.Context(), e.server.locker
	now := time.Now()
	key := func(repo, dir string) locking.Key {
		return locking.Key{Forge: "github", Repo: repo, Dir: dir, Workspace: "default"}
	}
	wait := func(k locking.Key, pull int, user string, ago time.Duration, want int) {
		t.Helper()
		if _, place, err := l.Wait(ctx, locking.Lock{Key: k, Pull: pull, User: user, Time: now.Add(-ago)}); err != nil || place != want {
			t.Fatalf("#%d waits for %+v: place %d, %v; want %d", pull, k, place, err, want)
		}
	}
	dot, net, dns := key("acme/infra", "."), key("acme/infra", "net"), key("acme/infra", "dns")
	wait(dot, 1, "alice", 10*time.Minute, 0)
	wait(dot, 2, "bob", 8*time.Minute, 1)
	wait(dot, 3, "<b>carol</b>", 3*time.Minute, 2)
	wait(net, 4, "alice", 20*time.Minute, 0)
	wait(net, 5, "bob", 15*time.Minute, 1)
	wait(net, 6, "carol", 12*time.Minute, 2)
	if ok, err := l.Unlock(ctx, net, 4); err != nil || !ok {
		t.Fatalf("Unlock of net: %v, %v", ok, err)
	}
	if turns, err := l.Pass(ctx); err != nil || len(turns) != 1 || turns[0].Pull != 5 {
		t.Fatalf("Pass: %+v, %v; want net handed to #5", turns, err)
	}
	wait(dns, 6, "carol", 30*time.Minute, 0)
	wait(dns, 7, "dave", 25*time.Minute, 1)
	if ok, err := l.Unlock(ctx, dns, 6); err != nil || !ok {
		t.Fatalf("Unlock of dns: %v, %v", ok, err)
	}
	wait(key("acme/infra", "solo"), 8, "erin", 40*time.Minute, 0)
	wait(key("acme/other", "."), 1, "alice", 2*time.Minute, 0)
	wait(key("acme/other", "."), 2, "bob", time.Minute, 1)
}

// The API and the locks page show each lock's line in order, a lock
// handed over from its line, and a key free for a moment; a pull
// request that only waits can be unlocked.
func TestWebAndAPILines(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{idle: true, configure: func(c *Config) {
		c.Web = WebConfig{Username: "ops", Password: "s3cret-pass"}
		c.APISecret = "api-s3cret"
	}})
	e.server.web.unlockWait = 100 * time.Millisecond
	seedLines(t, e)

	// summary says each entry of GET /api/locks?query in a line:
	// "repo dir #pull [turn|free] (place #pull user minutes-in-line, …)".
	summary := func(query string) string {
		t.Helper()
		code, v := e.apiDo(t, http.MethodGet, "/api/locks"+query, "api-s3cret", "")
		if code != http.StatusOK {
			t.Fatalf("GET /api/locks%s: %d %s", query, code, toJSON(v))
		}
		var locks []struct {
			Repo, Dir string
			Pull      *int
			User      *string
			Since     *time.Time
			Turn      bool
			Free      bool
			Waiting   []struct {
				Pull, Place int
				User        string
				Since       time.Time
			}
		}
		if err := json.Unmarshal([]byte(toJSON(v)), &locks); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, l := range locks {
			fmt.Fprintf(&b, "%s %s", l.Repo, l.Dir)
			if l.Pull != nil {
				fmt.Fprintf(&b, " #%d", *l.Pull)
			}
			if l.Turn {
				b.WriteString(" turn")
			}
			if l.Free {
				b.WriteString(" free")
			}
			if (l.Pull == nil) != l.Free || (l.User == nil) != l.Free || (l.Since == nil) != l.Free {
				b.WriteString(" (pull, user and since should be there when held, not when free)")
			}
			sep := " ("
			for _, w := range l.Waiting {
				fmt.Fprintf(&b, "%s%d #%d %s %s", sep, w.Place, w.Pull, w.User, time.Since(w.Since).Round(time.Minute))
				sep = ", "
			}
			if len(l.Waiting) > 0 {
				b.WriteString(")")
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	want := `acme/infra net #5 turn (1 #6 carol 12m0s)
acme/other . #1 (1 #2 bob 1m0s)
acme/infra . #1 (1 #2 bob 8m0s, 2 #3 <b>carol</b> 3m0s)
acme/infra solo #8
acme/infra dns free (1 #7 dave 25m0s)
`
	if got := summary(""); got != want {
		t.Errorf("GET /api/locks:\n%s\nwant:\n%s", got, want)
	}
	if got, want := summary("?repo=acme/other"), "acme/other . #1 (1 #2 bob 1m0s)\n"; got != want {
		t.Errorf("GET /api/locks?repo=acme/other:\n%s\nwant:\n%s", got, want)
	}
	// A lock with no line has no "waiting", and its fields as before.
	if _, v := e.apiDo(t, http.MethodGet, "/api/locks?repo=acme/infra", "api-s3cret", ""); strings.Count(toJSON(v), `"waiting"`) != 3 {
		t.Errorf("GET /api/locks?repo=acme/infra: want 3 locks with a line, and #8's without:\n%s", toJSON(v))
	}

	code, page := e.webGet(t, "/locks", "ops", "s3cret-pass")
	if code != http.StatusOK {
		t.Fatalf("GET /locks: %d\n%s", code, page)
	}
	for _, want := range []string{
		`<ol class="line" aria-label="line for acme/infra . in default">`,
		`<li><b>1st</b> #2 <span class="muted">for bob, joined <span title="`,
		`<li><b>2nd</b> #3 <span class="muted">for &lt;b&gt;carol&lt;/b&gt;, joined <span title="`,
		`aria-label="unlock acme/infra#3">Unlock #3</button>`,
		`#5<br><span class="muted">handed over from the line; its plan is queued</span>`,
		`<td>free; passing to #7</td>`,
		`aria-label="unlock acme/infra#7">Unlock #7</button>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the locks page lacks %s", want)
		}
	}
	if i, j := strings.Index(page, "<b>1st</b> #2"), strings.Index(page, "<b>2nd</b> #3"); i < 0 || j < i || strings.Contains(page, "<b>carol</b>") {
		t.Errorf("the locks page shows #1's line out of order, or a user unescaped:\n%s", page)
	}
	if _, page := e.webGet(t, "/?repo=acme/infra", "ops", "s3cret-pass"); !strings.Contains(page, `<b id="locks">3</b>`) || !strings.Contains(page, "in line: 1st #2, 2nd #3") || !strings.Contains(page, "free; passing to #7") {
		t.Errorf("the overview of acme/infra: want 3 locks held, #1's line and the free key:\n%s", page)
	}

	// #3 only waits: the API and the UI queue its unlock; #99 neither
	// holds nor waits.
	code, v := e.apiDo(t, http.MethodPost, "/api/unlock", "api-s3cret", `{"forge":"github","repo":"acme/infra","pull":3}`)
	if code != http.StatusAccepted || !strings.Contains(toJSON(v), `"job"`) {
		t.Errorf("POST /api/unlock of #3, which waits: %d %s, want 202 and a job", code, toJSON(v))
	}
	code, v = e.apiDo(t, http.MethodPost, "/api/unlock", "api-s3cret", `{"forge":"github","repo":"acme/infra","pull":99}`)
	if code != http.StatusNotFound || !strings.Contains(toJSON(v), "holds no lock and waits in no line") {
		t.Errorf("POST /api/unlock of #99: %d %s, want 404", code, toJSON(v))
	}
	token := csrfField.FindStringSubmatch(page)
	if token == nil {
		t.Fatalf("no CSRF token:\n%s", page)
	}
	form := url.Values{"forge": {"github"}, "repo": {"acme/infra"}, "pull": {"7"}, "csrf": {token[1]}}
	code, loc := e.webPost(t, "/locks/unlock", "ops", "s3cret-pass", "", form)
	if done, _ := url.QueryUnescape(loc); code != http.StatusSeeOther || !strings.Contains(done, "Unlock of acme/infra#7 queued (job ") {
		t.Errorf("unlock of #7, which waits for a free key: %d %s, want a redirect saying it is queued", code, done)
	}
	if n, _ := e.server.tasks.Pending(t.Context()); n != 2 {
		t.Errorf("%d tasks queued, want the unlocks of #3 and #7", n)
	}
	form.Set("pull", "99")
	if code, loc := e.webPost(t, "/locks/unlock", "ops", "s3cret-pass", "", form); code != http.StatusSeeOther || !strings.Contains(loc, "error=") {
		t.Errorf("unlock of #99: %d %s, want a redirect with an error", code, loc)
	}
}
