package gitlab

import (
	"context"
	"fmt"
	"strings"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs"
)

var _ vcs.IssueTracker = (*Forge)(nil)

// FindIssue implements vcs.IssueTracker. The author is checked here too,
// whatever the author filter did.
func (f *Forge) FindIssue(ctx context.Context, repo vcs.Repo, label string) (vcs.Issue, bool, error) {
	me, err := f.CurrentUser(ctx)
	if err != nil {
		return vcs.Issue{}, false, err
	}
	opts := &gl.ListProjectIssuesOptions{
		ListOptions: gl.ListOptions{PerPage: 100},
		State:       gl.Ptr("opened"), Labels: &gl.LabelOptions{label}, AuthorUsername: &me,
		OrderBy: gl.Ptr("created_at"), Sort: gl.Ptr("desc"),
	}
	for {
		page, resp, err := f.client.Issues.ListProjectIssues(repo.FullName, opts, gl.WithContext(ctx))
		if err != nil {
			return vcs.Issue{}, false, refError("listing issues of "+repo.FullName, err)
		}
		for _, is := range page {
			if is.Author != nil && strings.EqualFold(is.Author.Username, me) {
				return convertIssue(is), true, nil
			}
		}
		if resp.NextPage == 0 {
			return vcs.Issue{}, false, nil
		}
		opts.Page = resp.NextPage
	}
}

// OpenIssue implements vcs.IssueTracker. GitLab creates a label it does
// not have yet.
func (f *Forge) OpenIssue(ctx context.Context, repo vcs.Repo, title, body, label string) (vcs.Issue, error) {
	opts := &gl.CreateIssueOptions{Title: &title, Description: &body, Labels: &gl.LabelOptions{label}}
	is, _, err := f.client.Issues.CreateIssue(repo.FullName, opts, gl.WithContext(ctx))
	if err != nil {
		return vcs.Issue{}, refError("opening an issue in "+repo.FullName, err)
	}
	return convertIssue(is), nil
}

// UpdateIssue implements vcs.IssueTracker. GitLab takes a reopen of an
// open issue as nothing to do.
func (f *Forge) UpdateIssue(ctx context.Context, repo vcs.Repo, number int, title, body string) error {
	opts := &gl.UpdateIssueOptions{Title: &title, Description: &body, StateEvent: gl.Ptr("reopen")}
	if _, _, err := f.client.Issues.UpdateIssue(repo.FullName, number, opts, gl.WithContext(ctx)); err != nil {
		return refError(fmt.Sprintf("updating issue %s#%d", repo.FullName, number), err)
	}
	return nil
}

// CloseIssue implements vcs.IssueTracker. The note goes first: should
// closing fail, the issue stays open for the next try to close.
func (f *Forge) CloseIssue(ctx context.Context, repo vcs.Repo, number int, comment string) error {
	if comment != "" {
		opts := &gl.CreateIssueNoteOptions{Body: &comment}
		if _, _, err := f.client.Notes.CreateIssueNote(repo.FullName, number, opts, gl.WithContext(ctx)); err != nil {
			return refError(fmt.Sprintf("commenting on issue %s#%d", repo.FullName, number), err)
		}
	}
	opts := &gl.UpdateIssueOptions{StateEvent: gl.Ptr("close")}
	if _, _, err := f.client.Issues.UpdateIssue(repo.FullName, number, opts, gl.WithContext(ctx)); err != nil {
		return refError(fmt.Sprintf("closing issue %s#%d", repo.FullName, number), err)
	}
	return nil
}

// convertIssue is a GitLab issue as atoll keeps it.
func convertIssue(is *gl.Issue) vcs.Issue {
	return vcs.Issue{Number: is.IID, URL: is.WebURL, Open: is.State == "opened"}
}
