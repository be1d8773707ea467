package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/vcs/internal/etag"
)

var (
	_ vcs.Watcher = (*Forge)(nil)
	_ vcs.Reactor = (*Forge)(nil)
)

// pollPage is how many pull requests a poll reads at once: enough for
// what changes between two polls, few enough that the first page,
// which each poll asks for, stays small.
const pollPage = 30

// Repos implements vcs.Watcher with the repositories the token's user
// owns, collaborates on or reaches through an organization; an App's,
// with those of each of its installations.
func (f *Forge) Repos(ctx context.Context) ([]string, error) {
	if f.app != nil {
		return f.appRepos(ctx)
	}
	opts := &gh.RepositoryListOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	var names []string
	for {
		repos, resp, err := f.client.Repositories.List(ctx, "", opts)
		f.noteRate(resp)
		if err != nil {
			return nil, pollError("listing repositories", err)
		}
		for _, r := range repos {
			names = append(names, r.GetFullName())
		}
		if resp.NextPage == 0 {
			return names, nil
		}
		opts.Page = resp.NextPage
	}
}

// appRepos lists the repositories of each of the App's installations.
func (f *Forge) appRepos(ctx context.Context) ([]string, error) {
	ids, err := f.app.installationIDs(ctx)
	if err != nil {
		return nil, pollError("listing the App's installations", err)
	}
	var names []string
	for _, id := range ids {
		ictx := forInstallation(ctx, id)
		opts := &gh.ListOptions{PerPage: 100}
		for {
			list, resp, err := f.client.Apps.ListRepos(ictx, opts)
			f.noteRate(resp)
			if err != nil {
				return nil, pollError(fmt.Sprintf("listing the repositories of installation %d", id), err)
			}
			for _, r := range list.Repositories {
				names = append(names, r.GetFullName())
			}
			if resp.NextPage == 0 {
				break
			}
			opts.Page = resp.NextPage
		}
	}
	return names, nil
}

// OpenPulls implements vcs.Watcher.
func (f *Forge) OpenPulls(ctx context.Context, repo string) ([]vcs.PullRequest, error) {
	owner, name := splitRepo(repo)
	opts := &gh.PullRequestListOptions{State: "open", ListOptions: gh.ListOptions{PerPage: 100}}
	var pulls []vcs.PullRequest
	for {
		page, resp, err := f.client.PullRequests.List(ctx, owner, name, opts)
		f.noteRate(resp)
		if err != nil {
			return nil, pollError("listing open pull requests of "+repo, err)
		}
		for _, pr := range page {
			pulls = append(pulls, convertPull(vcs.Repo{FullName: repo}, pr))
		}
		if resp.NextPage == 0 {
			return pulls, nil
		}
		opts.Page = resp.NextPage
	}
}

// Changes implements vcs.Watcher: the pull requests most recently
// updated, a page at a time until one older than since, and the
// repository's comments updated since. The first page of each is asked
// for with the ETag of its last answer: while nothing changes, GitHub
// answers 304, which its rate limit does not count.
func (f *Forge) Changes(ctx context.Context, repo string, since time.Time) (vcs.Changes, error) {
	ch := vcs.Changes{Latest: since}
	if err := f.pullsSince(ctx, repo, since, &ch); err != nil {
		return vcs.Changes{}, err
	}
	if err := f.commentsSince(ctx, repo, since, &ch); err != nil {
		return vcs.Changes{}, err
	}
	return ch, nil
}

// listed is an item of a list as a poll keeps it: what atoll needs of
// it, and when it was last updated.
type listed[T any] struct {
	item    T
	updated time.Time
}

// page is one page of a list.
type page[T any] struct {
	items []listed[T]
	last  bool
}

// pullsSince adds to ch repo's pull requests updated at or after since.
func (f *Forge) pullsSince(ctx context.Context, repo string, since time.Time, ch *vcs.Changes) error {
	convert := func(pr *gh.PullRequest) listed[vcs.PullRequest] {
		return listed[vcs.PullRequest]{convertPull(vcs.Repo{FullName: repo}, pr), pr.GetUpdatedAt().Time}
	}
	for n := 1; ; n++ {
		q := url.Values{"state": {"all"}, "sort": {"updated"}, "direction": {"desc"}, "per_page": {fmt.Sprint(pollPage)}, "page": {fmt.Sprint(n)}}
		p, err := getPage(ctx, f, &f.pullPages, "pulls "+repo, n == 1, "repos/"+repo+"/pulls?"+q.Encode(), convert)
		if err != nil {
			return pollError("listing pull requests of "+repo, err)
		}
		for _, l := range p.items {
			if l.updated.Before(since) {
				return nil
			}
			ch.Pulls = append(ch.Pulls, l.item)
			ch.Latest = later(ch.Latest, l.updated)
		}
		if p.last {
			return nil
		}
	}
}

// commentsSince adds to ch the comments on repo's pull requests updated
// at or after since, oldest first. They are read newest first: a comment
// edited while the pages are read moves to the top, to be read again
// next time, rather than past the page boundary out of sight.
func (f *Forge) commentsSince(ctx context.Context, repo string, since time.Time, ch *vcs.Changes) error {
	convert := func(c *gh.IssueComment) listed[vcs.PullComment] {
		n, _ := pullNumber(c.GetHTMLURL()) // 0: a comment on an issue
		return listed[vcs.PullComment]{vcs.PullComment{
			Comment: vcs.Comment{ID: c.GetID(), Author: c.GetUser().GetLogin(), Body: c.GetBody(), Created: c.GetCreatedAt().Time},
			Pull:    n,
		}, c.GetUpdatedAt().Time}
	}
	var comments []vcs.PullComment
	for n := 1; ; n++ {
		q := url.Values{"sort": {"updated"}, "direction": {"desc"}, "per_page": {"100"}, "page": {fmt.Sprint(n)}}
		if !since.IsZero() {
			q.Set("since", since.UTC().Format(time.RFC3339))
		}
		p, err := getPage(ctx, f, &f.commentPages, "comments "+repo, n == 1, "repos/"+repo+"/issues/comments?"+q.Encode(), convert)
		if err != nil {
			return pollError("listing comments of "+repo, err)
		}
		for _, l := range p.items {
			ch.Latest = later(ch.Latest, l.updated)
			if l.item.Pull != 0 && !slices.ContainsFunc(comments, func(c vcs.PullComment) bool { return c.ID == l.item.ID }) {
				comments = append(comments, l.item)
			}
		}
		if p.last {
			slices.Reverse(comments)
			ch.Comments = append(ch.Comments, comments...)
			return nil
		}
	}
}

// getPage GETs the page of a list at path, its items as convert makes
// them. When conditional, it asks with the ETag of the answer kept in
// cache's slot, takes that answer when GitHub says it is unchanged, and
// keeps the new one otherwise.
func getPage[T, C any](ctx context.Context, f *Forge, cache *etag.Cache[page[C]], slot string, conditional bool, path string, convert func(T) listed[C]) (page[C], error) {
	req, err := f.client.NewRequest(http.MethodGet, path, nil)
	if err != nil {
		return page[C]{}, err
	}
	u := req.URL.String()
	tag, kept, ok := cache.Get(slot, u)
	if conditional && ok {
		req.Header.Set("If-None-Match", tag)
	}
	var list []T
	resp, err := f.client.Do(ctx, req, &list)
	f.noteRate(resp)
	if conditional && ok && resp != nil && resp.StatusCode == http.StatusNotModified {
		return kept, nil
	}
	if err != nil {
		return page[C]{}, err
	}
	p := page[C]{last: resp.NextPage == 0}
	for _, it := range list {
		p.items = append(p.items, convert(it))
	}
	if conditional {
		cache.Put(slot, u, resp.Header.Get("ETag"), p)
	}
	return p, nil
}

// noteRate keeps what resp says of the rate limit.
func (f *Forge) noteRate(resp *gh.Response) {
	if resp == nil || resp.Rate.Limit == 0 {
		return
	}
	f.mu.Lock()
	f.rate = vcs.RateLimit{Limit: resp.Rate.Limit, Remaining: resp.Rate.Remaining, Reset: resp.Rate.Reset.Time}
	f.mu.Unlock()
}

// RateLimit implements vcs.Watcher.
func (f *Forge) RateLimit() vcs.RateLimit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rate
}

// pollError wraps err from doing what, as a *vcs.RateLimitError when
// GitHub refused it for a rate limit, primary or secondary.
func pollError(what string, err error) error {
	err = fmt.Errorf("github: %s: %w", what, err)
	if rl, ok := errors.AsType[*gh.RateLimitError](err); ok {
		return &vcs.RateLimitError{Retry: rl.Rate.Reset.Time, Err: err}
	}
	if ab, ok := errors.AsType[*gh.AbuseRateLimitError](err); ok {
		wait := time.Minute // GitHub's advice when it does not say
		if ab.RetryAfter != nil {
			wait = *ab.RetryAfter
		}
		return &vcs.RateLimitError{Retry: time.Now().Add(wait), Err: err}
	}
	return err
}

// pullNumber is the pull request a comment's web address puts it on:
// GitHub links comments on pull requests under /pull/N and those on
// issues under /issues/N.
func pullNumber(htmlURL string) (int, bool) {
	u, err := url.Parse(htmlURL)
	if err != nil {
		return 0, false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || parts[len(parts)-2] != "pull" {
		return 0, false
	}
	var n int
	if _, err := fmt.Sscan(parts[len(parts)-1], &n); err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// React implements vcs.Reactor with the reaction "eyes".
func (f *Forge) React(ctx context.Context, repo vcs.Repo, number int, id int64) error {
	owner, name := splitRepo(repo.FullName)
	if _, _, err := f.client.Reactions.CreateIssueCommentReaction(ctx, owner, name, id, "eyes"); err != nil {
		return fmt.Errorf("github: reacting to comment %d on %s#%d: %w", id, repo.FullName, number, err)
	}
	return nil
}
