package github

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	gh "github.com/google/go-github/v60/github"
)

// A GitHub App speaks two ways. As the App, with a JSON Web Token it
// signs with its private key, it may only ask about itself: who it is,
// where it is installed, and for installation tokens. As one of its
// installations (an organization's or a user's account), with an
// installation token minted that way, it reads and writes that
// account's repositories. appAuth picks, for each request, which one
// it needs, and keeps the tokens until shortly before they expire.

// App is a GitHub forge that is an App: besides what a token's forge
// does, it shows plans as check runs (vcs.CheckReporter) and reads the
// log of its webhook deliveries (vcs.DeliveryLog), which only Apps can.
type App struct{ *Forge }

// App returns f as an App, when it is one.
func (f *Forge) App() (*App, bool) {
	if f.app == nil {
		return nil, false
	}
	return &App{f}, true
}

// jwtLife is how long the JWTs atoll signs are valid: GitHub takes at
// most ten minutes; its clock may be a little behind or ahead of ours.
const (
	jwtLife = 9 * time.Minute
	jwtSkew = time.Minute
)

// installationsFresh is how long a listing of the App's installations
// answers that an account has none, before it is asked for again.
const installationsFresh = 30 * time.Second

// appAuth holds a GitHub App's credentials and the installation tokens
// it minted. It is safe for concurrent use.
type appAuth struct {
	id  int64
	key *rsa.PrivateKey
	// host and basePath are the API root's ("/", "/api/v3/"): requests
	// to another host go without credentials, and a request's path is
	// read relative to basePath.
	host, basePath string
	// client is the forge's own client, whose requests under app/ go
	// with the JWT: it lists installations and mints tokens.
	client *gh.Client
	now    func() time.Time

	listing sync.Mutex // held while the installations are listed
	mu      sync.Mutex
	// installations are the App's, by lower-cased account login, as
	// listed at listed.
	installations map[string]int64
	listed        time.Time
	tokens        map[int64]*installToken
}

// installToken is one installation's token, renewed at renewAt.
type installToken struct {
	mu      sync.Mutex // held while it is minted
	token   string
	expires time.Time
	renewAt time.Time
}

// CheckAppKey says what is wrong with pemKey as a GitHub App's private
// key, if anything, without quoting it.
func CheckAppKey(pemKey []byte) error {
	if _, err := jwt.ParseRSAPrivateKeyFromPEM(pemKey); err != nil {
		return errors.New("not an RSA private key in PEM, as GitHub hands out an App's key")
	}
	return nil
}

// newAppAuth returns the credentials of App id with the PEM private key
// pemKey, for an API rooted at host and basePath.
func newAppAuth(id int64, pemKey []byte, host, basePath string) (*appAuth, error) {
	key, err := jwt.ParseRSAPrivateKeyFromPEM(pemKey)
	if err != nil {
		// Not the parser's words: they could quote the key.
		return nil, fmt.Errorf("github: the App's private key: %w", CheckAppKey(pemKey))
	}
	return &appAuth{id: id, key: key, host: host, basePath: basePath, now: time.Now,
		installations: map[string]int64{}, tokens: map[int64]*installToken{}}, nil
}

// signJWT signs a JWT that speaks as the App.
func (a *appAuth) signJWT() (string, error) {
	now := a.now()
	claims := jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(a.id, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-jwtSkew)),
		ExpiresAt: jwt.NewNumericDate(now.Add(jwtLife)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(a.key)
}

// The context keys that tell appTransport which installation a request
// speaks for, where its path does not say.
type (
	ownerKey        struct{}
	installationKey struct{}
)

// forOwner returns ctx for requests about repositories of owner (an
// account login, or "owner/name").
func forOwner(ctx context.Context, owner string) context.Context {
	owner, _, _ = strings.Cut(owner, "/")
	return context.WithValue(ctx, ownerKey{}, owner)
}

// forInstallation returns ctx for requests that speak for installation
// id.
func forInstallation(ctx context.Context, id int64) context.Context {
	return context.WithValue(ctx, installationKey{}, id)
}

// appTransport authenticates each request as the App or as the
// installation of the account the request is about.
type appTransport struct {
	app  *appAuth
	next http.RoundTripper
}

func (t *appTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.app.host {
		return t.next.RoundTrip(req) // a redirect away from the API: no credentials
	}
	auth, err := t.app.authorization(req)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", auth)
	return t.next.RoundTrip(req)
}

// authorization is the Authorization header req needs: the App's JWT
// for the App's own routes, else the token of the installation the
// request is about (by its context, else its path: repos/OWNER/…,
// orgs/OWNER/…). A request about no account in particular (the rate
// limit, GraphQL without an owner) goes with any installation's token,
// or the JWT when there is none.
func (a *appAuth) authorization(req *http.Request) (string, error) {
	ctx := req.Context()
	// A redirect (a renamed repository's, say) is about what the request
	// that led to it was about, whatever its own path.
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
	}
	rel := strings.TrimPrefix(req.URL.Path, a.basePath)
	if rel == "app" || strings.HasPrefix(rel, "app/") {
		token, err := a.signJWT()
		return "Bearer " + token, err
	}
	id, ok := ctx.Value(installationKey{}).(int64)
	if !ok {
		var err error
		if id, err = a.installationFor(ctx, ownerOf(ctx, rel)); err != nil {
			return "", err
		}
	}
	if id == 0 {
		token, err := a.signJWT()
		return "Bearer " + token, err
	}
	token, err := a.token(ctx, id)
	return "Bearer " + token, err
}

// ownerOf is the account a request at path rel (relative to the API
// root) is about: its context's, else its path's; "" when neither says.
func ownerOf(ctx context.Context, rel string) string {
	if owner, ok := ctx.Value(ownerKey{}).(string); ok {
		return owner
	}
	parts := strings.SplitN(rel, "/", 3)
	if len(parts) >= 2 && (parts[0] == "repos" || parts[0] == "orgs") {
		return parts[1]
	}
	return ""
}

// installationFor is the id of the App's installation on owner's
// account; for owner "", that of any installation, or 0 when there is
// none.
func (a *appAuth) installationFor(ctx context.Context, owner string) (int64, error) {
	owner = strings.ToLower(owner)
	if id, ok := a.knownInstallation(owner); ok {
		return id, nil
	}
	a.listing.Lock()
	defer a.listing.Unlock()
	a.mu.Lock()
	fresh := a.now().Sub(a.listed) < installationsFresh
	a.mu.Unlock()
	if !fresh {
		if err := a.listInstallations(ctx); err != nil {
			return 0, err
		}
	}
	if id, ok := a.knownInstallation(owner); ok {
		return id, nil
	}
	if owner == "" {
		return 0, nil
	}
	return 0, fmt.Errorf("github: the App is not installed on %s's account", owner)
}

// knownInstallation looks owner's installation up in what the last
// listing said; "" stands for the lowest installation id.
func (a *appAuth) knownInstallation(owner string) (int64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if owner != "" {
		id, ok := a.installations[owner]
		return id, ok
	}
	ids := make([]int64, 0, len(a.installations))
	for _, id := range a.installations {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return 0, false
	}
	return slices.Min(ids), true
}

// listInstallations lists the App's installations, all pages.
func (a *appAuth) listInstallations(ctx context.Context) error {
	found := map[string]int64{}
	opts := &gh.ListOptions{PerPage: 100}
	for {
		page, resp, err := a.client.Apps.ListInstallations(ctx, opts)
		if err != nil {
			return fmt.Errorf("github: listing the App's installations: %w", err)
		}
		for _, in := range page {
			found[strings.ToLower(in.GetAccount().GetLogin())] = in.GetID()
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	a.mu.Lock()
	a.installations, a.listed = found, a.now()
	a.mu.Unlock()
	return nil
}

// forget forgets installation id, and that the installations were listed
// lately: the next request lists them again.
func (a *appAuth) forget(id int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for owner, known := range a.installations {
		if known == id {
			delete(a.installations, owner)
		}
	}
	a.listed = time.Time{}
}

// installationIDs are the App's installations, as last listed.
func (a *appAuth) installationIDs(ctx context.Context) ([]int64, error) {
	a.listing.Lock()
	err := a.listInstallations(ctx)
	a.listing.Unlock()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]int64, 0, len(a.installations))
	for _, id := range a.installations {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// token is installation id's token: the one minted last, until shortly
// before it expires (a quarter of its life, at most five minutes), then
// a new one.
func (a *appAuth) token(ctx context.Context, id int64) (string, error) {
	a.mu.Lock()
	t := a.tokens[id]
	if t == nil {
		t = &installToken{}
		a.tokens[id] = t
	}
	a.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	now := a.now()
	if t.token != "" && now.Before(t.renewAt) {
		return t.token, nil
	}
	minted, resp, err := a.client.Apps.CreateInstallationToken(ctx, id, nil)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			a.forget(id) // uninstalled, perhaps installed again: list anew
		}
		if t.token != "" && now.Before(t.expires) {
			return t.token, nil // renewed early: the old one still serves
		}
		return "", fmt.Errorf("github: minting a token for installation %d: %w", id, err)
	}
	t.token, t.expires = minted.GetToken(), minted.GetExpiresAt().Time
	t.renewAt = t.expires.Add(-min(5*time.Minute, t.expires.Sub(now)/4))
	return t.token, nil
}
