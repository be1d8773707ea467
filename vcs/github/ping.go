package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/atoll-iac/atoll/vcs"
)

var _ vcs.Pinger = (*Forge)(nil)

// Ping implements vcs.Pinger with GET /rate_limit, which GitHub answers
// with the token's limits and counts against none of them. GitHub
// Enterprise Server with rate limiting off answers it 404 ("Rate limiting
// is not enabled."); Ping then asks GET /user, which costs nothing there,
// and not through CurrentUser, which answers from a cache. An App asks
// GET /app with its JWT, which checks its key.
func (f *Forge) Ping(ctx context.Context) error {
	if f.app != nil {
		if _, _, err := f.client.Apps.Get(ctx, ""); err != nil {
			return fmt.Errorf("github: fetching the App: %w", err)
		}
		return nil
	}
	if f.token == "" {
		return errors.New("github: no token to authenticate with")
	}
	_, resp, err := f.client.RateLimit.Get(ctx)
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		if _, _, err = f.client.Users.Get(ctx, ""); err != nil {
			return fmt.Errorf("github: fetching the authenticated user: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("github: fetching the rate limit: %w", err)
	}
	return nil
}
