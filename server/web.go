package server

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/joblog"
	"github.com/atoll-iac/atoll/runner/report"
)

//go:embed web/*.html web/live.js
var webFiles embed.FS

// pages are the web UI's templates, each page with the layout.
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"since":   func(t time.Time) string { return since(time.Since(t)) },
	"took":    func(d time.Duration) string { return d.Round(100 * time.Millisecond).String() },
	"utc":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"ordinal": report.Ordinal,
	"unlockButton": func(csrf string, key locking.Key, pull int) unlockButton {
		return unlockButton{CSRF: csrf, Forge: key.Forge, Repo: key.Repo, Pull: pull}
	},
}).ParseFS(webFiles, "web/*.html"))

// unlockButton is what the unlock form of one pull request posts.
type unlockButton struct {
	CSRF, Forge, Repo string
	Pull              int
}

// web serves the UI: who may use it (basic auth, unless open), and the
// token its forms carry against cross-site requests.
type web struct {
	s    *Server
	cfg  WebConfig
	csrf []byte // the key CSRF tokens are made with
	// unlockWait is how long an unlock form waits for the unlock to run
	// before it answers that it is queued.
	unlockWait time.Duration
}

// newWeb returns the UI of s. Its CSRF key comes from the password, so
// that every replica of one configuration takes the others' forms; an
// open UI has a key of its own (its forms then need their replica).
func newWeb(s *Server, cfg WebConfig) *web {
	w := &web{s: s, cfg: cfg, unlockWait: 3 * time.Second}
	if cfg.Password != "" {
		sum := sha256.Sum256([]byte("atoll web csrf\x00" + cfg.Username + "\x00" + cfg.Password))
		w.csrf = sum[:]
	} else {
		w.csrf = make([]byte, 32)
		rand.Read(w.csrf)
	}
	return w
}

// route adds the UI's pages to mux.
func (w *web) route(mux *http.ServeMux) {
	mux.Handle("GET /{$}", w.auth(w.index))
	mux.Handle("GET /locks", w.auth(w.locks))
	mux.Handle("POST /locks/unlock", w.auth(w.unlock))
	mux.Handle("GET /jobs/{id}", w.auth(w.job))
	mux.Handle("GET /jobs/{id}/events", w.auth(w.tail))
	mux.Handle("GET /web/live.js", w.auth(w.script))
}

// auth lets a request through to next once it names the UI's user and
// password (compared in constant time), or when the UI is open; else it
// answers 401, asking the browser for them.
func (w *web) auth(next func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'")
		rw.Header().Set("X-Content-Type-Options", "nosniff")
		rw.Header().Set("Referrer-Policy", "same-origin")
		if w.cfg.Open {
			next(rw, r, "anonymous")
			return
		}
		user, pass, ok := r.BasicAuth()
		userOK := subtle.ConstantTimeCompare([]byte(user), []byte(w.cfg.Username)) == 1
		passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(w.cfg.Password)) == 1
		if !ok || !userOK || !passOK {
			rw.Header().Set("WWW-Authenticate", `Basic realm="atoll", charset="UTF-8"`)
			http.Error(rw, "atoll's web UI needs its user name and password", http.StatusUnauthorized)
			return
		}
		next(rw, r, user)
	})
}

// script serves the one script, which follows a running job's output.
func (w *web) script(rw http.ResponseWriter, r *http.Request, _ string) {
	rw.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	http.ServeFileFS(rw, r, webFiles, "web/live.js")
}

// token is the CSRF token of user's forms.
func (w *web) token(user string) string {
	m := hmac.New(sha256.New, w.csrf)
	m.Write([]byte("form\x00" + user))
	return hex.EncodeToString(m.Sum(nil))
}

// sameOrigin refuses a form posted from another site: one whose token is
// not user's, or whose Origin, when the browser sends one, is another
// host.
func (w *web) sameOrigin(r *http.Request, user string) error {
	if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(w.token(user))) {
		return errors.New("the form's token is missing or wrong: reload the page and try again")
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			return errors.New("the form was posted from another site")
		}
	}
	return nil
}

// pageData is what every page gets.
type pageData struct {
	Title string
	User  string
	CSRF  string
	// Repo filters the lists by repository.
	Repo string
	// Locks are the locks held, each with its line, then the keys free
	// for a moment whose line has yet to get them.
	Locks []lockLine
	// Queue is the number of tasks waiting or running; Oldest how long
	// ago the oldest was recorded, "" when none.
	Queue  int
	Oldest string
	// Flash says what the last form did; Error what went wrong.
	Flash, Error string
	// Jobs are the newest jobs (the overview); Job and Output one job
	// and its output so far (its page).
	Jobs   []joblog.Record
	Job    *joblog.Record
	Output string
	// Drift are the last drift checks of the repositories checked.
	Drift []runner.DriftReport
}

// Held is the number of locks held.
func (d pageData) Held() int {
	n := 0
	for _, l := range d.Locks {
		if !l.Free {
			n++
		}
	}
	return n
}

func (w *web) index(rw http.ResponseWriter, r *http.Request, user string) {
	d, err := w.withLocks(r, user, "atoll")
	if err == nil {
		d.Jobs, err = w.s.records.List(r.Context(), d.Repo, 50)
	}
	if err == nil {
		d.Drift, err = w.s.drift.all(r.Context(), d.Repo)
	}
	if err == nil {
		d.Queue, err = w.s.tasks.Pending(r.Context())
	}
	if err == nil {
		var oldest time.Time
		var ok bool
		if oldest, ok, err = w.s.tasks.Oldest(r.Context()); ok {
			d.Oldest = since(time.Since(oldest))
		}
	}
	w.render(rw, "index.html", d, err)
}

func (w *web) locks(rw http.ResponseWriter, r *http.Request, user string) {
	d, err := w.withLocks(r, user, "Locks · atoll")
	d.Flash, d.Error = r.URL.Query().Get("done"), r.URL.Query().Get("error")
	w.render(rw, "locks.html", d, err)
}

// unlock queues the unlock of the pull request the form names, and
// sends the browser back to the locks, saying what became of it.
func (w *web) unlock(rw http.ResponseWriter, r *http.Request, user string) {
	if err := w.sameOrigin(r, user); err != nil {
		http.Error(rw, err.Error(), http.StatusForbidden)
		return
	}
	forge, repo := r.PostFormValue("forge"), r.PostFormValue("repo")
	number, err := strconv.Atoi(r.PostFormValue("pull"))
	if err != nil || number < 0 || forge == "" || repo == "" {
		http.Error(rw, "the form names no pull request", http.StatusBadRequest)
		return
	}
	back := url.Values{}
	name, told := pullName(repo, number), ", and the pull request is told"
	if number == 0 {
		told = ""
	}
	id, err := w.s.Unlock(r.Context(), forge, repo, number, user, "web UI")
	switch {
	case errors.Is(err, errNoLocks):
		back.Set("error", fmt.Sprintf("%s holds no lock and waits in no line any more.", name))
	case err != nil:
		w.s.log.Error("web: queueing an unlock", "err", err)
		back.Set("error", "atoll could not queue the unlock; its log says why.")
	case w.unlocked(r.Context(), forge, repo, number):
		back.Set("done", fmt.Sprintf("Unlocked %s (job %s): its locks are released, its places in line given up, its plans discarded%s.", name, id, told))
	default:
		back.Set("done", fmt.Sprintf("Unlock of %s queued (job %s): its locks and places in line go once the jobs queued before it end%s.", name, id, told))
	}
	http.Redirect(rw, r, "/locks?"+back.Encode(), http.StatusSeeOther)
}

// unlocked waits a little (unlockWait) for the pull request's unlock to
// run, as it does at once when no job of the pull request runs, so that
// the page shown next tells its outcome; it reports whether the pull
// request now holds no lock and waits in no line.
func (w *web) unlocked(ctx context.Context, forge, repo string, number int) bool {
	deadline := time.Now().Add(w.unlockWait)
	for {
		locked, err := w.s.locked(ctx, forge, repo, number)
		if err == nil && !locked {
			return true
		}
		if err != nil || time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// data is what every page has: its title, the user, the form token and
// the repository the query filters by, if any.
func (w *web) data(r *http.Request, user, title string) pageData {
	return pageData{Title: title, User: user, CSRF: w.token(user), Repo: strings.TrimSpace(r.URL.Query().Get("repo"))}
}

// withLocks is data with the locks held, newest first, and their lines,
// of the repository the query names, if any: what the overview and the
// locks page list.
func (w *web) withLocks(r *http.Request, user, title string) (pageData, error) {
	d := w.data(r, user, title)
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var err error
	d.Locks, err = w.s.lockLines(ctx, d.Repo)
	return d, err
}

// render writes page with d; a page whose data could not be read says
// so, with a 503.
func (w *web) render(rw http.ResponseWriter, page string, d pageData, err error) {
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err != nil {
		w.s.log.Error("web: reading a page's data", "page", page, "err", err)
		rw.WriteHeader(http.StatusServiceUnavailable)
		d.Error = cmp.Or(d.Error, "atoll cannot read its store right now; its log says why.")
	}
	if err := pages.ExecuteTemplate(rw, page, d); err != nil {
		w.s.log.Error("web: rendering", "page", page, "err", err)
	}
}

// since says a duration as people do: "12s", "5m", "3h", "2d".
func since(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
