package github

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// newAppForge returns a forge that acts as the fake's App, with key.
func newAppForge(t *testing.T, g *vcstest.GitHub, app *vcstest.App, key []byte) *Forge {
	t.Helper()
	f, err := New(Config{AppID: app.ID, AppKey: key, APIURL: g.APIURL()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestApp speaks as a GitHub App installed on two accounts: as the App
// (who it is, whether its key is taken), and for each repository as the
// installation on its owner's account, with one token per installation.
func TestApp(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "ghp_unused"})
	app := g.EnableApp(t, vcstest.AppOptions{Slug: "atoll-test"})
	acme, globex := g.Install(t, "acme"), g.Install(t, "globex")
	g.CreateRepo(t, "acme/infra", map[string]string{"main.tf": "locals {}\n"})
	g.CreateRepo(t, "globex/network", map[string]string{"main.tf": "locals {}\n"})
	g.CreateRepo(t, "initech/app", map[string]string{"main.tf": "locals {}\n"})
	f := newAppForge(t, g, app, app.KeyPEM)
	ctx := t.Context()

	if err := f.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if who, err := f.CurrentUser(ctx); err != nil || who != "atoll-test[bot]" {
		t.Errorf("CurrentUser = %q, %v; want the App's bot", who, err)
	}
	for _, repo := range []string{"acme/infra", "globex/network"} {
		pr := g.OpenPull(t, repo, vcstest.PullSpec{Files: map[string]string{"main.tf": "locals { a = 1 }\n"}})
		if _, err := f.Comment(ctx, vcs.Repo{FullName: repo}, pr.Number, "hello"); err != nil {
			t.Errorf("commenting on %s#%d: %v", repo, pr.Number, err)
		}
		if cs := g.Comments(repo, pr.Number); len(cs) != 1 || cs[0].Author != "atoll-test[bot]" {
			t.Errorf("comments on %s#%d: %+v; want one by the App's bot", repo, pr.Number, cs)
		}
	}
	repos, err := f.Repos(ctx)
	slices.Sort(repos)
	if err != nil || !slices.Equal(repos, []string{"acme/infra", "globex/network"}) {
		t.Errorf("Repos = %v, %v; want the two installations' repositories", repos, err)
	}
	auth, err := f.CloneAuth(ctx, "globex/network")
	if err != nil {
		t.Fatal(err)
	}
	user, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "Basic "))
	minted := g.TokensMinted()
	i := slices.IndexFunc(minted, func(m vcstest.MintedToken) bool { return m.Installation == globex })
	if i < 0 || string(user) != "x-access-token:"+minted[i].Token {
		t.Errorf("CloneAuth(globex/network) = %q; want globex's installation token", user)
	}
	perInstallation := map[int64]int{}
	for _, m := range minted {
		perInstallation[m.Installation]++
	}
	if perInstallation[acme] != 1 || perInstallation[globex] != 1 || len(perInstallation) != 2 {
		t.Errorf("tokens minted: %v; want one per installation, reused", perInstallation)
	}
	if _, err := f.CloneAuth(ctx, "initech/app"); err == nil || !strings.Contains(err.Error(), "not installed on initech") {
		t.Errorf("CloneAuth of a repository of no installation: %v", err)
	}
}

// TestAppTokenRenewal mints a new token before the last one expires.
func TestAppTokenRenewal(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitHub(t, vcstest.GitHubOptions{})
	app := g.EnableApp(t, vcstest.AppOptions{TokenTTL: 2 * time.Second})
	g.Install(t, "acme")
	g.CreateRepo(t, "acme/infra", map[string]string{"main.tf": "locals {}\n"})
	f := newAppForge(t, g, app, app.KeyPEM)
	call := func() {
		t.Helper()
		if _, err := f.ResolveRef(t.Context(), "acme/infra", "main"); err != nil {
			t.Fatal(err)
		}
	}
	call()
	time.Sleep(300 * time.Millisecond)
	call()
	if n := len(g.TokensMinted()); n != 1 {
		t.Errorf("%d tokens minted for two calls 0.3 s apart, want 1", n)
	}
	time.Sleep(2 * time.Second) // past the first token's life
	call()
	if n := len(g.TokensMinted()); n != 2 {
		t.Errorf("%d tokens minted once the first expired, want 2", n)
	}
}

// TestAppBadKey: a key that is not the App's is refused by GitHub, and
// one that is no key at all by New, which does not quote it.
func TestAppBadKey(t *testing.T) {
	t.Parallel()
	g := vcstest.NewGitHub(t, vcstest.GitHubOptions{})
	app := g.EnableApp(t, vcstest.AppOptions{})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	wrong := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)})
	if err := newAppForge(t, g, app, wrong).Ping(t.Context()); err == nil {
		t.Error("Ping with another key succeeded")
	}
	const notAKey = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LXRleHQ=\n-----END RSA PRIVATE KEY-----\n"
	_, err = New(Config{AppID: app.ID, AppKey: []byte(notAKey), APIURL: g.APIURL()})
	if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("New with no key = %v; want an error that does not quote it", err)
	}
	if _, err := New(Config{AppID: app.ID, AppKey: app.KeyPEM, Token: "ghp_x"}); err == nil {
		t.Error("New with a token and an App succeeded")
	}
}

// TestAppAuthorization: which credential each request goes with.
func TestAppAuthorization(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ path, owner string }{
		{"repos/acme/infra/pulls/1", "acme"},
		{"orgs/acme/teams/ops/memberships/alice", "acme"},
		{"rate_limit", ""},
		{"graphql", ""},
	} {
		if got := ownerOf(t.Context(), tt.path); got != tt.owner {
			t.Errorf("ownerOf(%q) = %q, want %q", tt.path, got, tt.owner)
		}
	}
	if got := ownerOf(forOwner(t.Context(), "globex/network"), "graphql"); got != "globex" {
		t.Errorf("ownerOf a GraphQL request for globex/network = %q", got)
	}
}

// TestAppRedirects: a redirect goes with the token of the account the
// request that led to it was about, and one away from the API with no
// credentials at all.
func TestAppRedirects(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	a, err := newAppAuth(1, pemKey, "api.example.com", "/")
	if err != nil {
		t.Fatal(err)
	}
	a.listed = time.Now()
	a.installations = map[string]int64{"acme": 1, "globex": 2}
	for id, token := range map[int64]string{1: "ghs_acme", 2: "ghs_globex"} {
		a.tokens[id] = &installToken{token: token, expires: time.Now().Add(time.Hour), renewAt: time.Now().Add(time.Hour)}
	}
	first := httptest.NewRequest(http.MethodGet, "https://api.example.com/repos/globex/old-name/pulls/1", nil)
	moved := httptest.NewRequest(http.MethodGet, "https://api.example.com/repositories/99/pulls/1", nil)
	moved.Response = &http.Response{StatusCode: http.StatusMovedPermanently, Request: first}
	if got, err := a.authorization(moved); err != nil || got != "Bearer ghs_globex" {
		t.Errorf("a redirect of a request about globex goes with %q, %v; want globex's token", got, err)
	}

	var sent []string
	tr := &appTransport{app: a, next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.Header.Get("Authorization"))
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})}
	away := httptest.NewRequest(http.MethodGet, "https://elsewhere.example.com/x", nil)
	away.Response = &http.Response{StatusCode: http.StatusFound, Request: first}
	if _, err := tr.RoundTrip(away); err != nil || len(sent) != 1 || sent[0] != "" {
		t.Errorf("a redirect away from the API went with %q, %v; want no credentials", sent, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
