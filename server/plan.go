package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// planRequest asks for a pull request's projects to be planned.
type planRequest struct {
	forge vcs.Forge
	pull  vcs.PullRequest
	// user asked for the plan; the locks taken are recorded as theirs.
	user string
	// sel selects the projects to plan by name (Project) or by Dir and
	// Workspace; when it selects nothing, every project the pull request
	// changes is planned.
	sel Command
	// extra are tool arguments for the plan step.
	extra []string
	// auto is set for plans no one asked for, which stay silent when
	// there is nothing to plan.
	auto bool
}

// plan checks the pull request's head out, reads its repository config,
// plans each selected project under its lock, and reports: a commit status
// per project, aggregate statuses, and one comment for all.
func (s *Server) plan(ctx context.Context, jc *jobContext, req planRequest) error {
	// A command is answered at once; an autoplan speaks only when it has
	// planned something.
	r := jc.resultReply(req.forge, req.pull)
	if !req.auto {
		r = s.start(ctx, jc, req.forge, req.pull, runningText("plan", req.sel))
	}
	held := map[string]*runner.Workspace{}
	defer func() {
		for _, ws := range held {
			ws.Close()
		}
	}()
	ws0, err := s.checkout(ctx, jc, req.forge, req.pull, workflows.DefaultWorkspace)
	if err != nil {
		return err
	}
	held[workflows.DefaultWorkspace] = ws0
	rc, done, err := s.prepare(ctx, jc, stepContext{ws: ws0, pull: req.pull, user: req.user, extra: req.extra}, "plan")
	if err != nil {
		return err
	}
	defer done()
	projects, err := s.selectProjects(ctx, jc, req, rc, ws0.Dir)
	if err != nil {
		return err
	}
	if len(projects) == 0 {
		if req.auto {
			jc.log.Info("no projects changed; nothing to plan")
			s.setAggregates(ctx, jc, req.forge, req.pull)
			return nil
		}
		return userErrorf("This pull request changes no project, so there is nothing to plan. To plan a directory anyway, comment `atoll plan -d DIR`.")
	}
	unmet, err := s.unmetPlanRequirements(ctx, req, rc, projects)
	if err != nil {
		return err
	}
	for _, p := range projects {
		s.setStatus(ctx, jc, req.forge, req.pull, "plan", rc.statusTarget(p.Name, p.Project), vcs.Pending, "planning…")
	}
	results, err := s.runProjects(ctx, jc, req.forge, req.pull, held, waves(projects, rc.cfg.ParallelPlan), rc.cfg.AbortOnExecutionOrderFail,
		func(ws *runner.Workspace, p workflows.ProjectConfig, blocked string) projectResult {
			return s.planProject(ctx, jc, req, ws, p, rc.workflow(p), rc.statusTarget(p.Name, p.Project), cmp.Or(blocked, unmet[keyOf(p)]))
		})
	if handedOver(ctx) {
		// The next run of the job plans again, and reports.
		return context.Cause(ctx)
	}
	// What was planned is reported even when the job was cancelled or a
	// checkout failed: no status is left pending.
	rctx, cancel := reportContext(ctx)
	defer cancel()
	for _, p := range projects[len(results):] {
		s.setStatus(rctx, jc, req.forge, req.pull, "plan", rc.statusTarget(p.Name, p.Project), vcs.Failure, "not planned: atoll hit an internal error")
	}
	for _, res := range results {
		s.setStatus(rctx, jc, req.forge, req.pull, "plan", rc.statusTarget(res.Name, res.Project), res.state(), res.statusDescription())
	}
	s.setAggregates(rctx, jc, req.forge, req.pull)
	if len(results) == 0 {
		return err
	}
	ids, cerr := s.finish(rctx, r, renderResults(results, req.forge.MaxCommentLen())...)
	s.hidePreviousPlans(rctx, jc, req.forge, req.pull, ids)
	return errors.Join(err, cerr)
}

// selectProjects returns the projects the request selects, in the order
// they run.
func (s *Server) selectProjects(ctx context.Context, jc *jobContext, req planRequest, rc repoConfig, repoDir string) ([]workflows.ProjectConfig, error) {
	cfg, sel := rc.cfg, req.sel
	switch {
	case sel.Project != "":
		p, ok := cfg.Find(sel.Project)
		if !ok {
			return nil, userErrorf("There is no project named `%s`. %s", quote(sel.Project), knownProjects(cfg))
		}
		return []workflows.ProjectConfig{p}, nil
	case sel.selects():
		// Named projects may share a directory and workspace: all of
		// them are planned, one after the other.
		p := cfg.ProjectAt(cmp.Or(sel.Dir, "."), cmp.Or(sel.Workspace, workflows.DefaultWorkspace))
		if ws := cfg.Workspaces(p.Dir); len(ws) > 0 && !slices.Contains(ws, p.Workspace) {
			// Not the configured project, with its workflow and version,
			// in a workspace the config does not mean it to run in.
			return nil, userErrorf("`%s` runs only in workspace `%s` (%s), not in `%s`. Comment `atoll plan -d %s -w %s`.",
				quote(p.Dir), strings.Join(ws, "`, `"), cfg.File, quote(p.Workspace), quote(p.Dir), ws[0])
		}
		ok, err := workflows.HasConfig(repoDir, p.Dir)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, userErrorf("There are no `.tf` or `.tofu` files in `%s` at %.7s, so there is nothing to plan there.", p.Dir, req.pull.HeadSHA)
		}
		if at := cfg.At(p.Project); len(at) > 1 {
			return at, nil
		}
		return []workflows.ProjectConfig{p}, nil
	}
	changed, err := req.forge.ChangedFiles(ctx, req.pull.Repo, req.pull.Number)
	if err != nil {
		return nil, err
	}
	graph, err := workflows.LoadModuleGraph(repoDir, nil)
	if err != nil {
		return nil, err
	}
	matches, err := workflows.Discover(cfg, repoDir, changed, graph)
	if err != nil {
		return nil, userErrorf("**atoll cannot order this repository's projects**, so nothing ran: %s: %v", cfg.File, err)
	}
	projects := make([]workflows.ProjectConfig, len(matches))
	for i, m := range matches {
		projects[i] = m.ProjectConfig
		jc.log.Debug("selected project", "dir", m.Dir, "workspace", m.Workspace, "name", m.Name, "why", m.Why)
	}
	return projects, nil
}

// unmetPlanRequirements says, for each project that has plan
// requirements this pull request does not meet, what it must be first.
func (s *Server) unmetPlanRequirements(ctx context.Context, req planRequest, rc repoConfig, projects []workflows.ProjectConfig) (map[projectKey]string, error) {
	blocked := map[projectKey]string{}
	seen := map[Requirements][]gap{}
	for _, p := range projects {
		need := rc.planRequirements(p)
		if need == (Requirements{}) {
			continue
		}
		unmet, ok := seen[need]
		if !ok {
			var err error
			if unmet, err = s.unmet(ctx, req.forge, req.pull, need); err != nil {
				return nil, err
			}
			seen[need] = unmet
		}
		if len(unmet) > 0 {
			names := make([]string, len(unmet))
			for i, g := range unmet {
				names[i] = g.name
			}
			blocked[keyOf(p)] = fmt.Sprintf("this project's plan requirements are not met (%s):\n\n%s", strings.Join(names, ", "), gapList(unmet))
		}
	}
	return blocked, nil
}

// knownProjects names the projects a config has, for a reply.
func knownProjects(cfg workflows.RepoConfig) string {
	names := cfg.Names()
	if len(names) == 0 {
		return "This repository's config names no projects: select one with `-d DIR` and `-w WORKSPACE`."
	}
	return "Projects: `" + strings.Join(names, "`, `") + "`."
}

// checkout holds the pull request's workspace wsName at its head.
func (s *Server) checkout(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest, wsName string) (*runner.Workspace, error) {
	start := time.Now()
	ws, err := s.workspaces.Checkout(ctx, runner.CheckoutSpec{
		Repo:      pull.Repo.FullName,
		CloneURL:  pull.Repo.CloneURL,
		Auth:      forge.CloneAuth(),
		Pull:      pull.Number,
		Workspace: wsName,
		SHA:       pull.HeadSHA,
	})
	if err != nil {
		return nil, err
	}
	jc.log.Debug("checked out", "workspace", wsName, "sha", pull.HeadSHA, "elapsed", time.Since(start))
	return ws, nil
}

// planProject locks one project for the pull request and plans it, unless
// it is blocked (blocked says why, in sentences). Its record then says how that went,
// whatever happened: a project that could not be planned counts as not
// planned.
func (s *Server) planProject(ctx context.Context, jc *jobContext, req planRequest, ws *runner.Workspace, p workflows.ProjectConfig, wf workflows.Workflow, target, blocked string) projectResult {
	log := jc.log.With("dir", p.Dir, "workspace", p.Workspace, "project", p.Name)
	if res, ok := s.plannedBefore(ctx, jc, log, req, ws, p); ok {
		return res
	}
	rec := runner.PlanRecord{Dir: p.Dir, Workspace: p.Workspace, Name: p.Name, SHA: req.pull.HeadSHA, Tool: s.runner.Tool(), User: req.user, Time: time.Now().UTC(), Target: target, JobID: jc.id}
	res := projectResult{Project: p.Project, Name: p.Name, Command: "plan", Outcome: outcomeSkipped, Summary: "Nothing ran: " + blocked}
	if blocked == "" {
		res = s.runPlan(ctx, jc, log, req, ws, p, wf, &rec)
	}
	if res.Outcome == outcomeSucceeded {
		// Kept where any replica can apply it.
		err := ws.KeepPlan(ctx, rec)
		switch {
		case errors.Is(err, runner.ErrPlanTooLarge):
			res.Outcome, res.Summary = outcomeFailed, err.Error()
		case err != nil:
			log.Error("keeping the plan file", "err", err)
			res = res.internal(jc.id)
		}
	}
	rec.State, rec.Summary = runner.PlanFailed, res.statusDescription()
	if res.Outcome == outcomeSucceeded {
		rec.State, rec.Summary = runner.Planned, res.Summary
	}
	if err := ws.SaveRecord(ctx, rec); err != nil {
		log.Error("saving plan record", "err", err)
		return res.internal(jc.id)
	}
	log.Info("planned", "ok", res.Outcome == outcomeSucceeded, "summary", res.Summary)
	return res
}

// plannedBefore returns the result of p's plan when a run of this job
// that was cut short had made it, at this head, and it is still there to
// apply: the job does not plan it twice.
func (s *Server) plannedBefore(ctx context.Context, jc *jobContext, log *slog.Logger, req planRequest, ws *runner.Workspace, p workflows.ProjectConfig) (projectResult, bool) {
	if !jc.rerun {
		return projectResult{}, false
	}
	rec, ok, err := ws.Record(ctx, runner.PlanKey{Dir: p.Dir, Name: p.Name})
	if err != nil || !ok || rec.JobID != jc.id || rec.SHA != req.pull.HeadSHA || rec.State != runner.Planned {
		return projectResult{}, false
	}
	if err := ws.FetchPlan(ctx, rec); err != nil {
		return projectResult{}, false
	}
	if _, err := os.Stat(ws.PlanFile(rec.Key())); err != nil {
		return projectResult{}, false
	}
	log.Info("planned before the job was interrupted; not planning again")
	return projectResult{
		Project: p.Project, Name: p.Name, Command: "plan", Tool: rec.Tool, Outcome: outcomeSucceeded, Summary: rec.Summary,
		Hint: fmt.Sprintf("Planned before atoll was interrupted, so not planned again; its output was not kept. To see it, comment `%s`.", planCommand(p.Name, p.Project)),
	}, true
}

// runPlan takes the project's lock and runs the plan steps.
func (s *Server) runPlan(ctx context.Context, jc *jobContext, log *slog.Logger, req planRequest, ws *runner.Workspace, p workflows.ProjectConfig, wf workflows.Workflow, rec *runner.PlanRecord) projectResult {
	res := projectResult{Project: p.Project, Name: p.Name, Command: "plan"}
	key := locking.Key{Repo: req.pull.Repo.FullName, Dir: p.Dir, Workspace: p.Workspace}
	lock := s.projectLock(key, req.pull.Number, req.user)
	holder, ok, err := s.locker.TryLock(ctx, lock)
	if err != nil {
		log.Error("taking project lock", "err", err)
		return res.internal(jc.id)
	}
	if !ok {
		res.Outcome, res.Holder = outcomeLocked, holder
		return res
	}
	kept := s.keepLock(log, lock)
	defer kept.release()

	planFile := ws.PlanFile(runner.PlanKey{Dir: p.Dir, Name: p.Name})
	if err := os.MkdirAll(filepath.Dir(planFile), 0o700); err != nil {
		log.Error("creating plan directory", "err", err)
		return res.internal(jc.id)
	}
	// A plan that fails must not leave an older plan behind to be applied.
	if err := os.Remove(planFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Error("removing old plan", "err", err)
		return res.internal(jc.id)
	}
	sc := stepContext{ws: ws, pull: req.pull, user: req.user, extra: req.extra, planFile: planFile, showFile: ws.ShowFile(runner.PlanKey{Dir: p.Dir, Name: p.Name}), lock: kept}
	if _, failed, ok := projectDir(log, jc, sc, res); !ok {
		return failed
	}
	if rec.Tool, err = s.projectTool(ctx, ws.Dir, p); err != nil {
		if errors.Is(err, runner.ErrToolVersion) {
			res.Outcome, res.Summary = outcomeFailed, err.Error()
			return res
		}
		log.Error("finding the project's tool", "err", err)
		return res.internal(jc.id)
	}
	res.Tool = rec.Tool
	if rec.ToolVersion, err = s.runner.Version(ctx, rec.Tool); err != nil {
		log.Error("asking the tool for its version", "err", err)
		return res.internal(jc.id)
	}
	res = s.runSteps(ctx, log, jc, sc, res, wf.PlanSteps(p.Project, sc.planFile, sc.showFile, req.extra))
	if res.Outcome == outcomeSucceeded {
		res.Summary = planSummary(res.Output)
	}
	return res
}

// projectLock is the lock a pull request takes on a project: until it is
// closed or merged, or, with a lock TTL, until that long after its last
// plan or apply of the project.
func (s *Server) projectLock(key locking.Key, pull int, user string) locking.Lock {
	now := time.Now().UTC()
	l := locking.Lock{Key: key, Pull: pull, User: user, Time: now}
	if s.lockTTL > 0 {
		l.Expires = now.Add(s.lockTTL)
	}
	return l
}

// projectTool is the binary that runs p: of the distribution its config
// names (else the server's), at the version its config or its
// required_version, as that distribution reads the files, asks for.
func (s *Server) projectTool(ctx context.Context, repoDir string, p workflows.ProjectConfig) (runner.Tool, error) {
	distribution := cmp.Or(p.Distribution, s.runner.Tool().Distribution)
	constraint := p.TerraformVersion
	if constraint == "" {
		var err error
		if constraint, err = workflows.RequiredVersion(repoDir, p.Dir, distribution); err != nil {
			return runner.Tool{}, err
		}
	}
	return s.tools.Resolve(ctx, distribution, constraint)
}

// setStatus sets the commit status of a command on a project (target, as
// repoConfig.statusTarget names it), logging a failure: a status that
// cannot be set must not stop the command.
func (s *Server) setStatus(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest, command, target string, state vcs.State, desc string) {
	st := vcs.Status{Context: fmt.Sprintf("atoll/%s: %s", command, target), State: state, Description: desc}
	if err := forge.SetStatus(ctx, pull.Repo, pull.HeadSHA, st); err != nil {
		jc.log.Error("setting commit status", "context", st.Context, "err", err)
	}
}
