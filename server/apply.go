package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// apply applies the pull request's saved plans that the command selects,
// with the binary that made them. It never plans: a plan of an older
// commit is refused, and so is a pull request that does not meet the apply
// requirements.
func (s *Server) apply(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest, user string, cmd Command) error {
	recs, err := s.workspaces.Records(ctx, pull.Repo.FullName, pull.Number)
	if err != nil {
		return err
	}
	var selected []runner.PlanRecord
	var stale []string
	for _, rec := range recs {
		if !rec.Unapplied() || cmd.Dir != "" && rec.Dir != cmd.Dir || cmd.Workspace != "" && rec.Workspace != cmd.Workspace || cmd.Project != "" && rec.Name != cmd.Project {
			continue
		}
		selected = append(selected, rec)
		if rec.SHA != pull.HeadSHA {
			stale = append(stale, fmt.Sprintf("- `%s` in workspace `%s`, planned at %.7s: comment `%s`", rec.Dir, rec.Workspace, rec.SHA, planCommand(rec.Name, project(rec))))
		}
	}
	switch {
	case len(selected) == 0 && cmd.Project != "":
		return userErrorf("There is no plan of project `%s` waiting to be applied. Comment `atoll plan -p %s` first.", quote(cmd.Project), quote(cmd.Project))
	case len(selected) == 0 && cmd.selects():
		return userErrorf("There is no plan waiting to be applied for `%s` in workspace `%s`. Comment `%s` first.",
			cmp.Or(cmd.Dir, "."), cmp.Or(cmd.Workspace, workflows.DefaultWorkspace), planCommand("", workflows.Project{Dir: cmp.Or(cmd.Dir, "."), Workspace: cmp.Or(cmd.Workspace, workflows.DefaultWorkspace)}))
	case len(selected) == 0:
		return userErrorf("This pull request has no plan waiting to be applied. Comment `atoll plan` first.")
	case len(stale) > 0:
		return userErrorf("**atoll will not apply plans made before this pull request's latest commit** (%.7s). Plan again:\n\n%s", pull.HeadSHA, strings.Join(stale, "\n"))
	}
	// A job that holds several workspaces takes the default one first, as
	// plans do, so that no two jobs wait for each other.
	held := map[string]*runner.Workspace{}
	defer func() {
		for _, ws := range held {
			ws.Close()
		}
	}()
	ws0, err := s.checkout(ctx, jc, forge, pull, workflows.DefaultWorkspace)
	if err != nil {
		return err
	}
	held[workflows.DefaultWorkspace] = ws0
	rc, done, err := s.prepare(ctx, jc, stepContext{ws: ws0, pull: pull, user: user, extra: cmd.Extra}, "apply")
	if err != nil {
		return err
	}
	defer done()
	projects, err := rc.ordered(selected)
	if err != nil {
		return err
	}
	var need Requirements
	for _, p := range projects {
		r := rc.requirements(p, s.requirements)
		need.Approved = need.Approved || r.Approved
		need.Mergeable = need.Mergeable || r.Mergeable
		need.Undiverged = need.Undiverged || r.Undiverged
	}
	unmet, err := s.unmet(ctx, forge, pull, need)
	if err != nil {
		return err
	}
	if len(unmet) > 0 {
		return userErrorf("**atoll will not apply yet.** This pull request must be:\n\n%s", gapList(unmet))
	}

	r := s.start(ctx, jc, forge, pull, runningText("apply", cmd))
	results, err := s.runProjects(ctx, jc, forge, pull, held, waves(projects, rc.cfg.ParallelApply), rc.cfg.AbortOnExecutionOrderFail,
		func(ws *runner.Workspace, p workflows.ProjectConfig, blocked string) projectResult {
			if blocked != "" {
				return projectResult{Project: p.Project, Name: p.Name, Command: "apply", Outcome: outcomeSkipped, Summary: "Nothing ran: " + blocked}
			}
			return s.applyProject(ctx, jc, forge, pull, user, ws, p, rc, cmd.Extra)
		})
	if handedOver(ctx) {
		// The next run of the job finds what was applied, and reports.
		return context.Cause(ctx)
	}
	rctx, cancel := reportContext(ctx)
	defer cancel()
	for _, res := range results {
		if res.Outcome != outcomeSkipped {
			s.setStatus(rctx, jc, forge, pull, "apply", rc.statusTarget(res.Name, res.Project), res.state(), res.statusDescription())
		}
	}
	s.setAggregates(rctx, jc, forge, pull)
	_, cerr := s.finish(rctx, r, renderResults(results, forge.MaxCommentLen())...)
	if err == nil && cerr == nil && slices.ContainsFunc(results, func(r projectResult) bool { return r.Outcome == outcomeSucceeded }) {
		automerge := s.automerge
		if rc.cfg.Automerge != nil {
			automerge = *rc.cfg.Automerge
		}
		if automerge {
			s.automergeIfDone(rctx, jc, forge, pull, rc)
		}
	}
	return errors.Join(err, cerr)
}

func project(rec runner.PlanRecord) workflows.Project {
	return workflows.Project{Dir: rec.Dir, Workspace: rec.Workspace}
}

// applyProject applies one saved plan, as its record stands now that the
// workspace is held.
func (s *Server) applyProject(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest, user string, ws *runner.Workspace, pc workflows.ProjectConfig, rc repoConfig, extra []string) projectResult {
	dir, p, key := pc.Dir, pc.Project, runner.PlanKey{Dir: pc.Dir, Name: pc.Name}
	log := jc.log.With("dir", dir, "workspace", p.Workspace, "project", pc.Name)
	res := projectResult{Project: p, Name: pc.Name, Command: "apply"}
	rec, ok, err := ws.Record(ctx, key)
	switch {
	case err != nil:
		log.Error("reading plan record", "err", err)
		return res.internal(jc.id)
	case !ok || !rec.Unapplied():
		res.Outcome, res.Summary = outcomeSkipped, "Nothing ran: another command applied or discarded this plan meanwhile."
		return res
	case rec.SHA != pull.HeadSHA:
		res.Outcome, res.Summary = outcomeSkipped, fmt.Sprintf("Nothing ran: this plan is of %.7s, not the latest commit. Comment `%s`.", rec.SHA, planCommand(rec.Name, p))
		return res
	}
	if dep, err := s.unappliedDependency(ctx, pull, pc); err != nil {
		log.Error("reading plan records", "err", err)
		return res.internal(jc.id)
	} else if dep != "" {
		res.Outcome = outcomeSkipped
		res.Summary = fmt.Sprintf("Nothing ran: this project depends on `%s`, whose plan is not applied. Apply it first: `atoll apply -p %s`.", dep, dep)
		return res
	}
	res.Tool = rec.Tool
	if v, err := s.runner.Version(ctx, rec.Tool); err != nil || v != rec.ToolVersion {
		log.Warn("the binary that planned is gone or changed", "tool", rec.Tool.Path, "planned_with", rec.ToolVersion, "now", v, "err", err)
		res.Outcome, res.Summary = outcomeFailed, fmt.Sprintf("The binary that made this plan (%s) is gone or changed since.", rec.ToolVersion)
		res.Hint = fmt.Sprintf("Plan again: `%s`", planCommand(rec.Name, p))
		return res
	}
	lock := locking.Key{Repo: pull.Repo.FullName, Dir: dir, Workspace: ws.Name}
	l := s.projectLock(lock, pull.Number, user)
	holder, ok, err := s.locker.TryLock(ctx, l)
	if err != nil {
		log.Error("checking project lock", "err", err)
		return res.internal(jc.id)
	}
	if !ok {
		res.Outcome, res.Holder = outcomeLocked, holder
		return res
	}
	kept := s.keepLock(log, l)
	defer kept.release()
	// The plan may have been made on another replica.
	switch err := ws.FetchPlan(ctx, rec); {
	case errors.Is(err, runner.ErrNoPlanFile):
		res.Outcome, res.Summary = outcomeSkipped, fmt.Sprintf("Nothing ran: the plan file is gone. Plan again: `%s`.", planCommand(rec.Name, p))
		return res
	case err != nil:
		log.Error("fetching the plan file", "err", err)
		return res.internal(jc.id)
	}
	wf := rc.workflow(pc)
	steps := wf.ApplySteps(p, ws.PlanFile(key), extra)
	// Perhaps planned in another checkout (another replica's), or with
	// other providers than this one last saw: init as the plan did, so
	// that the tool has its providers and backend.
	needsInit := ws.SharesPlans()
	if !needsInit {
		inited, err := initialized(ws, dir)
		if err != nil {
			log.Error("looking for the project's .terraform", "err", err)
			return res.internal(jc.id)
		}
		needsInit = !inited
	}
	if needsInit {
		steps = append(initSteps(wf.PlanSteps(p, ws.PlanFile(key), ws.ShowFile(key), nil)), steps...)
	}
	// Marked as applying first: if atoll stops midway, the next run knows
	// this plan may be half applied, and never applies it again.
	before := rec.State
	// No apply begins while the job's claim on its task is in doubt: an
	// apply cut short is left unknown, while one that never began runs
	// again.
	if jc.claimSound != nil {
		if err := jc.claimSound(ctx); err != nil {
			log.Info("not applying: the job stopped while its task's claim was in doubt", "err", err)
			return res.internal(jc.id) // unless handed over, when nothing is reported
		}
	}
	rec.State = runner.Applying
	if err := ws.SaveRecord(ctx, rec); err != nil {
		log.Error("saving plan record", "err", err)
		return res.internal(jc.id)
	}
	s.setStatus(ctx, jc, forge, pull, "apply", rc.statusTarget(pc.Name, p), vcs.Pending, "applying…")
	sc := stepContext{ws: ws, pull: pull, user: user, extra: extra, planFile: ws.PlanFile(key), showFile: ws.ShowFile(key), lock: kept}
	res = s.runSteps(ctx, log, jc, sc, res, steps)
	// Whatever the tool said, an apply the job was stopped in the middle
	// of may be half done.
	switch {
	case handedOver(ctx):
		return res // still applying: the task's next run says so
	case ctx.Err() != nil:
		rec.State, res.Outcome, res.Summary = runner.ApplyUnknown, outcomeFailed, "interrupted (the job timed out): outcome unknown"
		res.Hint = fmt.Sprintf("Plan again to see where things stand: `%s`", planCommand(rec.Name, p))
		kept.release() // no renewal with a TTL after this
		kctx, cancel := reportContext(ctx)
		if note := s.keepUnknownLock(kctx, jc, pull, rec); note != "" {
			log.Warn("the lock of an apply of unknown outcome is not kept", "why", note)
		}
		cancel()
	case res.Outcome == outcomeSucceeded:
		res.Summary = applySummary(res.Output)
		rec.State = runner.Applied
		if err := ws.DropPlan(ctx, rec); err != nil {
			log.Warn("deleting the applied plan file", "err", err)
		}
	case res.Outcome == outcomeFailed:
		rec.State = runner.ApplyFailed
		if strings.Contains(res.Output, "Saved plan is stale") {
			// The tool will never apply this plan: drop it.
			rec.State = runner.PlanFailed
			if err := ws.DropPlan(ctx, rec); err != nil {
				log.Warn("deleting the stale plan file", "err", err)
			}
			res.Hint = fmt.Sprintf("The state changed after this plan was made, so the tool refused it. Plan again: `%s`", planCommand(rec.Name, p))
		}
	default:
		rec.State = before // the tool did not run
	}
	rec.Summary = res.Summary
	// Saved even when the job's time is up: the record must say what
	// happened.
	sctx, cancel := reportContext(ctx)
	defer cancel()
	if err := ws.SaveRecord(sctx, rec); err != nil {
		log.Error("saving plan record", "err", err)
		return res.internal(jc.id)
	}
	log.Info("applied", "summary", res.Summary, "ok", res.Outcome == outcomeSucceeded)
	return res
}

// initialized reports whether the project in dir of the checkout has
// been initialized there (it holds .terraform).
func initialized(ws *runner.Workspace, dir string) (bool, error) {
	path, err := workflows.DirPath(ws.Dir, dir)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(filepath.Join(path, ".terraform"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// initSteps are the init steps among steps.
func initSteps(steps []workflows.Step) []workflows.Step {
	return slices.DeleteFunc(steps, func(s workflows.Step) bool { return s.Name != "init" })
}

// unappliedDependency names a project that p depends on whose plan in the
// pull request is not applied; "" when there is none. A dependency the
// pull request does not change has no plan and is no obstacle.
func (s *Server) unappliedDependency(ctx context.Context, pull vcs.PullRequest, p workflows.ProjectConfig) (string, error) {
	if len(p.DependsOn) == 0 {
		return "", nil
	}
	recs, err := s.workspaces.Records(ctx, pull.Repo.FullName, pull.Number)
	if err != nil {
		return "", err
	}
	for _, rec := range recs {
		if rec.Name != "" && rec.State != runner.Applied && slices.Contains(p.DependsOn, rec.Name) {
			return rec.Name, nil
		}
	}
	return "", nil
}

// automergeIfDone merges the pull request once every plan of it is
// applied, and deletes its branch when its config says so.
func (s *Server) automergeIfDone(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest, rc repoConfig) {
	recs, err := s.workspaces.Records(ctx, pull.Repo.FullName, pull.Number)
	if err != nil {
		jc.log.Error("reading plan records", "err", err)
		return
	}
	if len(recs) == 0 || slices.ContainsFunc(recs, func(rec runner.PlanRecord) bool { return rec.State != runner.Applied }) {
		return
	}
	merger, ok := forge.(vcs.Merger)
	if !ok {
		jc.log.Warn("automerge is on, but the forge cannot merge")
		return
	}
	body := "Every plan of this pull request is applied: **atoll merged it**."
	if err := merger.Merge(ctx, pull); err != nil {
		jc.log.Error("automerge", "err", err)
		body = "Every plan of this pull request is applied, but atoll could not merge it: merge it by hand."
	} else if rc.deleteBranch(recs) && !pull.Fork {
		if err := deleteBranch(ctx, forge, pull); err != nil {
			jc.log.Error("deleting the merged branch", "branch", pull.HeadRef, "err", err)
			body += fmt.Sprintf(" It could not delete the branch `%s`, though.", pull.HeadRef)
		} else {
			body += fmt.Sprintf(" Its branch `%s` is deleted.", pull.HeadRef)
		}
	}
	if _, err := forge.Comment(ctx, pull.Repo, pull.Number, body); err != nil {
		jc.log.Error("commenting on automerge", "err", err)
	}
}

// deleteBranch deletes a merged pull request's branch, where the forge can.
func deleteBranch(ctx context.Context, forge vcs.Forge, pull vcs.PullRequest) error {
	d, ok := forge.(vcs.BranchDeleter)
	if !ok {
		return errors.New("the forge cannot delete branches")
	}
	return d.DeleteBranch(ctx, pull)
}
