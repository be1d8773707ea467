package vcstest_test

import (
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// tlsForge is a fake as a client sees it over HTTPS.
type tlsForge interface {
	forge
	Certificate() *x509.Certificate
	CAFile() string
	Client() *http.Client
	Connections() vcstest.Connections
}

// With TLS, each fake serves its API and git over HTTPS, HTTP/2 offered,
// to clients that trust its certificate and to no others; by default,
// plain HTTP.
func TestTLS(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		new  func(t *testing.T, tls bool) tlsForge
	}{
		{"github", func(t *testing.T, tls bool) tlsForge { return vcstest.NewGitHub(t, vcstest.GitHubOptions{TLS: tls}) }},
		{"gitlab", func(t *testing.T, tls bool) tlsForge { return vcstest.NewGitLab(t, vcstest.GitLabOptions{TLS: tls}) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			plain := c.new(t, false)
			if !strings.HasPrefix(plain.URL(), "http://") || plain.Certificate() != nil || plain.CAFile() != "" {
				t.Errorf("by default: URL %s, certificate %v, CA file %q; want plain HTTP", plain.URL(), plain.Certificate(), plain.CAFile())
			}
			f := c.new(t, true)
			if !strings.HasPrefix(f.URL(), "https://") || !strings.HasPrefix(f.CloneURL("acme/infra"), "https://") || f.Certificate() == nil {
				t.Fatalf("with TLS: URL %s, clone URL %s, certificate %v", f.URL(), f.CloneURL("acme/infra"), f.Certificate())
			}
			f.CreateRepo(t, "acme/infra", map[string]string{"main.tf": "# x\n"})

			var unknown x509.UnknownAuthorityError
			if _, err := http.Get(f.APIURL() + "user"); !errors.As(err, &unknown) {
				t.Errorf("an API call that does not trust the fake: %v, want an unknown authority", err)
			}
			req, err := http.NewRequest(http.MethodGet, f.APIURL()+"user", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+f.Token())
			client := f.Client()
			for range 2 {
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" || !strings.Contains(string(body), f.BotLogin()) {
					t.Errorf("GET user through Client: %s over %s\n%s", resp.Status, resp.Proto, body)
				}
			}

			auth := basicAuth(f.Token())
			if out, err := git(t, "", "-c", auth, "ls-remote", f.CloneURL("acme/infra")); err == nil {
				t.Errorf("git trusted the fake without its CA:\n%s", out)
			}
			out, err := git(t, "", "-c", auth, "-c", "http.sslCAInfo="+f.CAFile(), "ls-remote", f.CloneURL("acme/infra"), "refs/heads/main")
			if err != nil || !strings.Contains(out, "refs/heads/main") {
				t.Errorf("git ls-remote with the fake's CA: %v\n%s", err, out)
			}
			// Connections that carried a request: the client's one, reused;
			// git's.
			if got := f.Connections(); got.API != 1 || got.Git < 1 {
				t.Errorf("Connections = %+v, want 1 to the API and some for git", got)
			}
		})
	}
}
