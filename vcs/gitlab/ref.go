package gitlab

import (
	"context"
	"errors"
	"fmt"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs"
)

var _ vcs.RefResolver = (*Forge)(nil)

// ResolveRef implements vcs.RefResolver: the project, then the ref as a
// branch, and as any commit-ish when it is none.
func (f *Forge) ResolveRef(ctx context.Context, repo, ref string) (vcs.Ref, error) {
	p, _, err := f.client.Projects.GetProject(repo, nil, gl.WithContext(ctx))
	if err != nil {
		return vcs.Ref{}, refError("fetching project "+repo, err)
	}
	out := vcs.Ref{Repo: vcs.Repo{FullName: p.PathWithNamespace, CloneURL: p.HTTPURLToRepo}, Name: ref, Branch: p.DefaultBranch}
	if ref == "" {
		out.Name = p.DefaultBranch
	}
	b, _, err := f.client.Branches.GetBranch(repo, out.Name, gl.WithContext(ctx))
	switch {
	case err == nil && b.Commit != nil:
		out.SHA, out.Branch = b.Commit.ID, b.Name
		return out, nil
	case err != nil && !notFound(err):
		return vcs.Ref{}, refError(fmt.Sprintf("fetching branch %s of %s", out.Name, repo), err)
	}
	// Not a branch: a tag or a commit.
	c, _, err := f.client.Commits.GetCommit(repo, out.Name, nil, gl.WithContext(ctx))
	if err != nil {
		return vcs.Ref{}, refError(fmt.Sprintf("finding commit %s of %s", out.Name, repo), err)
	}
	out.SHA = c.ID
	return out, nil
}

// refError wraps err, from fetching what, in vcs.ErrNotFound when GitLab
// answered 404.
func refError(what string, err error) error {
	if notFound(err) {
		err = errors.Join(vcs.ErrNotFound, err)
	}
	return fmt.Errorf("gitlab: %s: %w", what, err)
}
