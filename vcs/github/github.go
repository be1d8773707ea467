// Package github is atoll's GitHub forge: the vcs.Forge implementation over
// the REST API (go-github), and the parsing and signature checking of
// GitHub's webhooks.
package github

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/internal/etag"
)

// DefaultAPIURL is github.com's REST API.
const DefaultAPIURL = "https://api.github.com/"

// maxCommentLen is the longest issue comment GitHub accepts.
const maxCommentLen = 65536

// Config configures a GitHub forge. The zero value talks to github.com
// anonymously, which is of no use beyond tests of the webhook parser.
type Config struct {
	// Token authenticates API calls and git fetches (a personal access
	// token or an app installation token). Give it, or AppID and AppKey.
	Token string
	// AppID and AppKey (its private key, in PEM) make atoll a GitHub App:
	// it speaks as the App's installation on each repository's account,
	// with tokens it mints and renews itself.
	AppID  int64
	AppKey []byte
	// WebhookSecret, when set, is the key every webhook's
	// X-Hub-Signature-256 must match.
	WebhookSecret string
	// APIURL is the REST API root: DefaultAPIURL when empty; for GitHub
	// Enterprise Server, https://HOST/api/v3/.
	APIURL string
	// HTTPClient makes the API calls; when nil, a client that gives up on
	// a call after 30 seconds.
	HTTPClient *http.Client
	// Logger receives what the forge handles itself rather than returns,
	// such as a GraphQL query GitHub would not answer; when nil,
	// slog.Default().
	Logger *slog.Logger
}

// Forge is a GitHub account as a vcs.Forge.
type Forge struct {
	client *gh.Client
	token  string
	// app, when set, authenticates each request instead of token.
	app    *appAuth
	secret []byte
	log    *slog.Logger

	// pullPages and commentPages keep the last answer to each list a
	// poll asks for again.
	pullPages    etag.Cache[page[vcs.PullRequest]]
	commentPages etag.Cache[page[vcs.PullComment]]

	mu   sync.Mutex
	user string        // cached login of the token's user
	rate vcs.RateLimit // as the last answer said
	// checkRuns are the ids of the check runs this forge created, by
	// repository, commit and name.
	checkRuns map[string]int64
}

var (
	_ vcs.Forge         = (*Forge)(nil)
	_ vcs.Merger        = (*Forge)(nil)
	_ vcs.BranchDeleter = (*Forge)(nil)
	_ vcs.CommentHider  = (*Forge)(nil)
	_ vcs.TeamChecker   = (*Forge)(nil)
)

// New returns a GitHub forge for cfg.
func New(cfg Config) (*Forge, error) {
	apiURL := cfg.APIURL
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	base, err := url.Parse(apiURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("github: github API URL %q is not an http(s) URL", cfg.APIURL)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	var app *appAuth
	switch {
	case cfg.AppID != 0 && cfg.Token != "":
		return nil, errors.New("github: give a token or an App, not both")
	case cfg.AppID != 0:
		if app, err = newAppAuth(cfg.AppID, cfg.AppKey, base.Host, base.Path); err != nil {
			return nil, err
		}
		with := *hc
		with.Transport = &appTransport{app: app, next: cmp.Or[http.RoundTripper](hc.Transport, http.DefaultTransport)}
		hc = &with
	}
	client := gh.NewClient(hc)
	if cfg.Token != "" {
		client = client.WithAuthToken(cfg.Token)
	}
	client.BaseURL = base
	if app != nil {
		app.client = client
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Forge{client: client, token: cfg.Token, app: app, secret: []byte(cfg.WebhookSecret), log: log, checkRuns: map[string]int64{}}, nil
}

// Name implements vcs.Forge.
func (f *Forge) Name() string { return "github" }

// MaxCommentLen implements vcs.Forge.
func (f *Forge) MaxCommentLen() int { return maxCommentLen }

// PullRef implements vcs.Forge.
func (f *Forge) PullRef(number int) string { return fmt.Sprintf("#%d", number) }

// CloneAuth implements vcs.Forge: GitHub accepts any token as the password
// of the user x-access-token; an App's, that of the repository's
// installation.
func (f *Forge) CloneAuth(ctx context.Context, repo string) (string, error) {
	token := f.token
	if f.app != nil {
		id, err := f.app.installationFor(ctx, ownerOf(forOwner(ctx, repo), ""))
		if err != nil {
			return "", err
		}
		if token, err = f.app.token(ctx, id); err != nil {
			return "", err
		}
	}
	if token == "" {
		return "", nil
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token)), nil
}

// CurrentUser implements vcs.Forge: the token's user, or the App's bot
// (SLUG[bot]). The answer is cached once known.
func (f *Forge) CurrentUser(ctx context.Context) (string, error) {
	f.mu.Lock()
	user := f.user
	f.mu.Unlock()
	if user != "" {
		return user, nil
	}
	if f.app != nil {
		app, _, err := f.client.Apps.Get(ctx, "")
		if err != nil {
			return "", fmt.Errorf("github: fetching the App: %w", err)
		}
		user = app.GetSlug() + "[bot]"
	} else {
		u, _, err := f.client.Users.Get(ctx, "")
		if err != nil {
			return "", fmt.Errorf("github: fetching the authenticated user: %w", err)
		}
		user = u.GetLogin()
	}
	f.mu.Lock()
	f.user = user
	f.mu.Unlock()
	return user, nil
}

// PullRequest implements vcs.Forge. GitHub works out mergeability in the
// background after a push; while it says it does not know yet, the
// pull request is fetched again, a few times.
func (f *Forge) PullRequest(ctx context.Context, repo vcs.Repo, number int) (vcs.PullRequest, error) {
	owner, name := splitRepo(repo.FullName)
	var pr *gh.PullRequest
	for try := 0; ; try++ {
		var err error
		pr, _, err = f.client.PullRequests.Get(ctx, owner, name, number)
		if err != nil {
			return vcs.PullRequest{}, fmt.Errorf("github: fetching pull request %s#%d: %w", repo.FullName, number, err)
		}
		if pr.Mergeable != nil || pr.GetState() != "open" || try == 2 {
			break
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return vcs.PullRequest{}, ctx.Err()
		}
	}
	repo.CloneURL = pr.GetBase().GetRepo().GetCloneURL()
	pull := convertPull(repo, pr)
	if pr.GetMergeableState() == "blocked" && pr.GetMergeable() {
		var err error
		if pull.Mergeable, err = f.blockedOnlyByAtoll(ctx, owner, name, number, pull.HeadSHA); err != nil {
			return vcs.PullRequest{}, err
		}
	}
	return pull, nil
}

// ChangedFiles implements vcs.Forge.
func (f *Forge) ChangedFiles(ctx context.Context, repo vcs.Repo, number int) ([]string, error) {
	owner, name := splitRepo(repo.FullName)
	var files []string
	opts := &gh.ListOptions{PerPage: 100}
	for {
		page, resp, err := f.client.PullRequests.ListFiles(ctx, owner, name, number, opts)
		if err != nil {
			return nil, fmt.Errorf("github: fetching changed files of %s#%d: %w", repo.FullName, number, err)
		}
		for _, cf := range page {
			files = append(files, cf.GetFilename())
			if prev := cf.GetPreviousFilename(); prev != "" {
				files = append(files, prev)
			}
		}
		if resp.NextPage == 0 {
			return files, nil
		}
		opts.Page = resp.NextPage
	}
}

// Comment implements vcs.Forge.
func (f *Forge) Comment(ctx context.Context, repo vcs.Repo, number int, body string) (int64, error) {
	owner, name := splitRepo(repo.FullName)
	c, _, err := f.client.Issues.CreateComment(ctx, owner, name, number, &gh.IssueComment{Body: &body})
	if err != nil {
		return 0, fmt.Errorf("github: commenting on %s#%d: %w", repo.FullName, number, err)
	}
	return c.GetID(), nil
}

// GetComment implements vcs.Forge.
func (f *Forge) GetComment(ctx context.Context, repo vcs.Repo, number int, id int64) (vcs.Comment, error) {
	owner, name := splitRepo(repo.FullName)
	c, _, err := f.client.Issues.GetComment(ctx, owner, name, id)
	if err != nil {
		return vcs.Comment{}, fmt.Errorf("github: fetching comment %d on %s: %w", id, repo.FullName, err)
	}
	return vcs.Comment{ID: c.GetID(), Author: c.GetUser().GetLogin(), Body: c.GetBody()}, nil
}

// UpdateComment implements vcs.Forge.
func (f *Forge) UpdateComment(ctx context.Context, repo vcs.Repo, number int, id int64, body string) error {
	owner, name := splitRepo(repo.FullName)
	if _, _, err := f.client.Issues.EditComment(ctx, owner, name, id, &gh.IssueComment{Body: &body}); err != nil {
		return fmt.Errorf("github: editing comment %d on %s: %w", id, repo.FullName, err)
	}
	return nil
}

// SetStatus implements vcs.Forge.
func (f *Forge) SetStatus(ctx context.Context, repo vcs.Repo, sha string, s vcs.Status) error {
	owner, name := splitRepo(repo.FullName)
	state := s.State
	if state == vcs.Running {
		state = vcs.Pending // GitHub has no state for it
	}
	status := &gh.RepoStatus{
		State:       gh.String(string(state)),
		Context:     gh.String(s.Context),
		Description: gh.String(truncate(s.Description, 140)),
	}
	if s.TargetURL != "" {
		status.TargetURL = gh.String(s.TargetURL)
	}
	if _, _, err := f.client.Repositories.CreateStatus(ctx, owner, name, sha, status); err != nil {
		return fmt.Errorf("github: setting status %q on %s@%s: %w", s.Context, repo.FullName, sha, err)
	}
	return nil
}

func convertPull(repo vcs.Repo, pr *gh.PullRequest) vcs.PullRequest {
	return vcs.PullRequest{
		Repo:     repo,
		Number:   pr.GetNumber(),
		HeadSHA:  pr.GetHead().GetSHA(),
		BaseRef:  pr.GetBase().GetRef(),
		HeadRef:  pr.GetHead().GetRef(),
		HeadRepo: pr.GetHead().GetRepo().GetFullName(),
		URL:      pr.GetHTMLURL(),
		Author:   pr.GetUser().GetLogin(),
		Draft:    pr.GetDraft(),
		Open:     pr.GetState() == "open",
		// A head repository that is gone was a fork that was deleted.
		Fork:      pr.GetHead().GetRepo().GetFullName() != pr.GetBase().GetRepo().GetFullName(),
		Mergeable: pr.GetMergeable() && mergeableStates[pr.GetMergeableState()],
		Updated:   pr.GetUpdatedAt().Time,
	}
}

// mergeableStates are the mergeable_state values in which GitHub would
// merge: "unstable" has failing checks that are not required, and
// "has_hooks" only pre-receive hooks to pass. A missing state counts as
// clean. "blocked" is looked into further by PullRequest (mergeable.go).
var mergeableStates = map[string]bool{"": true, "clean": true, "unstable": true, "has_hooks": true, "blocked": true}

func splitRepo(fullName string) (owner, name string) {
	owner, name, _ = strings.Cut(fullName, "/")
	return owner, name
}

// truncate shortens s to at most n runes; GitHub rejects longer status
// descriptions.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
