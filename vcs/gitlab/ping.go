package gitlab

import (
	"context"
	"errors"
	"fmt"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs"
)

var _ vcs.Pinger = (*Forge)(nil)

// Ping implements vcs.Pinger with GET /user, the token's user, which
// every token atoll can work with may read; not through CurrentUser,
// which answers from a cache. GitLab counts it as one API request, a
// trifle against its limits (gitlab.com: 2,000 a minute). It is not
// retried: the caller's deadline is short, and the next probe tries
// again.
func (f *Forge) Ping(ctx context.Context) error {
	if f.token == "" {
		return errors.New("gitlab: no token to authenticate with")
	}
	if _, _, err := f.poll.Users.CurrentUser(gl.WithContext(ctx)); err != nil {
		return fmt.Errorf("gitlab: fetching the token's user: %w", err)
	}
	return nil
}
