package vcs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Watcher is a forge atoll can poll: it asks what changed instead of
// waiting for webhooks, for servers the forge cannot reach.
//
// Implementations make idle polls cheap: conditional requests, so that
// a poll that finds nothing new costs the forge's rate limit little or
// nothing.
type Watcher interface {
	// Repos lists the full names of the repositories the account can
	// see.
	Repos(ctx context.Context) ([]string, error)
	// OpenPulls lists the pull requests of repo open now.
	OpenPulls(ctx context.Context, repo string) ([]PullRequest, error)
	// Changes reports what changed in repo at or after since.
	Changes(ctx context.Context, repo string, since time.Time) (Changes, error)
	// RateLimit is what the forge last said of the account's rate limit.
	RateLimit() RateLimit
}

// Changes is what changed in a repository at or after a time.
type Changes struct {
	// Pulls are the pull requests updated since, as the forge holds them
	// now, closed and merged ones included.
	Pulls []PullRequest
	// Comments are the comments on pull requests created or edited
	// since, oldest first.
	Comments []PullComment
	// Latest is the latest update the forge reported, at or after since;
	// since itself when it reported none.
	Latest time.Time
}

// PullComment is a comment listed by Watcher.Changes.
type PullComment struct {
	Comment
	// Pull is the number of the pull request the comment is on.
	Pull int
}

// RateLimit is what a forge said of the account's API budget: Remaining
// requests of Limit until Reset. Limit is 0 when the forge has not said.
type RateLimit struct {
	Limit, Remaining int
	Reset            time.Time
}

// RateLimitError says the forge refused a request for the rate limit,
// and asks atoll to wait until Retry.
type RateLimitError struct {
	Retry time.Time
	Err   error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited until %s: %v", e.Retry.Format(time.RFC3339), e.Err)
}

func (e *RateLimitError) Unwrap() error { return e.Err }

// AsRateLimit returns the time err asks to wait until, when it wraps a
// *RateLimitError.
func AsRateLimit(err error) (time.Time, bool) {
	if rl, ok := errors.AsType[*RateLimitError](err); ok {
		return rl.Retry, true
	}
	return time.Time{}, false
}
