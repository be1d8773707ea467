package vcstest

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// APIStats counts the authenticated API requests a fake answered.
type APIStats struct {
	// Requests counts every authenticated API request answered, REST and
	// GraphQL, whatever the answer.
	Requests int
	// NotModified counts those answered 304 because their If-None-Match
	// named the answer's ETag.
	NotModified int
	// Limited counts those refused for the rate limit.
	Limited int
}

// quota is one rate-limit window: used of limit requests until reset.
type quota struct {
	limit, used int
	reset       time.Time
}

func (q quota) remaining() int { return max(0, q.limit-q.used) }

// rateStyle is how a forge meters its API: the size of a window, what
// counts, and how it says so.
type rateStyle struct {
	limit  int
	window time.Duration
	// main is the resource SetRateLimit sets; resource names the one a
	// request draws on ("core" or "graphql" on GitHub).
	main     string
	resource func(r *http.Request) string
	// weakETag marks ETags W/"…", as GitLab's; GitHub's are strong.
	weakETag bool
	// free304 leaves a 304 out of the count, as GitHub does.
	free304 bool
	// countRefused counts refused requests as used, as GitLab's
	// RateLimit-Observed does.
	countRefused bool
	// offUntilSet leaves requests unlimited, and their answers without
	// rate-limit headers, until SetRateLimit: a self-managed GitLab has
	// no limit unless its administrator sets one.
	offUntilSet bool
	// headers sets the rate-limit headers of an answer; refuse answers a
	// request the limit refuses.
	headers func(h http.Header, resource string, q quota)
	refuse  func(w http.ResponseWriter, resource string, q quota)
}

// meter is the middleware every authenticated API request goes through:
// the rate limit, and conditional GETs answered from a hash of the body.
type meter struct {
	style  rateStyle
	mu     sync.Mutex
	quotas map[string]*quota
	stats  APIStats
	// limited is set once SetRateLimit was called.
	limited bool
}

func newMeter(style rateStyle) *meter {
	return &meter{style: style, quotas: map[string]*quota{}}
}

// wholeSecond is t rounded up to a whole second, as forges report resets.
func wholeSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// quotaLocked is the window of resource now, a new one when the last has
// ended.
func (m *meter) quotaLocked(resource string, now time.Time) *quota {
	q := m.quotas[resource]
	if q == nil {
		q = &quota{}
		m.quotas[resource] = q
	}
	if !now.Before(q.reset) {
		*q = quota{limit: m.style.limit, reset: wholeSecond(now.Add(m.style.window))}
	}
	return q
}

// set starts a window of the main resource in which remaining requests
// are left until reset.
func (m *meter) set(remaining int, reset time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.limited = true
	limit := max(m.style.limit, remaining)
	m.quotas[m.style.main] = &quota{limit: limit, used: limit - max(0, remaining), reset: wholeSecond(reset)}
}

func (m *meter) snapshot() APIStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// off reports whether no limit applies yet.
func (m *meter) off() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.style.offUntilSet && !m.limited
}

// take counts a request against resource's limit, and reports whether
// the limit lets it through; a request refused is counted in the stats
// at once.
func (m *meter) take(resource string) (quota, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.quotaLocked(resource, time.Now())
	if m.style.offUntilSet && !m.limited {
		return *q, true
	}
	if q.remaining() == 0 {
		m.stats.Requests++
		m.stats.Limited++
		if m.style.countRefused {
			q.used++
		}
		return *q, false
	}
	q.used++
	return *q, true
}

// notModified counts a 304, giving back what it used if it is free.
func (m *meter) notModified(resource string, q quota) quota {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Requests++
	m.stats.NotModified++
	if cur := m.quotas[resource]; m.style.free304 && cur != nil && cur.reset.Equal(q.reset) {
		cur.used = max(0, cur.used-1)
		return *cur
	}
	return q
}

// serve answers r with next, metered. GET answers are buffered so that a
// 200 with a JSON body carries an ETag, and a request whose If-None-Match
// names it is answered 304 without a body.
func (m *meter) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	resource := m.style.resource(r)
	q, ok := m.take(resource)
	if !ok {
		m.style.refuse(w, resource, q)
		return
	}
	headers := m.style.headers
	if m.off() {
		headers = func(http.Header, string, quota) {}
	}
	if r.Method != http.MethodGet {
		m.answered()
		headers(w.Header(), resource, q)
		next.ServeHTTP(w, r)
		return
	}
	rec := &recorder{header: w.Header()}
	next.ServeHTTP(rec, r)
	status := cmp.Or(rec.status, http.StatusOK)
	if status == http.StatusOK && isJSON(rec.header) {
		tag := m.etag(rec.body.Bytes())
		rec.header.Set("ETag", tag)
		if etagMatch(r.Header.Get("If-None-Match"), tag) {
			q = m.notModified(resource, q)
			rec.header.Del("Content-Type")
			headers(rec.header, resource, q)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	m.answered()
	headers(rec.header, resource, q)
	w.WriteHeader(status)
	_, _ = w.Write(rec.body.Bytes()) // the client hung up
}

// answered counts a request answered other than 304 or refused; those
// count with their kind, at once, so that a snapshot never holds a
// request without its kind.
func (m *meter) answered() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Requests++
}

// etag is the entity tag of body: its SHA-256, the whole of it for GitHub
// and the first 32 hex digits, weak, for GitLab.
func (m *meter) etag(body []byte) string {
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	if m.style.weakETag {
		return `W/"` + h[:32] + `"`
	}
	return `"` + h + `"`
}

// etagMatch is If-None-Match's weak comparison: header lists tag, or is
// "*".
func etagMatch(header, tag string) bool {
	if header == "" {
		return false
	}
	want := strings.TrimPrefix(tag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

func isJSON(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "application/json"
}

// recorder holds an answer until the meter has seen it. Its header is the
// real writer's, so that what the handler sets is sent.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
