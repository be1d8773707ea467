package gitlab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs"
)

// Reviews implements vcs.Forge with the merge request's approvals, which
// every tier has: each approver's approval is a review that approves.
func (f *Forge) Reviews(ctx context.Context, repo vcs.Repo, number int) ([]vcs.Review, error) {
	a, _, err := f.client.MergeRequestApprovals.GetConfiguration(repo.FullName, number, gl.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("gitlab: fetching the approvals of %s!%d: %w", repo.FullName, number, err)
	}
	var reviews []vcs.Review
	for _, by := range a.ApprovedBy {
		if by.User != nil {
			reviews = append(reviews, vcs.Review{User: by.User.Username, State: vcs.Approved})
		}
	}
	return reviews, nil
}

// CanWrite implements vcs.Forge: user is a member of the project, direct
// or through its groups, with at least Developer access.
func (f *Forge) CanWrite(ctx context.Context, repo vcs.Repo, user string) (bool, error) {
	id, ok, err := f.userID(ctx, user)
	if err != nil || !ok {
		return false, err
	}
	m, _, err := f.client.ProjectMembers.GetInheritedProjectMember(repo.FullName, id, gl.WithContext(ctx))
	if notFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("gitlab: fetching %s's access to %s: %w", user, repo.FullName, err)
	}
	return m.AccessLevel >= developer, nil
}

// InTeam implements vcs.TeamChecker with GitLab's groups: team is a
// group's full path ("group" or "group/sub"), and user a member of it,
// direct or through a parent group.
func (f *Forge) InTeam(ctx context.Context, team, user string) (bool, error) {
	id, ok, err := f.userID(ctx, user)
	if err != nil || !ok {
		return false, err
	}
	m, _, err := f.client.GroupMembers.GetInheritedGroupMember(team, id, gl.WithContext(ctx))
	if notFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("gitlab: fetching %s's membership of %s: %w", user, team, err)
	}
	return m.AccessLevel > gl.NoPermissions, nil
}

// userIDLife is how long a user's id is cached: a username moves to
// another user when its user renames, and another takes it.
const userIDLife = 10 * time.Minute

// userID returns the id of the user called username; false when there is
// none.
func (f *Forge) userID(ctx context.Context, username string) (int, bool, error) {
	f.mu.Lock()
	u, ok := f.users[strings.ToLower(username)]
	f.mu.Unlock()
	if ok && time.Since(u.at) < userIDLife {
		return u.id, true, nil
	}
	users, _, err := f.client.Users.ListUsers(&gl.ListUsersOptions{Username: gl.Ptr(username)}, gl.WithContext(ctx))
	if err != nil {
		return 0, false, fmt.Errorf("gitlab: looking up user %s: %w", username, err)
	}
	for _, u := range users {
		if strings.EqualFold(u.Username, username) {
			f.mu.Lock()
			f.users[strings.ToLower(username)] = cachedID{u.ID, time.Now()}
			f.mu.Unlock()
			return u.ID, true, nil
		}
	}
	return 0, false, nil
}

// BehindBase implements vcs.Forge: the target branch has commits the
// merge request's source lacks.
func (f *Forge) BehindBase(ctx context.Context, pull vcs.PullRequest) (bool, error) {
	mr, _, err := f.client.MergeRequests.GetMergeRequest(pull.Repo.FullName, pull.Number,
		&gl.GetMergeRequestsOptions{IncludeDivergedCommitsCount: gl.Ptr(true)}, gl.WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("gitlab: fetching merge request %s!%d: %w", pull.Repo.FullName, pull.Number, err)
	}
	return mr.DivergedCommitsCount > 0, nil
}

// Merge implements vcs.Merger, if the head is still pull.HeadSHA.
func (f *Forge) Merge(ctx context.Context, pull vcs.PullRequest) error {
	_, _, err := f.client.MergeRequests.AcceptMergeRequest(pull.Repo.FullName, pull.Number,
		&gl.AcceptMergeRequestOptions{SHA: gl.Ptr(pull.HeadSHA)}, gl.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("gitlab: merging %s!%d: %w", pull.Repo.FullName, pull.Number, err)
	}
	return nil
}

// DeleteBranch implements vcs.BranchDeleter, in the merge request's own
// project (atoll deletes no fork's branch).
func (f *Forge) DeleteBranch(ctx context.Context, pull vcs.PullRequest) error {
	if pull.HeadRef == "" {
		return fmt.Errorf("gitlab: deleting the branch of %s!%d: no branch name", pull.Repo.FullName, pull.Number)
	}
	_, err := f.client.Branches.DeleteBranch(pull.Repo.FullName, pull.HeadRef, gl.WithContext(ctx))
	if err != nil && !notFound(err) {
		return fmt.Errorf("gitlab: deleting branch %s of %s!%d: %w", pull.HeadRef, pull.Repo.FullName, pull.Number, err)
	}
	return nil
}

// outdatedMark starts a note HideComment collapsed.
const outdatedMark = "<details><summary>Outdated: atoll planned again since.</summary>\n\n"

// HideComment implements vcs.CommentHider. GitLab cannot hide a note
// through its API, so the note is edited into a collapsed block under a
// line saying it is outdated.
func (f *Forge) HideComment(ctx context.Context, repo vcs.Repo, number int, id int64) error {
	n, err := f.GetComment(ctx, repo, number, id)
	if err != nil {
		return err
	}
	if strings.HasPrefix(n.Body, outdatedMark) {
		return nil
	}
	return f.UpdateComment(ctx, repo, number, id, outdatedMark+n.Body+"\n</details>\n")
}

// React implements vcs.Reactor with the award emoji "eyes".
func (f *Forge) React(ctx context.Context, repo vcs.Repo, number int, id int64) error {
	_, _, err := f.client.AwardEmoji.CreateMergeRequestAwardEmojiOnNote(repo.FullName, number, int(id),
		&gl.CreateAwardEmojiOptions{Name: "eyes"}, gl.WithContext(ctx))
	if notFound(err) {
		// GitLab's answer to an award given before ("Award Emoji Name has
		// already been taken"): a redelivery, or a rerun.
		return nil
	}
	if err != nil {
		return fmt.Errorf("gitlab: awarding a note on %s!%d: %w", repo.FullName, number, err)
	}
	return nil
}

// notFound reports whether err is GitLab's 404, which go-gitlab returns
// as gl.ErrNotFound.
func notFound(err error) bool { return errors.Is(err, gl.ErrNotFound) }
