// Package vcs owns atoll's view of a code forge: the small Forge interface
// that the server talks through, the forge-neutral types it speaks in
// (repositories, pull requests, webhook events, commit statuses), and the
// errors a webhook parser returns. Each forge lives in a folder below this
// one (vcs/github); vcs/vcstest is a fake forge over real HTTP for tests.
package vcs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Forge is one code forge account: it parses the forge's webhooks and
// carries out the API calls atoll makes. Implementations are safe for
// concurrent use.
//
// Abilities not every forge has (merging, reactions, hiding comments) are
// separate one-method interfaces that callers check for with a type
// assertion.
type Forge interface {
	// Name is a short stable name for logs and stored jobs ("github").
	Name() string
	// Handles reports whether a webhook with these headers comes from this forge.
	Handles(h http.Header) bool
	// ParseWebhook verifies and decodes one webhook delivery. Errors wrap
	// ErrUnauthorized, ErrBadPayload or ErrIgnored.
	ParseWebhook(h http.Header, body []byte) (Event, error)

	// CurrentUser is the login atoll acts as; its own comments are ignored.
	CurrentUser(ctx context.Context) (string, error)
	// PullRequest fetches the current state of one pull request.
	PullRequest(ctx context.Context, repo Repo, number int) (PullRequest, error)
	// ChangedFiles lists the paths a pull request changes, relative to the
	// repository root; a renamed file appears under both names. When the
	// forge lists only some of them, the error wraps ErrTooManyFiles.
	ChangedFiles(ctx context.Context, repo Repo, number int) ([]string, error)
	// Comment posts a new comment on a pull request and returns its id.
	Comment(ctx context.Context, repo Repo, number int, body string) (int64, error)
	// GetComment fetches comment id on pull request number as the forge
	// holds it now.
	GetComment(ctx context.Context, repo Repo, number int, id int64) (Comment, error)
	// UpdateComment replaces the body of comment id, which atoll posted on
	// pull request number.
	UpdateComment(ctx context.Context, repo Repo, number int, id int64, body string) error
	// SetStatus sets a commit status on sha.
	SetStatus(ctx context.Context, repo Repo, sha string, s Status) error
	// Reviews lists a pull request's reviews in the order they were given.
	Reviews(ctx context.Context, repo Repo, number int) ([]Review, error)
	// CanWrite reports whether user may push to repo.
	CanWrite(ctx context.Context, repo Repo, user string) (bool, error)
	// BehindBase reports whether the pull request's base branch has
	// commits its head lacks.
	BehindBase(ctx context.Context, pull PullRequest) (bool, error)
	// CloneAuth is the HTTP Authorization header value that git uses to
	// fetch repository repo ("owner/name") from this forge. It is secret:
	// never log it or write it to disk.
	CloneAuth(ctx context.Context, repo string) (string, error)
	// MaxCommentLen is the longest comment body the forge accepts, in bytes.
	MaxCommentLen() int
	// PullRef is how a comment refers to pull request number, so that the
	// forge links it: "#7" on GitHub, "!7" on GitLab.
	PullRef(number int) string
}

// Repo names a repository on a forge.
type Repo struct {
	// FullName is "owner/name".
	FullName string
	// CloneURL is the HTTPS URL git fetches from, without credentials.
	CloneURL string
}

// PullRequest is the part of a pull request's state atoll acts on.
type PullRequest struct {
	Repo    Repo
	Number  int
	HeadSHA string
	// BaseSHA is the commit the forge compares the head with (the merge
	// base), where the forge says; "" when it does not.
	BaseSHA string
	// BaseRef is the branch the pull request merges into.
	BaseRef string
	// HeadRef is the pull request's branch.
	HeadRef string
	// HeadRepo is the repository ("owner/name") HeadRef lives in: Repo's
	// FullName, or a fork's; "" when the forge no longer knows it.
	HeadRepo string
	// URL is the pull request's web page.
	URL    string
	Author string
	Draft  bool
	// Open is false once the pull request is closed or merged.
	Open bool
	// Fork is set when the head branch lives in another repository.
	Fork bool
	// Mergeable is the forge's word that it could merge the pull request
	// now; false while the forge does not know yet.
	Mergeable bool
	// Updated is when the forge last changed the pull request, as far as
	// what reported it says: it orders reports of one pull request. Zero
	// when unknown.
	Updated time.Time
}

// ReviewState is the verdict of one review.
type ReviewState string

// Review verdicts.
const (
	Approved         ReviewState = "approved"
	ChangesRequested ReviewState = "changes_requested"
	Commented        ReviewState = "commented"
	Dismissed        ReviewState = "dismissed"
)

// Review is one review of a pull request.
type Review struct {
	User  string
	State ReviewState
}

// Merger is a forge that can merge pull requests.
type Merger interface {
	// Merge merges the pull request if its head is still pull.HeadSHA.
	Merge(ctx context.Context, pull PullRequest) error
}

// BranchDeleter is a forge that can delete a merged pull request's branch.
type BranchDeleter interface {
	// DeleteBranch deletes pull.HeadRef from the pull request's
	// repository; a branch already gone is no error.
	DeleteBranch(ctx context.Context, pull PullRequest) error
}

// CommentHider is a forge that can collapse an outdated comment.
type CommentHider interface {
	// HideComment collapses comment id, which atoll posted on pull
	// request number.
	HideComment(ctx context.Context, repo Repo, number int, id int64) error
}

// Reactor is a forge that can mark a comment with a reaction, so that
// its author sees atoll picked it up.
type Reactor interface {
	// React adds the reaction "eyes" to comment id on pull request
	// number.
	React(ctx context.Context, repo Repo, number int, id int64) error
}

// TeamChecker is a forge with teams of users.
type TeamChecker interface {
	// InTeam reports whether user belongs to team, named "org/team".
	InTeam(ctx context.Context, team, user string) (bool, error)
}

// Pinger is a forge that can be asked whether its API answers atoll's
// credentials: what a readiness probe checks.
type Pinger interface {
	// Ping makes one authenticated API call that changes nothing, is not
	// answered from a cache and costs as little of the rate limit as the
	// forge allows. It returns nil once the forge answered and took the
	// credentials.
	Ping(ctx context.Context) error
}

// DeliveryLog is a forge that keeps a log of the webhooks it delivered,
// readable over its authenticated API: a GitHub App's. atoll reads it as
// an inbox, to get events with no endpoint the forge reaches, and those
// a webhook missed.
type DeliveryLog interface {
	// Deliveries lists the deliveries made at since or after, oldest
	// first; with since zero, only the latest, to start from.
	Deliveries(ctx context.Context, since time.Time) ([]LoggedDelivery, error)
	// LoggedEvent reads delivery id and decodes it as ParseWebhook does,
	// with the same errors, but without a signature to check: it came
	// over the forge's authenticated API. A delivery the forge no longer
	// shows wraps ErrNotFound.
	LoggedEvent(ctx context.Context, id int64) (Event, error)
}

// LoggedDelivery is one delivery in a DeliveryLog.
type LoggedDelivery struct {
	ID int64
	// GUID is the delivery's id, as its X-GitHub-Delivery header said.
	GUID  string
	Event string
	// StatusCode is what the webhook's target answered; 0 when nothing
	// did.
	StatusCode int
	Delivered  time.Time
}

// CheckReporter is a forge that shows a project's result as a check run
// too, beside its commit status: its summary and its whole output, in
// the forge's checks tab. On GitHub only an App can; a forge whose
// credentials cannot reports none and says nil.
type CheckReporter interface {
	// SetCheckRun creates the check run named run.Name on commit sha, or
	// updates it when this forge created it before.
	SetCheckRun(ctx context.Context, repo Repo, sha string, run CheckRun) error
	// MaxCheckText is the longest Summary or Text the forge takes, in
	// bytes.
	MaxCheckText() int
}

// CheckRun is a check run as atoll reports it.
type CheckRun struct {
	// Name is its name, "atoll/plan: DIR/WORKSPACE".
	Name string
	// State is Running while the project runs, then Success or Failure.
	State State
	// Title is one line: the tool's summary, or why it failed.
	Title string
	// Summary and Text are Markdown: what happened, and the output.
	Summary, Text string
}

// RefResolver is a forge that can say which commit a branch, tag or
// commit of a repository names: for work asked for on a repository
// rather than on a pull request (atoll's API).
type RefResolver interface {
	// ResolveRef finds ref in repository repo ("owner/name"): a branch,
	// a tag or a commit sha; the default branch when ref is "". The
	// error wraps ErrNotFound when the forge has no such repository or
	// ref, or does not show it to atoll.
	ResolveRef(ctx context.Context, repo, ref string) (Ref, error)
}

// Ref is a commit of a repository, as a RefResolver found it.
type Ref struct {
	// Repo is the repository, with its clone URL.
	Repo Repo
	// Name is the ref asked for, or the default branch's name.
	Name string
	SHA  string
	// Branch is the branch whose configuration applies to the commit:
	// Name when it names a branch, else the default branch.
	Branch string
}

// IssueTracker is a forge on which atoll can keep an issue of its own in
// a repository: its drift report. Issues are told apart by a label.
type IssueTracker interface {
	// FindIssue returns the open issue of repo that carries label and
	// that atoll opened (its author is CurrentUser), the newest if
	// several; false when there is none.
	FindIssue(ctx context.Context, repo Repo, label string) (Issue, bool, error)
	// OpenIssue opens an issue in repo with title, body and label
	// (created on the repository if missing, where the forge needs that)
	// and returns it.
	OpenIssue(ctx context.Context, repo Repo, title, body, label string) (Issue, error)
	// UpdateIssue replaces the title and body of issue number, and
	// reopens it when closed.
	UpdateIssue(ctx context.Context, repo Repo, number int, title, body string) error
	// CloseIssue closes issue number with a last comment, comment ("" for
	// none).
	CloseIssue(ctx context.Context, repo Repo, number int, comment string) error
}

// Issue is an issue as atoll keeps it.
type Issue struct {
	Number int    // GitHub's number, GitLab's iid
	URL    string // its web page
	Open   bool
}

// EventType says what happened.
type EventType int

const (
	// PullOpened covers opened and reopened pull requests.
	PullOpened EventType = iota + 1
	// PullUpdated is new commits pushed to a pull request.
	PullUpdated
	// PullReady is a draft marked ready for review.
	PullReady
	// PullClosed is a pull request closed or merged.
	PullClosed
	// CommentCreated is a new comment on a pull request.
	CommentCreated
)

func (t EventType) String() string {
	switch t {
	case PullOpened:
		return "pull request opened"
	case PullUpdated:
		return "pull request updated"
	case PullReady:
		return "pull request ready for review"
	case PullClosed:
		return "pull request closed"
	case CommentCreated:
		return "comment created"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one webhook delivery, decoded and verified.
type Event struct {
	Type EventType
	// DeliveryID is the forge's id for this delivery; a redelivery repeats it.
	DeliveryID string
	Repo       Repo
	// Pull is as much of the pull request as the payload carries. Comment
	// events carry only Repo and Number. Payload fields are only as
	// trustworthy as the webhook's signature: before acting, fetch the
	// pull request with PullRequest, whose clone URL and head come from
	// the forge's API.
	Pull PullRequest
	// Comment is set for CommentCreated.
	Comment Comment
}

// Comment is a comment on a pull request.
type Comment struct {
	ID     int64
	Author string
	Body   string
	// Created is when the comment was written, zero where the source
	// does not say; an edit leaves it be.
	Created time.Time
}

// State is a commit status state.
type State string

// Commit status states.
const (
	// Pending: waiting for something to happen (an apply, say).
	Pending State = "pending"
	// Running: atoll runs the command now. Forges without the state show
	// it as Pending.
	Running State = "running"
	Success State = "success"
	Failure State = "failure"
)

// Status is one commit status.
type Status struct {
	Context     string
	State       State
	Description string
	// TargetURL links to details; empty for none.
	TargetURL string
}

// Errors that ParseWebhook wraps; the server maps them to HTTP answers.
var (
	// ErrUnauthorized: the signature or token is missing or wrong (401).
	ErrUnauthorized = errors.New("webhook signature invalid")
	// ErrBadPayload: the body cannot be decoded (400).
	ErrBadPayload = errors.New("malformed webhook payload")
	// ErrIgnored: a valid delivery that atoll does not act on (200). The
	// wrapping error's text says why.
	ErrIgnored = errors.New("ignored")
)

// ErrNotFound is wrapped by an error of the forge's that says it has no
// such thing, or does not show it to atoll.
var ErrNotFound = errors.New("vcs: not found")

// ErrTooManyFiles is wrapped by ChangedFiles's error when the forge lists
// only some of the files a pull request changes: more than its diff
// limits let it show.
var ErrTooManyFiles = errors.New("vcs: the forge lists only some of the changed files")

// Delivery is a webhook as a forge sends it: atoll forward sends one
// built from a CI job's event, and atoll ci reads one.
type Delivery struct {
	Header http.Header
	Body   []byte
}

// DerivedID is an id in the shape of a UUID, the same for the same parts:
// a delivery id for an event re-sent from a CI run, which a re-run of the
// job repeats.
func DerivedID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8: made up by the application
	b[8] = b[8]&0x3f | 0x80 // the RFC 9562 variant
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
