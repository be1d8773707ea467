package gitlab

import (
	"net"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// TestPing asks the fake GitLab, or a port nothing listens on, whether
// it takes a token.
func TestPing(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitLab(t, vcstest.GitLabOptions{Token: "glpat-ping"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	tests := []struct {
		name, token, url string
		wantErr          bool
	}{
		{"the token", "glpat-ping", g.URL(), false},
		{"another token", "glpat-wrong", g.URL(), true},
		{"no token", "", g.URL(), true},
		{"unreachable", "glpat-ping", closed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := New(Config{Token: tt.token, URL: tt.url})
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Ping(t.Context()); (err != nil) != tt.wantErr {
				t.Errorf("Ping = %v, want an error: %v", err, tt.wantErr)
			}
		})
	}
}
