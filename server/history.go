package server

import (
	"context"

	"github.com/atoll-iac/atoll/vcs"
)

// hidePreviousPlans remembers ids as the pull request's latest plan
// comments and, when the server is told to and the forge can, collapses
// the plan comments before them.
func (s *Server) hidePreviousPlans(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest, ids []int64) {
	if len(ids) == 0 {
		return
	}
	prev, err := s.workspaces.SwapPlanComments(ctx, pull.Repo.FullName, pull.Number, ids)
	if err != nil {
		jc.log.Error("recording plan comments", "err", err)
		return
	}
	hider, ok := forge.(vcs.CommentHider)
	if !s.hidePrev || !ok {
		return
	}
	for _, id := range prev {
		if err := hider.HideComment(ctx, pull.Repo, id); err != nil {
			jc.log.Warn("hiding an earlier plan comment", "comment", id, "err", err)
		}
	}
}

// forgetPlanComments drops the plan comments of a pull request that is
// closed.
func (s *Server) forgetPlanComments(ctx context.Context, jc *jobContext, pull vcs.PullRequest) {
	if _, err := s.workspaces.SwapPlanComments(ctx, pull.Repo.FullName, pull.Number, nil); err != nil {
		jc.log.Error("forgetting plan comments", "err", err)
	}
}
