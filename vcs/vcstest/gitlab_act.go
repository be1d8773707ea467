package vcstest

// Act applies the effect of merge request action, a name SendPullRequest
// takes, to merge request p as GitLab holds it, without a webhook: close,
// reopen, ready and draft change its state and merge merges it with real
// git; each touches its updated_at, as approved, unapproved, approval and
// unapproval do (approvals themselves are Approve's). open and update
// stand for what OpenPull and PushToPull did and change nothing. It
// returns the merge request as the fake now holds it.
func (g *GitLab) Act(t T, action string, p Pull) Pull {
	t.Helper()
	name, _ := lookupAction(t, action)
	g.mu.Lock()
	mr := g.mrLocked(p.Repo, p.Number)
	g.mu.Unlock()
	if mr == nil {
		t.Fatalf("fake gitlab: no merge request %s!%d", p.Repo, p.Number)
	}
	if name == "merge" {
		g.mergeForHook(t, p, mr)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch name {
	case "reopen":
		mr.setOpen(true)
	case "close":
		mr.setOpen(false)
	case "ready", "draft":
		mr.Draft = name == "draft"
		mr.touch()
	case "open", "update", "merge": // done by OpenPull, PushToPull, mergeForHook
	default:
		mr.touch()
	}
	return mr.Pull
}

// PostComment records that author wrote body as a note on merge request
// p, as GitLab holds it, without a webhook, and returns the note's id.
// The API serves it (notes lists it), the merge request's updated_at
// moves, and Comments, which lists what atoll wrote, leaves it out.
func (g *GitLab) PostComment(t T, p Pull, author, body string) int64 {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mrLocked(p.Repo, p.Number) == nil {
		t.Fatalf("fake gitlab: no merge request %s!%d", p.Repo, p.Number)
	}
	g.meetLocked(author)
	return g.addNoteLocked(p.Repo, "MergeRequest", p.Number, author, body, true).ID
}

// EditComment replaces the body of note id on merge request (or issue)
// number of project repo, as its author does, without a webhook: the
// note's updated_at moves, its created_at stays, and the merge request's
// updated_at moves too, as on GitLab.
func (g *GitLab) EditComment(t T, repo string, number int, id int64, body string) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range g.notes {
		if n.ID == id && n.project == repo && n.iid == number {
			g.editLocked(n, body)
			return
		}
	}
	t.Fatalf("fake gitlab: no note %d on %s!%d", id, repo, number)
}
