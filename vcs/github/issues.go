package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs"
)

var _ vcs.IssueTracker = (*Forge)(nil)

// FindIssue implements vcs.IssueTracker. GitHub lists pull requests
// among issues, and they are skipped. The author is checked here too,
// whatever the creator filter did.
func (f *Forge) FindIssue(ctx context.Context, repo vcs.Repo, label string) (vcs.Issue, bool, error) {
	me, err := f.CurrentUser(ctx)
	if err != nil {
		return vcs.Issue{}, false, err
	}
	owner, name := splitRepo(repo.FullName)
	opts := &gh.IssueListByRepoOptions{
		State: "open", Labels: []string{label}, Creator: me,
		Sort: "created", Direction: "desc", ListOptions: gh.ListOptions{PerPage: 100},
	}
	for {
		page, resp, err := f.client.Issues.ListByRepo(ctx, owner, name, opts)
		if err != nil {
			return vcs.Issue{}, false, issueError("listing issues of "+repo.FullName, resp, err)
		}
		for _, is := range page {
			if !is.IsPullRequest() && strings.EqualFold(is.GetUser().GetLogin(), me) {
				return convertIssue(is), true, nil
			}
		}
		if resp.NextPage == 0 {
			return vcs.Issue{}, false, nil
		}
		opts.Page = resp.NextPage
	}
}

// OpenIssue implements vcs.IssueTracker. GitHub creates a label it does
// not have yet.
func (f *Forge) OpenIssue(ctx context.Context, repo vcs.Repo, title, body, label string) (vcs.Issue, error) {
	owner, name := splitRepo(repo.FullName)
	req := &gh.IssueRequest{Title: &title, Body: &body, Labels: &[]string{label}}
	is, resp, err := f.client.Issues.Create(ctx, owner, name, req)
	if err != nil {
		return vcs.Issue{}, issueError("opening an issue in "+repo.FullName, resp, err)
	}
	return convertIssue(is), nil
}

// UpdateIssue implements vcs.IssueTracker.
func (f *Forge) UpdateIssue(ctx context.Context, repo vcs.Repo, number int, title, body string) error {
	owner, name := splitRepo(repo.FullName)
	req := &gh.IssueRequest{Title: &title, Body: &body, State: gh.String("open")}
	if _, resp, err := f.client.Issues.Edit(ctx, owner, name, number, req); err != nil {
		return issueError(fmt.Sprintf("updating issue %s#%d", repo.FullName, number), resp, err)
	}
	return nil
}

// CloseIssue implements vcs.IssueTracker. The comment goes first: should
// closing fail, the issue stays open for the next try to close.
func (f *Forge) CloseIssue(ctx context.Context, repo vcs.Repo, number int, comment string) error {
	owner, name := splitRepo(repo.FullName)
	if comment != "" {
		if _, resp, err := f.client.Issues.CreateComment(ctx, owner, name, number, &gh.IssueComment{Body: &comment}); err != nil {
			return issueError(fmt.Sprintf("commenting on issue %s#%d", repo.FullName, number), resp, err)
		}
	}
	req := &gh.IssueRequest{State: gh.String("closed"), StateReason: gh.String("completed")}
	if _, resp, err := f.client.Issues.Edit(ctx, owner, name, number, req); err != nil {
		return issueError(fmt.Sprintf("closing issue %s#%d", repo.FullName, number), resp, err)
	}
	return nil
}

// convertIssue is a GitHub issue as atoll keeps it.
func convertIssue(is *gh.Issue) vcs.Issue {
	return vcs.Issue{Number: is.GetNumber(), URL: is.GetHTMLURL(), Open: is.GetState() == "open"}
}

// issueError wraps err, from doing what, in vcs.ErrNotFound when GitHub
// answered 404. Unlike refError it leaves 422 be: about an issue, it
// says that GitHub refused a field.
func issueError(what string, resp *gh.Response, err error) error {
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		err = errors.Join(vcs.ErrNotFound, err)
	}
	return fmt.Errorf("github: %s: %w", what, err)
}
