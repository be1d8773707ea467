package gitlab

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	gl "github.com/xanzy/go-gitlab"

	"github.com/atoll-iac/atoll/vcs"
)

var _ vcs.Watcher = (*Forge)(nil)

// Repos implements vcs.Watcher with the projects the token's user is a
// member of, directly or through a group.
func (f *Forge) Repos(ctx context.Context) ([]string, error) {
	opt := &gl.ListProjectsOptions{Membership: gl.Ptr(true), Simple: gl.Ptr(true), ListOptions: gl.ListOptions{PerPage: 100}}
	var names []string
	for {
		projects, resp, err := f.poll.Projects.ListProjects(opt, gl.WithContext(ctx))
		f.noteRate(resp)
		if err != nil {
			return nil, pollError("listing projects", resp, err)
		}
		for _, p := range projects {
			names = append(names, p.PathWithNamespace)
		}
		if resp.NextPage == 0 {
			return names, nil
		}
		opt.Page = resp.NextPage
	}
}

// OpenPulls implements vcs.Watcher.
func (f *Forge) OpenPulls(ctx context.Context, repo string) ([]vcs.PullRequest, error) {
	opt := &gl.ListProjectMergeRequestsOptions{State: gl.Ptr("opened"), ListOptions: gl.ListOptions{PerPage: 100}}
	var pulls []vcs.PullRequest
	for {
		mrs, resp, err := f.poll.MergeRequests.ListProjectMergeRequests(repo, opt, gl.WithContext(ctx))
		f.noteRate(resp)
		if err != nil {
			return nil, pollError("listing open merge requests of "+repo, resp, err)
		}
		for _, mr := range mrs {
			pulls = append(pulls, listedPull(repo, mr))
		}
		if resp.NextPage == 0 {
			return pulls, nil
		}
		opt.Page = resp.NextPage
	}
}

// Changes implements vcs.Watcher: the merge requests updated since, and
// the notes written since on each of them. A note updates its merge
// request, so a merge request that did not change has no new notes and
// costs nothing more. The merge requests are asked for with the ETag of
// the last answer: while GitLab says they are unchanged, so is what
// changed.
func (f *Forge) Changes(ctx context.Context, repo string, since time.Time) (vcs.Changes, error) {
	opt := &gl.ListProjectMergeRequestsOptions{
		State: gl.Ptr("all"), OrderBy: gl.Ptr("updated_at"), Sort: gl.Ptr("desc"),
		ListOptions: gl.ListOptions{PerPage: 100},
	}
	if !since.IsZero() {
		opt.UpdatedAfter = gl.Ptr(since.UTC())
	}
	ch := vcs.Changes{Latest: since}
	query := since.UTC().Format(time.RFC3339Nano)
	tag, kept, ok := f.changes.Get(repo, query)
	for {
		options := []gl.RequestOptionFunc{gl.WithContext(ctx)}
		if ok && opt.Page <= 1 {
			options = append(options, gl.WithHeader("If-None-Match", tag))
		}
		mrs, resp, err := f.poll.MergeRequests.ListProjectMergeRequests(repo, opt, options...)
		f.noteRate(resp)
		if ok && opt.Page <= 1 && resp != nil && resp.StatusCode == http.StatusNotModified {
			return kept, nil
		}
		if err != nil {
			return vcs.Changes{}, pollError("listing merge requests of "+repo, resp, err)
		}
		if opt.Page <= 1 {
			tag = resp.Header.Get("ETag")
		}
		if err := f.addMergeRequests(ctx, repo, since, mrs, &ch); err != nil {
			return vcs.Changes{}, err
		}
		if resp.NextPage == 0 {
			break
		}
		tag = "" // an answer of several pages is not kept
		opt.Page = resp.NextPage
	}
	f.changes.Put(repo, query, tag, ch)
	return ch, nil
}

// addMergeRequests adds mrs to ch, with the notes written on each at or
// after since.
func (f *Forge) addMergeRequests(ctx context.Context, repo string, since time.Time, mrs []*gl.MergeRequest, ch *vcs.Changes) error {
	for _, mr := range mrs {
		ch.Pulls = append(ch.Pulls, listedPull(repo, mr))
		if mr.UpdatedAt != nil {
			ch.Latest = later(ch.Latest, *mr.UpdatedAt)
		}
		notes, err := f.notesSince(ctx, repo, mr.IID, since)
		if err != nil {
			return err
		}
		ch.Comments = append(ch.Comments, notes...)
	}
	return nil
}

// notesSince lists the notes users wrote on merge request iid at or after
// since, oldest first: GitLab's own notes (system notes: "added 1
// commit") are left out.
func (f *Forge) notesSince(ctx context.Context, repo string, iid int, since time.Time) ([]vcs.PullComment, error) {
	opt := &gl.ListMergeRequestNotesOptions{OrderBy: gl.Ptr("created_at"), Sort: gl.Ptr("desc"), ListOptions: gl.ListOptions{PerPage: 100}}
	var out []vcs.PullComment
	for {
		notes, resp, err := f.poll.Notes.ListMergeRequestNotes(repo, iid, opt, gl.WithContext(ctx))
		f.noteRate(resp)
		if err != nil {
			return nil, pollError(fmt.Sprintf("listing the notes of %s!%d", repo, iid), resp, err)
		}
		for _, n := range notes {
			if n.CreatedAt == nil || n.CreatedAt.Before(since) {
				return reversed(out), nil
			}
			if n.System {
				continue
			}
			out = append(out, vcs.PullComment{
				Comment: vcs.Comment{ID: int64(n.ID), Author: n.Author.Username, Body: n.Body, Created: *n.CreatedAt},
				Pull:    iid,
			})
		}
		if resp.NextPage == 0 {
			return reversed(out), nil
		}
		opt.Page = resp.NextPage
	}
}

func reversed[T any](s []T) []T {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
	return s
}

// listedPull is a merge request as a list shows it.
func listedPull(repo string, mr *gl.MergeRequest) vcs.PullRequest {
	p := convertMergeRequest(mr)
	p.Repo = vcs.Repo{FullName: repo}
	return p
}

// noteRate keeps what resp says of the rate limit; GitLab says nothing
// where no limit is set.
func (f *Forge) noteRate(resp *gl.Response) {
	if resp == nil {
		return
	}
	limit, err := strconv.Atoi(resp.Header.Get("RateLimit-Limit"))
	if err != nil || limit <= 0 {
		return
	}
	remaining, _ := strconv.Atoi(resp.Header.Get("RateLimit-Remaining"))
	reset, _ := strconv.ParseInt(resp.Header.Get("RateLimit-Reset"), 10, 64)
	f.mu.Lock()
	f.rate = vcs.RateLimit{Limit: limit, Remaining: remaining, Reset: time.Unix(reset, 0)}
	f.mu.Unlock()
}

// RateLimit implements vcs.Watcher.
func (f *Forge) RateLimit() vcs.RateLimit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rate
}

// pollError wraps err from doing what, as a *vcs.RateLimitError when
// GitLab answered 429 (after the client's own retries).
func pollError(what string, resp *gl.Response, err error) error {
	err = fmt.Errorf("gitlab: %s: %w", what, err)
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		return err
	}
	retry := time.Now().Add(time.Minute)
	if s, convErr := strconv.Atoi(resp.Header.Get("Retry-After")); convErr == nil {
		retry = time.Now().Add(time.Duration(s) * time.Second)
	} else if reset, convErr := strconv.ParseInt(resp.Header.Get("RateLimit-Reset"), 10, 64); convErr == nil {
		retry = time.Unix(reset, 0)
	}
	return &vcs.RateLimitError{Retry: retry, Err: err}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
