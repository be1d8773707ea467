package server

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
)

// asksApply reports whether an event is an apply command.
func asksApply(ev vcs.Event, allowedExtra []string) bool {
	if ev.Type != vcs.CommentCreated {
		return false
	}
	cmd, ok, err := ParseComment(ev.Comment.Body, allowedExtra)
	return ok && err == nil && cmd.Name == "apply"
}

// interruptedApply answers an apply command whose first run stopped
// midway (its replica died, or the server stopped before it finished). It
// never applies again: what may have been half applied is marked as
// unknown, its lock kept, and the pull request told how to find out. It
// reports false, and does nothing, when no project was being applied (an
// apply records that before it begins): then the apply runs again, for
// the plans still waiting.
func (s *Server) interruptedApply(ctx context.Context, jc *jobContext, forge vcs.Forge, ev vcs.Event) (answered bool, err error) {
	pull, err := forge.PullRequest(ctx, ev.Repo, ev.Pull.Number)
	if err != nil {
		return true, err
	}
	unknown, err := s.workspaces.UpdateRecords(ctx, pull.Repo.FullName, pull.Number, func(rec *runner.PlanRecord) bool {
		if rec.State != runner.Applying {
			return false
		}
		rec.State, rec.Summary = runner.ApplyUnknown, "interrupted: outcome unknown"
		return true
	})
	if err != nil {
		return true, err
	}
	if len(unknown) == 0 {
		return false, nil
	}
	jc.log.Warn("apply was interrupted; not applying again", "unknown", len(unknown))
	rctx, cancel := reportContext(ctx)
	defer cancel()
	var b strings.Builder
	fmt.Fprintf(&b, "**atoll was interrupted while applying** (job `%s`): the server running it stopped before it finished, and atoll does not apply again on its own.\n\n", jc.id)
	b.WriteString("These projects were being applied; whether that went through is **unknown**, and their locks stay with this pull request:\n\n")
	for _, rec := range unknown {
		fmt.Fprintf(&b, "- %s in workspace `%s`", projectResult{Project: project(rec), Name: rec.Name}.title(), rec.Workspace)
		b.WriteString(s.keepUnknownLock(rctx, jc, pull, rec) + "\n")
		s.setStatus(rctx, jc, forge, pull, "apply", cmp.Or(rec.Target, rec.Dir+"/"+rec.Workspace), vcs.Failure, "interrupted: outcome unknown")
	}
	b.WriteString("\nTo find out, plan again (`atoll plan`): a plan with no changes means the apply went through. Then apply what is left.\n")
	s.setAggregates(rctx, jc, forge, pull)
	// In the running comment of the cut-short run, if it posted one.
	_, err = s.finish(rctx, jc.resultReply(forge, pull), b.String())
	return true, err
}

// keepUnknownLock keeps the lock of a project whose apply is unknown until
// someone unlocks it: with a lock TTL, a lock lapses unless kept, and no
// other pull request should plan over a state that may be half applied.
// When it cannot, it returns a note saying so for the comment.
func (s *Server) keepUnknownLock(ctx context.Context, jc *jobContext, pull vcs.PullRequest, rec runner.PlanRecord) string {
	if s.lockTTL == 0 {
		return "" // taken without expiry: it stays
	}
	l := s.projectLock(locking.Key{Repo: pull.Repo.FullName, Dir: rec.Dir, Workspace: rec.Workspace}, pull.Number, rec.User)
	l.Expires = time.Time{}
	holder, ok, err := s.locker.TryLock(ctx, l)
	switch {
	case err != nil:
		jc.log.Error("keeping the lock of an interrupted apply", "dir", rec.Dir, "workspace", rec.Workspace, "err", err)
		return " (atoll could not keep its lock: it lapses with the lock TTL)"
	case !ok:
		return fmt.Sprintf(" (its lock lapsed meanwhile: #%d holds it now)", holder.Pull)
	}
	return ""
}
