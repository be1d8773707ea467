package vcstest

// Act applies the effect of pull_request action to pull request p, as
// GitHub holds it, without a webhook: closed, reopened (or opened, on a
// closed one), ready_for_review and converted_to_draft change its state;
// every action but opened and synchronize, which OpenPull and PushToPull
// stand for, touches its updated_at. It returns the pull request as the
// fake now holds it.
func (g *GitHub) Act(t T, action string, p Pull) Pull {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.statePullLocked(p.Repo, p.Number)
	if st == nil {
		t.Fatalf("fake github: no pull request %s#%d", p.Repo, p.Number)
	}
	after := afterAction(st.Pull, action)
	st.setOpen(after.Open)
	st.Draft = after.Draft
	if action != "opened" && action != "synchronize" {
		st.touch()
	}
	return st.Pull
}

// PostComment records that author wrote body as a comment on pull request
// p, as GitHub holds it, without a webhook, and returns the comment's id.
// The API serves it (issues/comments lists it), the pull request's
// updated_at moves, and Comments, which lists what atoll wrote, leaves it
// out.
func (g *GitHub) PostComment(t T, p Pull, author, body string) int64 {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.statePullLocked(p.Repo, p.Number) == nil {
		t.Fatalf("fake github: no pull request %s#%d", p.Repo, p.Number)
	}
	return g.addCommentLocked(p.Repo, p.Number, author, body, true).ID
}

// EditComment replaces the body of comment id on issue or pull request
// number of repo, as its author does, without a webhook: the comment's
// updated_at moves, its created_at stays, and so does the pull request's
// updated_at, as on GitHub.
func (g *GitHub) EditComment(t T, repo string, number int, id int64, body string) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.commentLocked(func(c *comment) bool { return c.ID == id && c.repo == repo && c.number == number })
	if c == nil {
		t.Fatalf("fake github: no comment %d on %s#%d", id, repo, number)
	}
	c.edit(body)
}
