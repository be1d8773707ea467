package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs"
)

var _ vcs.RefResolver = (*Forge)(nil)

// ResolveRef implements vcs.RefResolver: the repository, then the ref as
// a branch, and as any commit-ish when it is none.
func (f *Forge) ResolveRef(ctx context.Context, repo, ref string) (vcs.Ref, error) {
	owner, name := splitRepo(repo)
	r, resp, err := f.client.Repositories.Get(ctx, owner, name)
	if err != nil {
		return vcs.Ref{}, refError("fetching repository "+repo, resp, err)
	}
	out := vcs.Ref{Repo: vcs.Repo{FullName: r.GetFullName(), CloneURL: r.GetCloneURL()}, Name: ref, Branch: r.GetDefaultBranch()}
	if ref == "" {
		out.Name = r.GetDefaultBranch()
	}
	b, resp, err := f.client.Repositories.GetBranch(ctx, owner, name, out.Name, 0)
	switch {
	case err == nil:
		out.SHA, out.Branch = b.GetCommit().GetSHA(), b.GetName()
		return out, nil
	case resp == nil || resp.StatusCode != http.StatusNotFound:
		return vcs.Ref{}, refError(fmt.Sprintf("fetching branch %s of %s", out.Name, repo), resp, err)
	}
	// Not a branch: a tag or a commit.
	if out.SHA, resp, err = f.client.Repositories.GetCommitSHA1(ctx, owner, name, out.Name, ""); err != nil {
		return vcs.Ref{}, refError(fmt.Sprintf("finding commit %s of %s", out.Name, repo), resp, err)
	}
	return out, nil
}

// refError wraps err, from fetching what, in vcs.ErrNotFound when GitHub
// answered that there is no such thing: 404, or 422 for a commit.
func refError(what string, resp *gh.Response, err error) error {
	if resp != nil && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusUnprocessableEntity) {
		err = errors.Join(vcs.ErrNotFound, err)
	}
	return fmt.Errorf("github: %s: %w", what, err)
}
