package vcstest

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// AppOptions configures the fake's GitHub App. The zero value is usable.
type AppOptions struct {
	// ID is the App's id, the iss of its JWTs. Default 4242.
	ID int64
	// Slug is the App's URL name; its bot's login is Slug+"[bot]".
	// Default "atoll-app".
	Slug string
	// TokenTTL is the life of an installation token. Default one hour,
	// as on GitHub.
	TokenTTL time.Duration
}

// App is the fake's GitHub App: what its owner downloads from GitHub.
type App struct {
	ID   int64
	Slug string
	// KeyPEM is the App's private key, a PEM "RSA PRIVATE KEY" block
	// (PKCS#1), as GitHub hands it out.
	KeyPEM []byte
}

// BotLogin is the login of the App's bot, which what the App does
// through the API is done as: Slug+"[bot]".
func (a *App) BotLogin() string { return a.Slug + "[bot]" }

// MintedToken is an installation token the fake handed out.
type MintedToken struct {
	Installation int64
	Token        string
	Expires      time.Time
}

// appState is the fake's GitHub App once EnableApp ran: its key, its
// installations and the tokens minted for them. Guarded by GitHub.mu.
type appState struct {
	App
	key      *rsa.PrivateKey
	ttl      time.Duration
	created  time.Time
	installs []*installation
	tokens   []*instToken          // in minting order
	byToken  map[string]*instToken // by the token itself
	// deliveries is the App's webhook log, oldest first: deliveries[i]
	// has id firstDeliveryID+i.
	deliveries []loggedDelivery
}

// installation is the App installed on an account, for all its
// repositories.
type installation struct {
	id      int64
	account string
	created time.Time
}

// instToken is an installation token with what it may reach. Its fields
// do not change once minted but for Expires, which revoking sets.
type instToken struct {
	MintedToken
	account string
	bot     string
	// repos names the repositories (without their owner) a token was
	// narrowed to when minted; nil for all of the account's.
	repos []string
}

// covers reports whether the token reaches repository name of owner;
// with name "", whether it reaches the account at all.
func (t *instToken) covers(owner, name string) bool {
	if !strings.EqualFold(owner, t.account) {
		return false
	}
	return name == "" || t.repos == nil || slices.ContainsFunc(t.repos, func(n string) bool { return strings.EqualFold(n, name) })
}

// appPermissions are the permissions the fake's App was granted, and so
// those of its installations and their tokens.
var appPermissions = map[string]string{
	"checks": "write", "contents": "write", "issues": "write", "members": "read",
	"metadata": "read", "pull_requests": "write", "statuses": "write",
}

// appEvents are the webhook events the fake's App subscribes to.
var appEvents = []string{"issue_comment", "pull_request", "pull_request_review", "push"}

// validOwner is what GitHub allows in a user or organization login.
var validOwner = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// EnableApp makes the fake host a GitHub App, once: it answers the App's
// JWTs on /app and its routes, and the tokens it mints for its
// installations (Install) wherever the personal token works, within the
// installation's account.
func (g *GitHub) EnableApp(t T, opts AppOptions) *App {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("fake github: generating the App's key: %v", err)
	}
	a := App{
		ID:     cmp.Or(opts.ID, 4242),
		Slug:   cmp.Or(opts.Slug, "atoll-app"),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
	}
	if !validOwner.MatchString(a.Slug) {
		t.Fatalf("fake github: invalid App slug %q", a.Slug)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.app != nil {
		t.Fatalf("fake github: the App is enabled already")
	}
	g.app = &appState{App: a, key: key, ttl: cmp.Or(opts.TokenTTL, time.Hour), created: githubNow(),
		byToken: map[string]*instToken{}}
	return &a
}

// Install installs the App on owner's account, for all its repositories,
// now and later, and returns the installation's id. The account is an
// Organization if the fake has a team in it (AddTeamMember), else a User.
func (g *GitHub) Install(t T, owner string) int64 {
	t.Helper()
	if !validOwner.MatchString(owner) {
		t.Fatalf("fake github: invalid account %q", owner)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.app == nil {
		t.Fatalf("fake github: Install before EnableApp")
	}
	if g.installationOfLocked(owner) != nil {
		t.Fatalf("fake github: the App is installed on %s already", owner)
	}
	in := &installation{id: 1001 + int64(len(g.app.installs)), account: owner, created: githubNow()}
	g.app.installs = append(g.app.installs, in)
	return in.id
}

// TokensMinted returns every installation token minted, in order.
func (g *GitHub) TokensMinted() []MintedToken {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.app == nil {
		return nil
	}
	out := make([]MintedToken, len(g.app.tokens))
	for i, tok := range g.app.tokens {
		out[i] = tok.MintedToken
	}
	return out
}

// installationOfLocked is the App's installation on owner's account, or
// nil.
func (g *GitHub) installationOfLocked(owner string) *installation {
	if g.app == nil {
		return nil
	}
	for _, in := range g.app.installs {
		if strings.EqualFold(in.account, owner) {
			return in
		}
	}
	return nil
}

// installationLocked is the installation with id, or nil.
func (g *GitHub) installationLocked(id int64) *installation {
	if g.app == nil {
		return nil
	}
	for _, in := range g.app.installs {
		if in.id == id {
			return in
		}
	}
	return nil
}

// accountTypeLocked is what an account is: an Organization if the fake
// has a team in it, else a User.
func (g *GitHub) accountTypeLocked(login string) string {
	for k := range g.teams {
		if org, _, _ := strings.Cut(k.scope, "/"); strings.EqualFold(org, login) {
			return "Organization"
		}
	}
	return "User"
}

// mintLocked hands out a new token for installation in, reaching repos
// of its account (nil: all).
func (g *GitHub) mintLocked(in *installation, repos []string) *instToken {
	tok := &instToken{
		MintedToken: MintedToken{Installation: in.id, Token: "ghs_" + alphanumerics(36), Expires: time.Now().Add(g.app.ttl)},
		account:     in.account,
		bot:         g.app.BotLogin(),
		repos:       repos,
	}
	g.app.tokens = append(g.app.tokens, tok)
	g.app.byToken[tok.Token] = tok
	return tok
}

// alphanumerics is n random letters and digits.
func alphanumerics(n int) string {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	for i := range b {
		b[i] = digits[int(b[i])%len(digits)]
	}
	return string(b)
}

// errCredentials is why an API request's credential was refused.
type errCredentials string

func (e errCredentials) Error() string { return string(e) }

// What GitHub answers a credential it refuses.
const (
	badCredentials = errCredentials("Bad credentials")
	badJWT         = errCredentials("A JSON web token could not be decoded")
)

// installationToken is the live installation token tok, or why it is
// refused: unknown or expired, or a JWT where a token was due.
func (g *GitHub) installationToken(tok string) (*instToken, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var it *instToken
	if g.app != nil {
		it = g.app.byToken[tok]
	}
	switch {
	case it == nil && strings.Count(tok, ".") == 2 && strings.HasPrefix(tok, "eyJ"):
		return nil, badJWT
	case it == nil || !time.Now().Before(it.Expires):
		return nil, badCredentials
	}
	return it, nil
}

// userLink is a user's page: a bot's is its App's.
func (g *GitHub) userLink(login string) string {
	if slug, isBot := strings.CutSuffix(login, "[bot]"); isBot {
		return g.url + "/apps/" + slug
	}
	return g.url + "/" + login
}

// userType is what GitHub says a login is: a Bot for an App's bot, whose
// login ends in "[bot]", which no user's can, else a User.
func userType(login string) string {
	if strings.HasSuffix(login, "[bot]") {
		return "Bot"
	}
	return "User"
}

// appJSONLocked is the App as GET /app shows it.
func (g *GitHub) appJSONLocked() map[string]any {
	a := g.app
	owner := map[string]any{}
	g.setUser(owner, "octocat")
	return map[string]any{
		"id": a.ID, "slug": a.Slug, "node_id": fmt.Sprintf("A_kwDO%d", a.ID), "client_id": fmt.Sprintf("Iv1.%016x", a.ID),
		"name": a.Slug, "description": "", "owner": owner,
		"external_url": g.url, "html_url": g.url + "/apps/" + a.Slug,
		"created_at": a.created.Format(time.RFC3339), "updated_at": a.created.Format(time.RFC3339),
		"permissions": appPermissions, "events": appEvents, "installations_count": len(a.installs),
	}
}

// installationJSONLocked is an installation as /app/installations lists
// it.
func (g *GitHub) installationJSONLocked(in *installation) map[string]any {
	kind := g.accountTypeLocked(in.account)
	account := map[string]any{}
	g.setUser(account, in.account)
	account["type"] = kind
	html := fmt.Sprintf("%s/settings/installations/%d", g.url, in.id)
	if kind == "Organization" {
		html = fmt.Sprintf("%s/organizations/%s/settings/installations/%d", g.url, in.account, in.id)
	}
	at := in.created.Format(time.RFC3339)
	return map[string]any{
		"id": in.id, "account": account, "app_id": g.app.ID, "app_slug": g.app.Slug,
		"target_id": userID(in.account), "target_type": kind, "repository_selection": "all",
		"permissions": appPermissions, "events": appEvents, "created_at": at, "updated_at": at,
		"access_tokens_url": fmt.Sprintf("%sapp/installations/%d/access_tokens", g.APIURL(), in.id),
		"repositories_url":  g.APIURL() + "installation/repositories",
		"html_url":          html, "single_file_name": nil, "has_multiple_single_files": false,
		"single_file_paths": []string{}, "suspended_by": nil, "suspended_at": nil,
	}
}
