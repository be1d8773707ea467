// Package gitlab is atoll's GitLab forge: the vcs.Forge implementation
// over GitLab's REST API (v4), for gitlab.com and self-managed instances,
// and the parsing and token checking of GitLab's webhooks. Merge requests
// are atoll's pull requests, notes its comments, and a project's full
// path ("group/sub/project") its repository's name.
//
// It is the one package that knows the client library
// (github.com/xanzy/go-gitlab); moving to its maintained successor,
// gitlab.com/gitlab-org/api/client-go, is a change to this folder alone.
package gitlab

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/internal/etag"
)

// DefaultURL is gitlab.com.
const DefaultURL = "https://gitlab.com"

// maxNoteLen is the longest note GitLab accepts, in characters; atoll
// counts bytes, which is never more.
const maxNoteLen = 1_000_000

// developer is the access level a user needs to run commands: the level
// that may push to the project.
const developer = gl.DeveloperPermissions

// Config configures a GitLab forge. The zero value talks to gitlab.com
// anonymously, which is of no use beyond tests of the webhook parser.
type Config struct {
	// Token authenticates API calls and git fetches: a personal, group or
	// project access token with the api scope.
	Token string
	// WebhookSecret, when set, is the secret token every webhook's
	// X-Gitlab-Token must be.
	WebhookSecret string
	// URL is the instance's root: DefaultURL when empty; a self-managed
	// instance's, perhaps under a path (https://host/gitlab).
	URL string
	// HTTPClient makes the API calls; when nil, a client that gives up on
	// a call after 30 seconds and trusts the system's certificates (and
	// SSL_CERT_FILE's).
	HTTPClient *http.Client
}

// Forge is a GitLab account as a vcs.Forge.
type Forge struct {
	client *gl.Client
	// poll is client without retries, for the poller: it waits for a rate
	// limit's reset itself, and says so, rather than block in a request.
	poll   *gl.Client
	token  string
	secret []byte

	// changes keeps, a project at a time, the last answer to a poll.
	changes etag.Cache[vcs.Changes]

	mu    sync.Mutex
	user  string              // cached username of the token's user
	users map[string]cachedID // user ids, by lower-case username
	rate  vcs.RateLimit       // as the last answer said
}

// cachedID is a user's id, and when it was looked up.
type cachedID struct {
	id int
	at time.Time
}

var (
	_ vcs.Forge         = (*Forge)(nil)
	_ vcs.Merger        = (*Forge)(nil)
	_ vcs.BranchDeleter = (*Forge)(nil)
	_ vcs.CommentHider  = (*Forge)(nil)
	_ vcs.TeamChecker   = (*Forge)(nil)
	_ vcs.Reactor       = (*Forge)(nil)
)

// New returns a GitLab forge for cfg.
func New(cfg Config) (*Forge, error) {
	root := cfg.URL
	if root == "" {
		root = DefaultURL
	}
	u, err := url.Parse(root)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("gitlab: URL %q is not an http(s) URL without credentials", cfg.URL)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	base := []gl.ClientOptionFunc{
		gl.WithBaseURL(strings.TrimRight(root, "/") + "/api/v4/"),
		gl.WithHTTPClient(hc),
	}
	client, err := gl.NewClient(cfg.Token, append(base,
		// A few quick tries on 429 and 5xx; the job's deadline bounds them.
		gl.WithCustomRetryMax(2),
		gl.WithCustomRetryWaitMinMax(100*time.Millisecond, 2*time.Second),
	)...)
	if err != nil {
		return nil, fmt.Errorf("gitlab: %w", err)
	}
	poll, err := gl.NewClient(cfg.Token, append(base, gl.WithoutRetries())...)
	if err != nil {
		return nil, fmt.Errorf("gitlab: %w", err)
	}
	return &Forge{client: client, poll: poll, token: cfg.Token, secret: []byte(cfg.WebhookSecret), users: map[string]cachedID{}}, nil
}

// Name implements vcs.Forge.
func (f *Forge) Name() string { return "gitlab" }

// MaxCommentLen implements vcs.Forge.
func (f *Forge) MaxCommentLen() int { return maxNoteLen }

// PullRef implements vcs.Forge: GitLab links a merge request as !7 (#7
// is an issue).
func (f *Forge) PullRef(number int) string { return fmt.Sprintf("!%d", number) }

// CloneAuth implements vcs.Forge: GitLab takes an access token as the
// password of any user over HTTP; oauth2 is the name it documents.
func (f *Forge) CloneAuth(context.Context, string) (string, error) {
	if f.token == "" {
		return "", nil
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("oauth2:"+f.token)), nil
}

// CurrentUser implements vcs.Forge. The answer is cached once known.
func (f *Forge) CurrentUser(ctx context.Context) (string, error) {
	f.mu.Lock()
	user := f.user
	f.mu.Unlock()
	if user != "" {
		return user, nil
	}
	u, _, err := f.client.Users.CurrentUser(gl.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("gitlab: fetching the authenticated user: %w", err)
	}
	f.mu.Lock()
	f.user = u.Username
	f.mu.Unlock()
	return u.Username, nil
}

// PullRequest implements vcs.Forge: the merge request, with its project's
// clone URL from the API. GitLab works out mergeability in the background
// after a push; while it says it is checking, the merge request is
// fetched again, a few times.
func (f *Forge) PullRequest(ctx context.Context, repo vcs.Repo, number int) (vcs.PullRequest, error) {
	var mr *gl.MergeRequest
	for try := 0; ; try++ {
		var err error
		mr, _, err = f.client.MergeRequests.GetMergeRequest(repo.FullName, number,
			&gl.GetMergeRequestsOptions{IncludeDivergedCommitsCount: gl.Ptr(true)}, gl.WithContext(ctx))
		if err != nil {
			return vcs.PullRequest{}, fmt.Errorf("gitlab: fetching merge request %s!%d: %w", repo.FullName, number, err)
		}
		if !checking[mr.DetailedMergeStatus] || mr.State != "opened" || try == 2 {
			break
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return vcs.PullRequest{}, ctx.Err()
		}
	}
	project, _, err := f.client.Projects.GetProject(mr.TargetProjectID, nil, gl.WithContext(ctx))
	if err != nil {
		return vcs.PullRequest{}, fmt.Errorf("gitlab: fetching project %s: %w", repo.FullName, err)
	}
	pull := convertMergeRequest(mr)
	pull.Repo = vcs.Repo{FullName: project.PathWithNamespace, CloneURL: project.HTTPURLToRepo}
	if waitingForCI[mr.DetailedMergeStatus] {
		if pull.Mergeable, err = f.waitingOnlyForAtoll(ctx, pull.Repo, mr.SHA); err != nil {
			return vcs.PullRequest{}, err
		}
	}
	pull.HeadRepo = project.PathWithNamespace
	if pull.Fork {
		// A fork the token cannot see leaves HeadRepo unknown.
		pull.HeadRepo = ""
		if source, _, err := f.client.Projects.GetProject(mr.SourceProjectID, nil, gl.WithContext(ctx)); err == nil {
			pull.HeadRepo = source.PathWithNamespace
		}
	}
	return pull, nil
}

// openStates are the states of a merge request that is open: "locked"
// is one being merged, which may yet fail.
var openStates = map[string]bool{"opened": true, "locked": true}

// checking are the detailed_merge_status values of a merge request whose
// mergeability GitLab is still working out.
var checking = map[string]bool{"checking": true, "unchecked": true, "preparing": true}

// waitingForCI are the detailed_merge_status values of a merge request
// that only waits for its commit's pipeline or statuses ("pipelines must
// succeed").
var waitingForCI = map[string]bool{"ci_must_pass": true, "ci_still_running": true}

// waitingOnlyForAtoll reports whether every commit status of sha that has
// not succeeded is atoll's own: those wait for the apply that mergeable
// is asked of, and must not block it.
func (f *Forge) waitingOnlyForAtoll(ctx context.Context, repo vcs.Repo, sha string) (bool, error) {
	opt := &gl.GetCommitStatusesOptions{ListOptions: gl.ListOptions{PerPage: 100}}
	for {
		statuses, resp, err := f.client.Commits.GetCommitStatuses(repo.FullName, sha, opt, gl.WithContext(ctx))
		if err != nil {
			return false, fmt.Errorf("gitlab: fetching the statuses of %s@%s: %w", repo.FullName, sha, err)
		}
		for _, st := range statuses {
			if st.Status != string(gl.Success) && !strings.HasPrefix(st.Name, "atoll/") {
				return false, nil
			}
		}
		if resp.NextPage == 0 {
			return true, nil
		}
		opt.Page = resp.NextPage
	}
}

// convertMergeRequest is the part of mr atoll acts on; the caller fills
// in the repositories.
func convertMergeRequest(mr *gl.MergeRequest) vcs.PullRequest {
	p := vcs.PullRequest{
		Number:    mr.IID,
		HeadSHA:   mr.SHA,
		BaseSHA:   mr.DiffRefs.BaseSha,
		BaseRef:   mr.TargetBranch,
		HeadRef:   mr.SourceBranch,
		URL:       mr.WebURL,
		Draft:     mr.Draft || mr.WorkInProgress,
		Open:      openStates[mr.State],
		Fork:      mr.SourceProjectID != mr.TargetProjectID,
		Mergeable: mr.DetailedMergeStatus == "mergeable",
	}
	if mr.Author != nil {
		p.Author = mr.Author.Username
	}
	if mr.UpdatedAt != nil {
		p.Updated = *mr.UpdatedAt
	}
	return p
}

// ChangedFiles implements vcs.Forge, from the merge request's diffs, a
// page at a time. GitLab lists no more files than its diff limits allow
// (1,000 by default) and then says so in the merge request's
// changes_count ("1000+"): then the error wraps vcs.ErrTooManyFiles.
func (f *Forge) ChangedFiles(ctx context.Context, repo vcs.Repo, number int) ([]string, error) {
	opt := &gl.ListMergeRequestDiffsOptions{ListOptions: gl.ListOptions{PerPage: 100}}
	var files []string
	for {
		diffs, resp, err := f.client.MergeRequests.ListMergeRequestDiffs(repo.FullName, number, opt, gl.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("gitlab: fetching the changed files of %s!%d: %w", repo.FullName, number, err)
		}
		for _, d := range diffs {
			files = append(files, d.NewPath)
			if d.OldPath != d.NewPath {
				files = append(files, d.OldPath)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	mr, _, err := f.client.MergeRequests.GetMergeRequest(repo.FullName, number, nil, gl.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("gitlab: fetching merge request %s!%d: %w", repo.FullName, number, err)
	}
	if strings.HasSuffix(mr.ChangesCount, "+") {
		return files, fmt.Errorf("gitlab: %s!%d changes %s files: %w", repo.FullName, number, mr.ChangesCount, vcs.ErrTooManyFiles)
	}
	return files, nil
}

// Comment implements vcs.Forge with a note on the merge request.
func (f *Forge) Comment(ctx context.Context, repo vcs.Repo, number int, body string) (int64, error) {
	n, _, err := f.client.Notes.CreateMergeRequestNote(repo.FullName, number, &gl.CreateMergeRequestNoteOptions{Body: &body}, gl.WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("gitlab: commenting on %s!%d: %w", repo.FullName, number, err)
	}
	return int64(n.ID), nil
}

// GetComment implements vcs.Forge.
func (f *Forge) GetComment(ctx context.Context, repo vcs.Repo, number int, id int64) (vcs.Comment, error) {
	n, _, err := f.client.Notes.GetMergeRequestNote(repo.FullName, number, int(id), gl.WithContext(ctx))
	if err != nil {
		return vcs.Comment{}, fmt.Errorf("gitlab: fetching note %d on %s!%d: %w", id, repo.FullName, number, err)
	}
	return vcs.Comment{ID: int64(n.ID), Author: n.Author.Username, Body: n.Body}, nil
}

// UpdateComment implements vcs.Forge.
func (f *Forge) UpdateComment(ctx context.Context, repo vcs.Repo, number int, id int64, body string) error {
	_, _, err := f.client.Notes.UpdateMergeRequestNote(repo.FullName, number, int(id), &gl.UpdateMergeRequestNoteOptions{Body: &body}, gl.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("gitlab: editing note %d on %s!%d: %w", id, repo.FullName, number, err)
	}
	return nil
}

// SetStatus implements vcs.Forge with a commit status named s.Context.
// GitLab refuses to set a status to the state it has (running twice, say):
// that is no failure, since the status says what atoll meant.
func (f *Forge) SetStatus(ctx context.Context, repo vcs.Repo, sha string, s vcs.Status) error {
	opt := &gl.SetCommitStatusOptions{
		State:       stateOf(s.State),
		Name:        gl.Ptr(s.Context),
		Description: gl.Ptr(truncate(s.Description, 255)),
	}
	if s.TargetURL != "" {
		opt.TargetURL = gl.Ptr(s.TargetURL)
	}
	_, _, err := f.client.Commits.SetCommitStatus(repo.FullName, sha, opt, gl.WithContext(ctx))
	if err != nil && !alreadyInState(err) {
		return fmt.Errorf("gitlab: setting status %q on %s@%s: %w", s.Context, repo.FullName, sha, err)
	}
	return nil
}

// stateOf is GitLab's name for a commit status state.
func stateOf(s vcs.State) gl.BuildStateValue {
	switch s {
	case vcs.Running:
		return gl.Running
	case vcs.Success:
		return gl.Success
	case vcs.Failure:
		return gl.Failed
	}
	return gl.Pending
}

// alreadyInState reports whether err is GitLab refusing a status the
// state it already has ("Cannot transition status via :run from
// :running").
func alreadyInState(err error) bool {
	var er *gl.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil || er.Response.StatusCode != http.StatusBadRequest {
		return false
	}
	return strings.Contains(er.Message, "Cannot transition status")
}

// truncate shortens s to at most n bytes, at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
