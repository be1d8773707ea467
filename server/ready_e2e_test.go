package server

import (
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking/redistest"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/gitlab"
)

// TestReadyz asks /readyz of servers of GitHub and GitLab whose forges
// answer, refuse the token, cannot be reached or never answer: it is
// ready only when the store and both forges answer, and names what does
// not. /healthz, the liveness probe, stays 200 throughout.
func TestReadyz(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// github and gitlab change the forges' configurations.
		github  func(t *testing.T, c *github.Config)
		gitlab  func(t *testing.T, c *gitlab.Config)
		code    int
		failing []string
		checks  map[string]string
	}{
		{name: "all answer", code: http.StatusOK,
			checks: map[string]string{"store": "ok", "github": "ok", "gitlab": "ok"}},
		{name: "github unreachable", github: func(t *testing.T, c *github.Config) { c.APIURL = "http://" + closedAddr(t) + "/api/v3/" },
			code: http.StatusServiceUnavailable, failing: []string{"github"},
			checks: map[string]string{"store": "ok", "github": "error", "gitlab": "ok"}},
		{name: "github refuses the token", github: func(t *testing.T, c *github.Config) { c.Token = "ghp_revoked" },
			code: http.StatusServiceUnavailable, failing: []string{"github"},
			checks: map[string]string{"store": "ok", "github": "error", "gitlab": "ok"}},
		{name: "gitlab never answers", gitlab: func(t *testing.T, c *gitlab.Config) { c.URL = "http://" + silentAddr(t) },
			code: http.StatusServiceUnavailable, failing: []string{"gitlab"},
			checks: map[string]string{"store": "ok", "github": "ok", "gitlab": "timeout"}},
		{name: "both down",
			github: func(t *testing.T, c *github.Config) { c.APIURL = "http://" + silentAddr(t) + "/api/v3/" },
			gitlab: func(t *testing.T, c *gitlab.Config) { c.URL = "http://" + closedAddr(t) },
			code:   http.StatusServiceUnavailable, failing: []string{"github", "gitlab"},
			checks: map[string]string{"store": "ok", "github": "timeout", "gitlab": "error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gl := newTestGitLab(t)
			e := newTestEnv(t, testOptions{configure: func(c *Config) {
				c.GitLab = gitlab.Config{Token: testGitLabToken, WebhookSecret: testSecret, URL: gl.URL()}
				if tt.github != nil {
					tt.github(t, &c.GitHub)
				}
				if tt.gitlab != nil {
					tt.gitlab(t, &c.GitLab)
				}
			}})
			start := time.Now()
			code, rd := getReadyz(t, e)
			if took := time.Since(start); took > readyTimeout+time.Second {
				t.Errorf("/readyz took %v, want at most about %v", took, readyTimeout)
			}
			wantStatus := map[int]string{http.StatusOK: "ready", http.StatusServiceUnavailable: "not ready"}[tt.code]
			if code != tt.code || rd.Status != wantStatus || !slices.Equal(rd.Failing, tt.failing) || !maps.Equal(rd.Checks, tt.checks) {
				t.Errorf("/readyz = %d %+v, want %d %q failing %q, checks %v", code, rd, tt.code, wantStatus, tt.failing, tt.checks)
			}
			if code := getStatus(t, e, "/healthz"); code != http.StatusOK {
				t.Errorf("/healthz = %d, want 200 whatever the forges do", code)
			}
		})
	}
}

// TestReadyzStore loses Redis: /readyz names the store until it is back.
func TestReadyzStore(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.Redis = RedisConfig{Addr: srv.Addr} }})
	if code, rd := getReadyz(t, e); code != http.StatusOK || rd.Status != "ready" {
		t.Fatalf("/readyz with Redis up = %d %+v", code, rd)
	}
	srv.Stop()
	code, rd := getReadyz(t, e)
	if code != http.StatusServiceUnavailable || rd.Status != "not ready" || !slices.Equal(rd.Failing, []string{"store"}) || rd.Checks["github"] != "ok" {
		t.Errorf("/readyz with Redis down = %d %+v, want 503 failing [store], github ok", code, rd)
	}
	srv.Restart()
	e.gh.WaitFor(t, waitLong, "/readyz once Redis is back", func() bool {
		code, _ := getReadyz(t, e)
		return code == http.StatusOK
	})
}

// TestReadyzBody pins /readyz's JSON, which probes and people read.
func TestReadyzBody(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{configure: func(c *Config) { c.GitHub.Token = "ghp_revoked" }})
	resp, err := http.Get(e.base() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"status":"not ready","failing":["github"],"checks":{"github":"error","store":"ok"}}` + "\n"
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != want || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("/readyz = %d %s %q, want 503 application/json %q", resp.StatusCode, resp.Header.Get("Content-Type"), string(body), want)
	}
}

// getReadyz asks e's /readyz.
func getReadyz(t *testing.T, e *testEnv) (int, readiness) {
	t.Helper()
	resp, err := http.Get(e.base() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rd readiness
	if err := json.NewDecoder(resp.Body).Decode(&rd); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	return resp.StatusCode, rd
}

// getStatus asks e for path and returns the status code.
func getStatus(t *testing.T, e *testEnv, path string) int {
	t.Helper()
	resp, err := http.Get(e.base() + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// closedAddr is a loopback address nothing listens on: connecting is
// refused at once.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentAddr is a loopback address that takes connections and never
// answers on them, until the test ends.
func silentAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}
