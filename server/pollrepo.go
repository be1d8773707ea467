package server

import (
	"context"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/vcs"
)

// One poll of a repository: what changed since its cursor, admitted as
// the webhooks that would have said so.

const (
	// pollOverlap is how far before its cursor a poll reads: what the
	// forge shows a little late is still read, and what was read before
	// is recognized by its mark.
	pollOverlap = time.Minute
	// maxCommentAge is the age past which a comment is not run, however
	// it arrives: well within runner.CommentWindow, so that one run before
	// is recognized. A repository not polled for longer starts afresh (a
	// baseline).
	maxCommentAge = runner.CommentWindow / 2
	// cursorLag is how far a cursor may fall behind the clock while
	// nothing changes before it is moved up to cursorKeep behind it: in
	// between, a poll asks the same question, which the forge can answer
	// 304.
	cursorLag, cursorKeep = 2 * time.Hour, time.Hour
	// cursorWindow is how long a repository's cursor is kept unused.
	cursorWindow = 90 * 24 * time.Hour
)

// pollRepo reads what changed in repo since its cursor, and admits what
// a webhook would have reported. A repository polled for the first time,
// or not for maxCommentAge, only has its open pull requests looked at.
func (p *poller) pollRepo(ctx context.Context, repo string) error {
	key := "poll/" + p.forge.Name() + "/" + repo
	cursor, err := p.s.tasks.Marked(ctx, key)
	if err != nil {
		return err
	}
	since, err := time.Parse(time.RFC3339Nano, cursor)
	if err != nil || time.Since(since) > maxCommentAge {
		start := time.Now().Add(-pollOverlap)
		if err := p.baseline(ctx, repo); err != nil {
			return err
		}
		return p.setCursor(ctx, key, start)
	}
	from := since.Add(-pollOverlap)
	ch, err := p.watch.Changes(ctx, repo, from)
	if err != nil {
		return err
	}
	for _, pull := range ch.Pulls {
		if err := p.pullChanged(ctx, pull); err != nil {
			return err
		}
	}
	for _, c := range ch.Comments {
		if err := p.commented(ctx, repo, from, c); err != nil {
			return err
		}
	}
	next := ch.Latest
	if time.Since(next) > cursorLag {
		next = time.Now().Add(-cursorKeep)
	}
	if next.After(since) {
		return p.setCursor(ctx, key, next)
	}
	return nil
}

func (p *poller) setCursor(ctx context.Context, key string, t time.Time) error {
	return p.s.tasks.SetMark(ctx, queue.Mark{Key: key, Value: t.UTC().Format(time.RFC3339Nano), TTL: cursorWindow})
}

// baseline notes the state of repo's open pull requests that no event
// reported yet, so that the next change to one is told from no change;
// one whose head moved since an event reported it is planned.
func (p *poller) baseline(ctx context.Context, repo string) error {
	pulls, err := p.watch.OpenPulls(ctx, repo)
	if err != nil {
		return err
	}
	for _, pull := range pulls {
		prev, err := p.s.tasks.Marked(ctx, runner.PullKey(p.forge.Name(), pull.Repo.FullName, pull.Number))
		if err != nil {
			return err
		}
		if prev != "" || pull.Draft {
			if err := p.pullChanged(ctx, pull); err != nil {
				return err
			}
			continue
		}
		if err := p.s.tasks.SetMark(ctx, runner.PullMark(p.forge.Name(), pull)); err != nil {
			return err
		}
	}
	return nil
}

// pullChanged admits the event that took pull from the state its
// events last reported to the one it is in: opened (or reopened),
// pushed to, or closed. A draft reports nothing until it is ready.
func (p *poller) pullChanged(ctx context.Context, pull vcs.PullRequest) error {
	if pull.Open && pull.Draft {
		return nil
	}
	prev, err := p.s.tasks.Marked(ctx, runner.PullKey(p.forge.Name(), pull.Repo.FullName, pull.Number))
	if err != nil || prev == runner.PullState(pull) {
		return err
	}
	ev := vcs.Event{Type: vcs.PullUpdated, DeliveryID: "poll", Repo: pull.Repo, Pull: pull}
	switch {
	case !pull.Open:
		ev.Type = vcs.PullClosed
	case prev == "" || prev == runner.ClosedPull:
		ev.Type = vcs.PullOpened
	}
	_, err = p.s.admit(ctx, p.forge, ev)
	return err
}

// commented admits a comment written at or after from that was not seen
// before, and marks it seen on the forge at once. One seen before, or
// written before from, has been edited: a webhook would say "edited",
// which runs nothing. One older than maxCommentAge is not run: its mark
// may have lapsed.
func (p *poller) commented(ctx context.Context, repo string, from time.Time, c vcs.PullComment) error {
	if c.Created.Before(from) || time.Since(c.Created) > maxCommentAge {
		return nil
	}
	seen, err := p.s.tasks.Marked(ctx, runner.CommentKey(p.forge.Name(), repo, c.ID))
	if err != nil || seen != "" {
		return err
	}
	r := vcs.Repo{FullName: repo}
	ev := vcs.Event{Type: vcs.CommentCreated, DeliveryID: "poll", Repo: r, Pull: vcs.PullRequest{Repo: r, Number: c.Pull}, Comment: c.Comment}
	adm, err := p.s.admit(ctx, p.forge, ev)
	if err != nil || !adm.queued {
		return err
	}
	if reactor, ok := p.forge.(vcs.Reactor); ok {
		if err := reactor.React(ctx, r, c.Pull, c.ID); err != nil {
			p.log.Warn("marking a comment seen", "repo", repo, "comment", c.ID, "err", err)
		}
	}
	return nil
}
