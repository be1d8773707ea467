package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/atoll-iac/atoll/vcs"
)

// historyFile holds the ids of a pull request's latest plan comments.
func (s *Server) historyFile(pull vcs.PullRequest) (string, error) {
	if !filepath.IsLocal(pull.Repo.FullName) {
		return "", fmt.Errorf("unsafe repository name %q", pull.Repo.FullName)
	}
	return filepath.Join(s.dataDir, "comments", filepath.FromSlash(pull.Repo.FullName), strconv.Itoa(pull.Number)+".json"), nil
}

// hidePreviousPlans remembers ids as the pull request's latest plan
// comments and, when the server is told to and the forge can, collapses
// the plan comments before them.
func (s *Server) hidePreviousPlans(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest, ids []int64) {
	s.historyMu.Lock()
	defer s.historyMu.Unlock()
	path, err := s.historyFile(pull)
	if err != nil {
		jc.log.Error("plan comment history", "err", err)
		return
	}
	var prev []int64
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &prev); err != nil {
			jc.log.Error("reading plan comment history", "err", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		jc.log.Error("reading plan comment history", "err", err)
	}
	if len(ids) > 0 {
		b, _ := json.Marshal(ids)
		err := os.MkdirAll(filepath.Dir(path), 0o700)
		if err == nil {
			err = os.WriteFile(path, b, 0o600)
		}
		if err != nil {
			jc.log.Error("saving plan comment history", "err", err)
		}
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

// forgetPlanComments drops the history of a pull request that is closed.
func (s *Server) forgetPlanComments(jc *jobContext, pull vcs.PullRequest) {
	s.historyMu.Lock()
	defer s.historyMu.Unlock()
	path, err := s.historyFile(pull)
	if err == nil {
		err = os.Remove(path)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		jc.log.Error("removing plan comment history", "err", err)
	}
}
