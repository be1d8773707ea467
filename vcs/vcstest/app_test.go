package vcstest_test

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// newAppFixture is a fake hosting the App, installed on acme (two
// repositories, a pull request on acme/infra) and on globex (one
// repository, a pull request too).
func newAppFixture(t *testing.T, opts vcstest.AppOptions) (g *vcstest.GitHub, app *vcstest.App, acme, globex int64) {
	t.Helper()
	g = vcstest.NewGitHub(t, vcstest.GitHubOptions{})
	for _, name := range []string{"acme/infra", "acme/network", "globex/infra"} {
		g.CreateRepo(t, name, map[string]string{"main.tf": "# " + name + "\n"})
	}
	g.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": "# changed\n"}})
	g.OpenPull(t, "globex/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": "# changed\n"}})
	app = g.EnableApp(t, opts)
	return g, app, g.Install(t, "acme"), g.Install(t, "globex")
}

// appKey is the App's private key, read as its owner would.
func appKey(t *testing.T, app *vcstest.App) *rsa.PrivateKey {
	t.Helper()
	if b, _ := pem.Decode(app.KeyPEM); b == nil || b.Type != "RSA PRIVATE KEY" {
		t.Fatalf("KeyPEM is not a PEM RSA PRIVATE KEY:\n%s", app.KeyPEM)
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(app.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if key.N.BitLen() != 2048 {
		t.Errorf("the App's key has %d bits, want 2048", key.N.BitLen())
	}
	return key
}

// appJWT is a JWT for the App signed with key, valid for nine minutes
// from a minute ago, as GitHub advises.
func appJWT(t *testing.T, key *rsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goodClaims are claims GitHub accepts for app, at now.
func goodClaims(app *vcstest.App, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(9 * time.Minute).Unix(), "iss": app.ID}
}

// refusal is the status and message of an API error.
func refusal(err error) (int, string) {
	var er *gh.ErrorResponse
	if !errors.As(err, &er) {
		return 0, ""
	}
	return er.Response.StatusCode, er.Message
}

func TestAppJWT(t *testing.T) {
	t.Parallel()
	g, app, _, _ := newAppFixture(t, vcstest.AppOptions{})
	key := appKey(t, app)
	otherKey := appKey(t, vcstest.NewGitHub(t, vcstest.GitHubOptions{}).EnableApp(t, vcstest.AppOptions{}))
	now := time.Now()
	with := func(k string, v any) jwt.MapClaims {
		c := goodClaims(app, now)
		c[k] = v
		return c
	}
	tests := []struct {
		name    string
		token   string
		message string // "" for a JWT GitHub accepts
	}{
		{"good", appJWT(t, key, goodClaims(app, now)), ""},
		{"iss as a string", appJWT(t, key, with("iss", "4242")), ""},
		{"iat 50s ahead", appJWT(t, key, with("iat", now.Add(50*time.Second).Unix())), ""},
		{"expired", appJWT(t, key, with("exp", now.Add(-time.Second).Unix())), "'Expiration time' claim ('exp') must be"},
		{"wrong key", appJWT(t, otherKey, goodClaims(app, now)), "A JSON web token could not be decoded"},
		{"wrong iss", appJWT(t, key, with("iss", 4243)), "A JSON web token could not be decoded"},
		{"no iss", appJWT(t, key, with("iss", nil)), "'Issuer' claim ('iss')"},
		{"exp too far", appJWT(t, key, with("exp", now.Add(10*time.Minute).Unix())), "is too far in the future"},
		{"iat ahead", appJWT(t, key, with("iat", now.Add(2*time.Minute).Unix())), "'Issued at' claim ('iat')"},
		{"iat not a number", appJWT(t, key, with("iat", "then")), "'Issued at' claim ('iat')"},
		{"personal token", g.Token(), "A JSON web token could not be decoded"},
		{"not a JWT", "eyJ.eyJ.sig", "A JSON web token could not be decoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := newClient(t, g, tt.token).Apps.Get(context.Background(), "")
			if tt.message == "" {
				if err != nil || got.GetID() != 4242 || got.GetSlug() != "atoll-app" || got.GetOwner().GetLogin() == "" {
					t.Fatalf("GET /app = %+v, %v; want the App 4242 atoll-app", got, err)
				}
				return
			}
			if status, msg := refusal(err); status != http.StatusUnauthorized || !strings.Contains(msg, tt.message) {
				t.Errorf("GET /app = %d %q; want 401 %q", status, msg, tt.message)
			}
		})
	}
	// A JWT is no credential for the rest of the API.
	_, _, err := newClient(t, g, appJWT(t, key, goodClaims(app, now))).PullRequests.Get(context.Background(), "acme", "infra", 1)
	if status, msg := refusal(err); status != http.StatusUnauthorized || msg != "A JSON web token could not be decoded" {
		t.Errorf("GET pulls/1 with a JWT = %d %q; want 401", status, msg)
	}
}

func TestAppInstallations(t *testing.T) {
	t.Parallel()
	g, app, acme, globex := newAppFixture(t, vcstest.AppOptions{})
	g.AddTeamMember("globex", "ops", "alice")
	ctx := context.Background()
	c := newClient(t, g, appJWT(t, appKey(t, app), goodClaims(app, time.Now())))
	if acme == globex {
		t.Fatalf("both installations are %d", acme)
	}

	list, resp, err := c.Apps.ListInstallations(ctx, &gh.ListOptions{PerPage: 1})
	if err != nil || len(list) != 1 || list[0].GetID() != acme || resp.NextPage != 2 {
		t.Fatalf("first page of installations = %v, next %d, %v; want acme's, then page 2", list, resp.NextPage, err)
	}
	list, _, err = c.Apps.ListInstallations(ctx, &gh.ListOptions{PerPage: 1, Page: 2})
	if err != nil || len(list) != 1 {
		t.Fatalf("second page of installations = %v, %v", list, err)
	}
	in := list[0]
	if in.GetID() != globex || in.GetAccount().GetLogin() != "globex" || in.GetAccount().GetType() != "Organization" ||
		in.GetAppID() != app.ID || in.GetAppSlug() != app.Slug || in.GetRepositorySelection() != "all" ||
		in.GetPermissions().GetPullRequests() != "write" {
		t.Errorf("globex's installation = %+v", in)
	}

	found, _, err := c.Apps.FindRepositoryInstallation(ctx, "acme", "network")
	if err != nil || found.GetID() != acme || found.GetAccount().GetType() != "User" {
		t.Errorf("acme/network's installation = %+v, %v; want %d, a User's", found, err, acme)
	}
	g.CreateRepo(t, "initech/infra", nil)
	if _, _, err := c.Apps.FindRepositoryInstallation(ctx, "initech", "infra"); !isStatus(err, http.StatusNotFound) {
		t.Errorf("initech/infra's installation: %v; want 404", err)
	}
	if _, _, err := c.Apps.CreateInstallationToken(ctx, 999, nil); !isStatus(err, http.StatusNotFound) {
		t.Errorf("a token for installation 999: %v; want 404", err)
	}

	tok, _, err := c.Apps.CreateInstallationToken(ctx, acme, nil)
	if err != nil || !strings.HasPrefix(tok.GetToken(), "ghs_") || len(tok.GetToken()) != 40 ||
		time.Until(tok.GetExpiresAt().Time) < 59*time.Minute || time.Until(tok.GetExpiresAt().Time) > time.Hour {
		t.Fatalf("acme's token = %+v, %v; want ghs_ and 36 more, for an hour", tok, err)
	}
	if _, _, err := c.Apps.CreateInstallationToken(ctx, globex, nil); err != nil {
		t.Fatal(err)
	}
	minted := g.TokensMinted()
	if len(minted) != 2 || minted[0].Installation != acme || minted[0].Token != tok.GetToken() || minted[1].Installation != globex {
		t.Errorf("TokensMinted = %+v", minted)
	}
	checkTokenScope(t, g, tok.GetToken())
}

// checkTokenScope checks that tok, a token of acme's installation,
// reaches acme's repositories and nothing else.
func checkTokenScope(t *testing.T, g *vcstest.GitHub, tok string) {
	t.Helper()
	ctx := context.Background()
	c := newClient(t, g, tok)
	tests := []struct {
		name string
		call func() error
		want int
	}{
		{"own pull request", func() error { _, _, err := c.PullRequests.Get(ctx, "acme", "infra", 1); return err }, 0},
		{"own comment", func() error {
			_, _, err := c.Issues.CreateComment(ctx, "acme", "infra", 1, &gh.IssueComment{Body: gh.String("hi")})
			return err
		}, 0},
		{"other's pull request", func() error { _, _, err := c.PullRequests.Get(ctx, "globex", "infra", 1); return err }, http.StatusForbidden},
		{"other's comment", func() error {
			_, _, err := c.Issues.CreateComment(ctx, "globex", "infra", 1, &gh.IssueComment{Body: gh.String("hi")})
			return err
		}, http.StatusForbidden},
		{"other's team", func() error {
			_, _, err := c.Teams.GetTeamMembershipBySlug(ctx, "globex", "ops", "alice")
			return err
		}, http.StatusForbidden},
		{"GET /user", func() error { _, _, err := c.Users.Get(ctx, ""); return err }, http.StatusForbidden},
	}
	for _, tt := range tests {
		err := tt.call()
		status, msg := refusal(err)
		switch {
		case tt.want == 0 && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != 0 && (status != tt.want || msg != "Resource not accessible by integration"):
			t.Errorf("%s = %d %q, %v; want %d", tt.name, status, msg, err, tt.want)
		}
	}

	repos, _, err := c.Apps.ListRepos(ctx, nil)
	var names []string
	for _, r := range repos.Repositories {
		names = append(names, r.GetFullName())
	}
	if err != nil || repos.GetTotalCount() != 2 || strings.Join(names, " ") != "acme/infra acme/network" {
		t.Errorf("installation/repositories = %d %v, %v; want acme's two", repos.GetTotalCount(), names, err)
	}

	if out, err := git(t, "", "-c", basicAuth(tok), "ls-remote", g.CloneURL("acme/infra"), "refs/pull/1/head"); err != nil ||
		!strings.Contains(out, g.Pull("acme/infra", 1).HeadSHA) {
		t.Errorf("ls-remote acme/infra = %q, %v", out, err)
	}
	if got := gitStatus(t, g, "globex/infra", tok); got != http.StatusForbidden {
		t.Errorf("git on globex/infra answered %d, want 403", got)
	}
}

func TestAppTokenExpires(t *testing.T) {
	t.Parallel()
	g, app, acme, _ := newAppFixture(t, vcstest.AppOptions{TokenTTL: time.Second})
	ctx := context.Background()
	tok, _, err := newClient(t, g, appJWT(t, appKey(t, app), goodClaims(app, time.Now()))).Apps.CreateInstallationToken(ctx, acme, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, g, tok.GetToken())
	if _, _, err := c.PullRequests.Get(ctx, "acme", "infra", 1); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	if got := gitStatus(t, g, "acme/infra", tok.GetToken()); got != http.StatusOK {
		t.Fatalf("git before expiry answered %d", got)
	}

	time.Sleep(time.Until(g.TokensMinted()[0].Expires) + 10*time.Millisecond)
	_, _, err = c.PullRequests.Get(ctx, "acme", "infra", 1)
	if status, msg := refusal(err); status != http.StatusUnauthorized || msg != "Bad credentials" {
		t.Errorf("after expiry, API = %d %q, %v; want 401 Bad credentials", status, msg, err)
	}
	if got := gitStatus(t, g, "acme/infra", tok.GetToken()); got != http.StatusUnauthorized {
		t.Errorf("git after expiry answered %d, want 401", got)
	}
}

func TestAppBotAuthors(t *testing.T) {
	t.Parallel()
	g, app, acme, _ := newAppFixture(t, vcstest.AppOptions{})
	ctx := context.Background()
	tok, _, err := newClient(t, g, appJWT(t, appKey(t, app), goodClaims(app, time.Now()))).Apps.CreateInstallationToken(ctx, acme, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ token, login, kind string }{
		{tok.GetToken(), "atoll-app[bot]", "Bot"},
		{g.Token(), "atoll-bot", "User"},
	} {
		c := newClient(t, g, tt.token)
		cm, _, err := c.Issues.CreateComment(ctx, "acme", "infra", 1, &gh.IssueComment{Body: gh.String("plan")})
		if err != nil || cm.GetUser().GetLogin() != tt.login || cm.GetUser().GetType() != tt.kind {
			t.Fatalf("comment by %s = %+v, %v", tt.login, cm.GetUser(), err)
		}
		re, _, err := c.Reactions.CreateIssueCommentReaction(ctx, "acme", "infra", cm.GetID(), "eyes")
		if err != nil || re.GetUser().GetLogin() != tt.login {
			t.Errorf("reaction by %s = %+v, %v", tt.login, re.GetUser(), err)
		}
		st, _, err := c.Repositories.CreateStatus(ctx, "acme", "infra", g.Pull("acme/infra", 1).HeadSHA,
			&gh.RepoStatus{State: gh.String("pending"), Context: gh.String("atoll/plan")})
		if err != nil || st.GetCreator().GetLogin() != tt.login || st.GetCreator().GetType() != tt.kind {
			t.Errorf("status by %s = %+v, %v", tt.login, st.GetCreator(), err)
		}
	}
	var authors []string
	for _, cm := range g.Comments("acme/infra", 1) {
		authors = append(authors, cm.Author)
	}
	if got := strings.Join(authors, " "); got != "atoll-app[bot] atoll-bot" {
		t.Errorf("Comments authors = %s; want atoll-app[bot] atoll-bot", got)
	}
	if app.BotLogin() != "atoll-app[bot]" {
		t.Errorf("BotLogin = %q", app.BotLogin())
	}
}

// basicAuth is a git -c setting that sends tok as an App does.
func basicAuth(tok string) string {
	return "http.extraHeader=Authorization: Basic " +
		base64.StdEncoding.EncodeToString([]byte("x-access-token:"+tok))
}

// gitStatus is the status git's first request for repo gets with tok.
func gitStatus(t *testing.T, g *vcstest.GitHub, repo, tok string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.CloneURL(repo)+"/info/refs?service=git-upload-pack", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("x-access-token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// isStatus reports whether err is an API error with status.
func isStatus(err error, status int) bool {
	got, _ := refusal(err)
	return got == status
}
