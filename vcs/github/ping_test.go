package github

import (
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// TestPing asks a GitHub that answers /rate_limit in each of the ways
// GitHub does, or not at all, whether it takes the token.
func TestPing(t *testing.T) {
	t.Parallel()
	const rateLimitOff = `{"message":"Rate limiting is not enabled.","documentation_url":"https://docs.github.com/enterprise-server/rest"}`
	tests := []struct {
		name string
		// answers are, by path, the status and body the server answers.
		answers map[string]string
		status  map[string]int
		token   string
		down    bool
		wantErr bool
		// asked are the paths Ping asks for.
		asked []string
	}{
		{name: "rate limit", status: map[string]int{"/rate_limit": 200}, answers: map[string]string{"/rate_limit": `{"resources":{"core":{"limit":5000,"used":1,"remaining":4999,"reset":1}}}`},
			asked: []string{"/rate_limit"}},
		{name: "bad token", status: map[string]int{"/rate_limit": 401}, answers: map[string]string{"/rate_limit": `{"message":"Bad credentials"}`},
			wantErr: true, asked: []string{"/rate_limit"}},
		{name: "server error", status: map[string]int{"/rate_limit": 502}, answers: map[string]string{"/rate_limit": `{"message":"Server Error"}`},
			wantErr: true, asked: []string{"/rate_limit"}},
		{name: "enterprise server without rate limiting", status: map[string]int{"/rate_limit": 404, "/user": 200},
			answers: map[string]string{"/rate_limit": rateLimitOff, "/user": `{"login":"atoll-bot"}`}, asked: []string{"/rate_limit", "/user"}},
		{name: "enterprise server without rate limiting, bad token", status: map[string]int{"/rate_limit": 404, "/user": 401},
			answers: map[string]string{"/rate_limit": rateLimitOff, "/user": `{"message":"Bad credentials"}`}, wantErr: true, asked: []string{"/rate_limit", "/user"}},
		{name: "unreachable", down: true, wantErr: true},
		{name: "no token", token: "-", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				mu    sync.Mutex
				asked []string
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				asked = append(asked, r.URL.Path)
				mu.Unlock()
				if r.Header.Get("Authorization") != "Bearer ghp_ping" {
					t.Errorf("%s asked with Authorization %q", r.URL.Path, r.Header.Get("Authorization"))
				}
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(tt.status[r.URL.Path])
				w.Write([]byte(tt.answers[r.URL.Path]))
			}))
			t.Cleanup(srv.Close)
			apiURL := srv.URL
			if tt.down {
				apiURL = closedURL(t)
			}
			token := "ghp_ping"
			if tt.token == "-" {
				token = ""
			}
			f, err := New(Config{Token: token, APIURL: apiURL})
			if err != nil {
				t.Fatal(err)
			}
			err = f.Ping(t.Context())
			if (err != nil) != tt.wantErr {
				t.Errorf("Ping = %v, want an error: %v", err, tt.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if !tt.down && !slices.Equal(asked, tt.asked) {
				t.Errorf("Ping asked for %q, want %q", asked, tt.asked)
			}
		})
	}
}

// closedURL is the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/"
}

// TestPingCostsNoRateLimit pings the fake GitHub, which meters its API
// as GitHub does: the ping takes the token, refuses another, counts
// against no limit and goes through when the limit is spent.
func TestPingCostsNoRateLimit(t *testing.T) {
	t.Parallel()
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_ping"})
	f, err := New(Config{Token: "ghp_ping", APIURL: gh.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Ping(t.Context()); err != nil {
		t.Errorf("Ping = %v", err)
	}
	if n := gh.APIStats().Requests; n != 0 {
		t.Errorf("%d requests metered, want none", n)
	}
	gh.SetRateLimit(0, time.Now().Add(time.Hour))
	if err := f.Ping(t.Context()); err != nil {
		t.Errorf("Ping with the rate limit spent = %v", err)
	}
	wrong, err := New(Config{Token: "ghp_wrong", APIURL: gh.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Ping(t.Context()); err == nil {
		t.Error("Ping with a wrong token = nil, want an error")
	}
}
