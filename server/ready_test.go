package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/github"
)

// pingless hides its forge's Ping: a forge without the ability.
type pingless struct{ vcs.Forge }

// stuck is a forge whose Ping ignores its deadline and never returns
// until the test ends.
type stuck struct {
	vcs.Forge
	release <-chan struct{}
}

func (s stuck) Ping(context.Context) error {
	<-s.release
	return nil
}

// TestReadyzChecks runs /readyz's handler on servers whose store and
// forge are stand-ins: forges without Ping are not asked, and a check
// that outlives its deadline is a timeout, answered in time.
func TestReadyzChecks(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	gh, err := github.New(github.Config{Token: "ghp_x", APIURL: "http://" + closedAddr(t) + "/"})
	if err != nil {
		t.Fatal(err)
	}
	storeUp := func(context.Context) error { return nil }
	storeDown := func(context.Context) error { return errors.New("dial tcp: connection refused") }
	tests := []struct {
		name   string
		store  func(context.Context) error
		forges []vcs.Forge
		code   int
		checks map[string]string
	}{
		{"no forge", storeUp, nil, http.StatusOK, map[string]string{"store": "ok"}},
		{"a forge without Ping", storeUp, []vcs.Forge{pingless{gh}}, http.StatusOK, map[string]string{"store": "ok"}},
		{"a forge with Ping", storeUp, []vcs.Forge{gh}, http.StatusServiceUnavailable, map[string]string{"store": "ok", "github": "error"}},
		{"store down", storeDown, []vcs.Forge{pingless{gh}}, http.StatusServiceUnavailable, map[string]string{"store": "error"}},
		{"a check that ignores its deadline", storeUp, []vcs.Forge{stuck{gh, release}}, http.StatusServiceUnavailable, map[string]string{"store": "ok", "github": "timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), forges: tt.forges, pingStore: tt.store}
			rec := httptest.NewRecorder()
			start := time.Now()
			(&readyProbe{s: s}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if took := time.Since(start); took > readyTimeout+time.Second {
				t.Errorf("/readyz took %v, want at most about %v", took, readyTimeout)
			}
			var rd readiness
			if err := json.Unmarshal(rec.Body.Bytes(), &rd); err != nil {
				t.Fatalf("/readyz body %q: %v", rec.Body, err)
			}
			if rec.Code != tt.code || !maps.Equal(rd.Checks, tt.checks) {
				t.Errorf("/readyz = %d %s, want %d with checks %v", rec.Code, rec.Body, tt.code, tt.checks)
			}
		})
	}
}

// counted is a forge whose Ping answers yes and counts the calls.
type counted struct {
	vcs.Forge
	pings *atomic.Int32
}

func (c counted) Ping(context.Context) error {
	c.pings.Add(1)
	return nil
}

// TestReadyzAsksForgesSparingly asks /readyz often and at once: the
// forge is asked once, the store every time.
func TestReadyzAsksForgesSparingly(t *testing.T) {
	t.Parallel()
	gh, err := github.New(github.Config{Token: "ghp_x"})
	if err != nil {
		t.Fatal(err)
	}
	var pings, storePings atomic.Int32
	s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), forges: []vcs.Forge{counted{gh, &pings}},
		pingStore: func(context.Context) error { storePings.Add(1); return nil }}
	probe := &readyProbe{s: s}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			probe.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != http.StatusOK {
				t.Errorf("/readyz = %d %s", rec.Code, rec.Body)
			}
		})
	}
	wg.Wait()
	if pings.Load() != 1 || storePings.Load() != 20 {
		t.Errorf("20 requests pinged the forge %d times and the store %d, want 1 and 20", pings.Load(), storePings.Load())
	}
	// Once the answer is older than forgeCheckReuse, the forge is asked
	// again.
	probe.mu.Lock()
	probe.at = probe.at.Add(-forgeCheckReuse)
	probe.mu.Unlock()
	probe.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if pings.Load() != 2 {
		t.Errorf("the forge was pinged %d times, want 2 once the last answer is stale", pings.Load())
	}
}
