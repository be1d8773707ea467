package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// planRequest asks for the job's projects to be planned.
type planRequest struct {
	// sel selects the projects to plan by name (Project) or by Dir and
	// Workspace; when it selects nothing, every project the pull request
	// changes is planned.
	sel workflows.Command
	// extra are tool arguments for the plan step.
	extra []string
	// auto is set for plans no one asked for, which stay silent when
	// there is nothing to plan.
	auto bool
}

// plan checks the pull request's head out, reads its repository config,
// plans each selected project under its lock, and reports: a commit status
// per project, aggregate statuses, and one comment for all.
func (j *Job) plan(ctx context.Context, req planRequest) error {
	// A command is answered at once; an autoplan speaks only when it has
	// planned something.
	if !req.auto {
		j.reply.Begin(ctx, report.Running("plan", req.sel))
	}
	if req.sel.Project == "" && !req.sel.Selects() {
		// Listed while the pull request is checked out.
		j.changes = j.listChanges(ctx)
	}
	held := heldWorkspaces{}
	defer held.close()
	rc, done, err := j.prepare(ctx, held, req.extra, "plan")
	if err != nil {
		return err
	}
	defer done()
	endConfig := j.phases.start(PhaseConfig)
	projects, err := j.selectProjects(ctx, req.sel, rc, held[workflows.DefaultWorkspace])
	endConfig()
	if err != nil {
		return err
	}
	if len(projects) == 0 {
		if req.auto {
			j.Log.Info("no projects changed; nothing to plan")
			j.setAggregates(ctx)
			return nil
		}
		return userErrorf("This pull request changes no project, so there is nothing to plan. To plan a directory anyway, comment `atoll plan -d DIR`.")
	}
	unmet, err := j.unmetPlanRequirements(ctx, rc, projects)
	if err != nil {
		return err
	}
	// Said while the projects plan; the final word waits for it.
	j.pending.Go(func() {
		for _, p := range projects {
			j.setStatus(ctx, "plan", rc.statusTarget(p.Name, p.Project), vcs.Running, "planning…")
			j.setCheck(ctx, func(int) vcs.CheckRun {
				return report.CheckRunning("plan", rc.statusTarget(p.Name, p.Project), "planning…")
			})
		}
	})
	results, err := j.runProjects(ctx, held, waves(projects, rc.cfg.ParallelPlan), rc.cfg.AbortOnExecutionOrderFail,
		func(ws *workspace.Workspace, p workflows.ProjectConfig, blocked string) report.Result {
			return j.project(ws, p, rc, req.extra).plan(ctx, cmp.Or(blocked, unmet[keyOf(p)]))
		})
	if queue.HandedOver(ctx) {
		// The next run of the job plans again, and reports.
		return context.Cause(ctx)
	}
	return errors.Join(err, j.reportPlans(ctx, rc, projects, results))
}

// reportPlans reports the results of a plan, even when the job was
// cancelled or a checkout failed: no status is left pending.
func (j *Job) reportPlans(ctx context.Context, rc repoConfig, projects []workflows.ProjectConfig, results []report.Result) error {
	ctx, cancel := reportContext(ctx)
	defer cancel()
	defer j.phases.start(PhaseReport)()
	j.pending.Wait()
	// Each project's statuses, and the aggregates, at once; all before
	// the comment.
	var writes []func()
	for _, p := range projects[len(results):] {
		writes = append(writes, func() {
			j.setStatus(ctx, "plan", rc.statusTarget(p.Name, p.Project), vcs.Failure, "not planned: atoll hit an internal error")
			unplanned := report.Result{Project: p.Project, Name: p.Name, Command: "plan"}.Internal(j.ID)
			j.setCheck(ctx, func(max int) vcs.CheckRun { return report.CheckRun(rc.statusTarget(p.Name, p.Project), unplanned, max) })
		})
	}
	for _, res := range results {
		writes = append(writes, func() {
			j.setStatus(ctx, "plan", rc.statusTarget(res.Name, res.Project), res.State(), res.StatusDescription())
			if len(res.Policies) > 0 {
				st, desc := vcs.Success, "every policy passed"
				if report.PolicyFailed(res.Policies) {
					st, desc = vcs.Failure, "a policy failed: the plan cannot be applied"
				}
				j.setStatus(ctx, "policy", rc.statusTarget(res.Name, res.Project), st, desc)
			}
			j.setCheck(ctx, func(max int) vcs.CheckRun { return report.CheckRun(rc.statusTarget(res.Name, res.Project), res, max) })
		})
	}
	concurrently(append(writes, j.aggregateWrites(ctx)...))
	if len(results) == 0 {
		return nil
	}
	j.noteResults(results)
	header := j.replanHeader(results)
	parts := report.Results(results, j.Forge.MaxCommentLen()-len(header))
	parts[0] = header + parts[0]
	ids, err := j.reply.Finish(ctx, parts...)
	j.hidePreviousPlans(ctx, ids)
	return err
}

// plan plans the project under its lock, unless it is blocked (blocked
// says why, in sentences). Its record then says how that went, whatever
// happened: a project that could not be planned counts as not planned.
func (p *projectJob) plan(ctx context.Context, blocked string) report.Result {
	if res, ok := p.plannedBefore(ctx); ok {
		return res
	}
	rec := plans.Record{Dir: p.cfg.Dir, Workspace: p.cfg.Workspace, Name: p.cfg.Name, SHA: p.Pull.HeadSHA, Tool: p.r.exec.Tool(),
		User: p.User, Time: time.Now().UTC(), Target: p.target(), JobID: p.ID}
	res := p.result("plan").Skip(blocked)
	if blocked == "" {
		res = p.runPlan(ctx, &rec)
	}
	if res.Outcome == report.Succeeded {
		var err error
		if rec.PlanSum, err = fileSum(p.files.Plan); err != nil {
			p.log.Error("summing the plan file", "err", err)
			res = res.Internal(p.ID)
		}
	}
	defer p.phases.start(PhaseStore)()
	if res.Outcome == report.Succeeded {
		// Kept where any replica can apply it.
		err := p.keepPlan(ctx, rec)
		switch {
		case errors.Is(err, plans.ErrPlanTooLarge):
			res.Outcome, res.Summary = report.Failed, err.Error()
		case err != nil:
			p.log.Error("keeping the plan file", "err", err)
			res = res.Internal(p.ID)
		}
	}
	rec.State, rec.Summary = plans.PlanFailed, res.StatusDescription()
	if res.Outcome == report.Succeeded {
		rec.State, rec.Summary = plans.Planned, res.Summary
		for _, pr := range res.Policies {
			if !pr.Passed() {
				rec.PolicyDenied = append(rec.PolicyDenied, pr.Set)
			}
		}
	}
	if err := p.r.plans.SaveRecord(ctx, p.plansPull(), rec); err != nil {
		p.log.Error("saving plan record", "err", err)
		return res.Internal(p.ID)
	}
	p.log.Info("planned", "ok", res.Outcome == report.Succeeded, "summary", res.Summary)
	return res
}

// plannedBefore returns the result of the project's plan when a run of
// this job that was cut short had made it, at this head, and it is still
// there to apply: the job does not plan it twice.
func (p *projectJob) plannedBefore(ctx context.Context) (report.Result, bool) {
	if !p.rerun {
		return report.Result{}, false
	}
	rec, ok, err := plans.Find(ctx, p.r.plans, p.plansPull(), p.ws.Name, p.planKey())
	if err != nil || !ok || rec.JobID != p.ID || rec.SHA != p.Pull.HeadSHA || rec.State != plans.Planned {
		return report.Result{}, false
	}
	if err := p.fetchPlan(ctx, rec); err != nil {
		return report.Result{}, false
	}
	p.log.Info("planned before the job was interrupted; not planning again")
	res := p.result("plan")
	res.Outcome, res.Summary = report.Succeeded, rec.Summary
	res.Hint = fmt.Sprintf("Planned before atoll was interrupted, so not planned again; its output was not kept. To see it, comment `%s`.",
		report.ProjectCommand("plan", p.cfg.Name, p.cfg.Project))
	return res, true
}

// runPlan takes the project's lock and runs the plan steps, noting in rec
// the tool that ran them.
func (p *projectJob) runPlan(ctx context.Context, rec *plans.Record) report.Result {
	// Only pull requests wait in line: a run on a ref (a drift check,
	// the API's) has no one to take its turn.
	res, ok := p.takeLock(ctx, p.result("plan"), p.r.policy.LockQueue && p.onPull())
	if !ok {
		return res
	}
	defer p.lock.release()
	var err error
	if p.files, err = p.r.plans.Files(p.plansPull(), *rec); err != nil {
		p.log.Error("placing the plan file", "err", err)
		return res.Internal(p.ID)
	}
	if err := os.MkdirAll(filepath.Dir(p.files.Plan), 0o700); err != nil {
		p.log.Error("creating plan directory", "err", err)
		return res.Internal(p.ID)
	}
	// A plan that fails must not leave an older plan behind to be applied.
	if err := os.Remove(p.files.Plan); err != nil && !errors.Is(err, os.ErrNotExist) {
		p.log.Error("removing old plan", "err", err)
		return res.Internal(p.ID)
	}
	if failed, ok := p.useTool(ctx, res); !ok {
		return failed
	}
	rec.Tool = p.tool
	if rec.ToolVersion, err = p.r.exec.Version(ctx, p.tool); err != nil {
		p.log.Error("asking the tool for its version", "err", err)
		return res.Internal(p.ID)
	}
	steps := p.workflow().PlanSteps(p.cfg.Project, p.files.Plan, p.files.Show, p.extra)
	if p.checksPolicies() {
		// The policies read the plan file as JSON, shown last, into a
		// file of atoll's that no step is told of: whatever the steps
		// did, they read the plan file that an apply applies (its sum is
		// taken after this).
		steps = append(steps, workflows.Step{Name: "show", Args: []string{"show", "-json", p.files.Plan}, StdoutFile: p.policyInput()})
	}
	res = p.runSteps(ctx, res, steps)
	if res.Outcome == report.Succeeded {
		rec.InitLeftNothing = p.initLeftNothing()
		res.Summary = report.PlanSummary(res.Output)
		res = p.checkPolicies(ctx, res)
	}
	return res
}

// checksPolicies reports whether the project's plans are checked: the
// server has policies, and the repository's entry does not set
// policy_check: false.
func (p *projectJob) checksPolicies() bool {
	return p.r.policies != nil && !p.rc.rule.NoPolicyCheck
}

// policyInput is where the plan's JSON for the policies goes.
func (p *projectJob) policyInput() string { return p.files.Plan + ".policy.json" }

// maxPlanJSON bounds the plan JSON the policies read: evaluating it
// takes several times its size in memory.
const maxPlanJSON = 32 << 20

// checkPolicies checks the plan just made against the server's policy
// sets, if any, and returns res with what they said. A plan whose JSON
// cannot be read or checked is the job's failure, not the change's.
func (p *projectJob) checkPolicies(ctx context.Context, res report.Result) report.Result {
	if !p.checksPolicies() {
		return res
	}
	plan, err := readBounded(p.policyInput(), maxPlanJSON)
	if err != nil {
		p.log.Warn("reading the plan's JSON for the policies", "err", err)
		res.Outcome, res.Summary = report.Failed, fmt.Sprintf("The plan could not be checked against the policies: its JSON is larger than %d MiB, or unreadable.", maxPlanJSON>>20)
		return res
	}
	if res.Policies, err = p.r.policies.Check(ctx, plan); err != nil {
		p.log.Error("checking the policies", "err", err)
		return res.Internal(p.ID)
	}
	p.log.Info("policies checked", "failed", report.PolicyFailed(res.Policies))
	return res
}

// readBounded reads the regular file at path, of at most max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	case fi.Size() > max:
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return io.ReadAll(io.LimitReader(f, max))
}

// workflow is the workflow the project runs.
func (p *projectJob) workflow() workflows.Workflow { return p.rc.workflow(p.cfg) }
