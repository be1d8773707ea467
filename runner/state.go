package runner

import (
	"context"
	"fmt"
	"strings"

	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// stateCommand runs `atoll import ADDRESS ID` or `atoll state rm
// ADDRESS...` on one project: the one cmd names, or the only one the
// pull request changes. It runs under the project's lock, once the pull
// request meets the import requirements (the apply requirements unless
// set apart), and discards the project's saved plan, which the state
// change makes stale.
func (j *Job) stateCommand(ctx context.Context, cmd workflows.Command) error {
	j.reply.Begin(ctx, report.Running(cmd.Name, cmd))
	held := heldWorkspaces{}
	defer held.close()
	hook := strings.Fields(cmd.Name)[0] // the hooks' name for state rm is "state"
	rc, done, err := j.prepare(ctx, held, cmd.Extra, hook)
	if err != nil {
		return err
	}
	defer done()
	projects, err := j.selectProjects(ctx, cmd, rc, held[workflows.DefaultWorkspace])
	switch {
	case err != nil:
		return err
	case len(projects) == 0:
		return userErrorf("This pull request changes no project, so atoll cannot tell which state to change. Name the project: `atoll %s -d DIR %s` or `-p PROJECT`.", cmd.Name, strings.Join(cmd.Args, " "))
	case len(projects) > 1:
		names := make([]string, len(projects))
		for i, p := range projects {
			names[i] = report.Result{Project: p.Project, Name: p.Name}.Title()
		}
		return userErrorf("`atoll %s` changes the state of one project, and this selects %d: %s. Name one with `-d DIR` (and `-w WORKSPACE`) or `-p PROJECT`.", cmd.Name, len(projects), strings.Join(names, ", "))
	}
	p := projects[0]
	if unmet, err := j.unmet(ctx, rc.importRequirements(p, j.r.policy.ApplyRequirements)); err != nil {
		return err
	} else if len(unmet) > 0 {
		return userErrorf("**atoll will not %s yet.** This pull request must be:\n\n%s", cmd.Name, gapList(unmet))
	}
	results, err := j.runProjects(ctx, held, [][]workflows.ProjectConfig{projects}, false,
		func(ws *workspace.Workspace, p workflows.ProjectConfig, _ string) report.Result {
			return j.project(ws, p, rc, cmd.Extra).changeState(ctx, cmd)
		})
	if err != nil {
		return err
	}
	j.noteResults(results)
	rctx, cancel := reportContext(ctx)
	defer cancel()
	j.setAggregates(rctx)
	_, err = j.reply.Finish(rctx, report.Results(results, j.Forge.MaxCommentLen())...)
	return err
}

// changeState runs the project's import or state rm stage under its
// lock, with the binary its version asks for, and discards its saved
// plan once the state changed.
func (p *projectJob) changeState(ctx context.Context, cmd workflows.Command) report.Result {
	res := p.result(cmd.Name)
	res.Args = cmd.Args
	res, ok := p.takeLock(ctx, res, false)
	if !ok {
		return res
	}
	defer p.lock.release()
	if failed, ok := p.useTool(ctx, res); !ok {
		return failed
	}
	steps := p.workflow().StateRmSteps(p.cfg.Project, cmd.Args, p.extra)
	if cmd.Name == "import" {
		steps = p.workflow().ImportSteps(p.cfg.Project, cmd.Args[0], cmd.Args[1], p.extra)
	}
	res = p.runSteps(ctx, res, steps)
	if res.Outcome != report.Succeeded {
		return res
	}
	res.Summary = stateSummary(cmd, res.Output)
	if discarded := p.discardPlan(ctx, cmd.Name); discarded {
		res.Hint = fmt.Sprintf("This project's saved plan is discarded: the state changed under it. Plan again: `%s`", report.ProjectCommand("plan", p.cfg.Name, p.cfg.Project))
	}
	p.log.Info("changed the state", "command", cmd.Name, "args", cmd.Args)
	return res
}

// discardPlan discards the project's saved plan that waits to be
// applied, if any, and fails its plan status, saying why; it reports
// whether there was one.
func (p *projectJob) discardPlan(ctx context.Context, command string) bool {
	rec, ok, err := plans.Find(ctx, p.r.plans, p.plansPull(), p.ws.Name, p.planKey())
	switch {
	case err != nil:
		p.log.Error("reading the plan record", "err", err)
		return false
	case !ok || !rec.Unapplied():
		return false
	}
	if err := p.r.plans.Drop(ctx, p.plansPull(), rec); err != nil {
		p.log.Warn("deleting the discarded plan file", "err", err)
	}
	rec.State, rec.Summary = plans.PlanFailed, "discarded: "+command+" changed the state"
	if err := p.r.plans.SaveRecord(ctx, p.plansPull(), rec); err != nil {
		p.log.Error("saving the plan record", "err", err)
	}
	p.setStatus(ctx, "plan", p.target(), vcs.Failure, "plan discarded: "+command+" changed the state; plan again")
	return true
}

// stateSummary is the line that sums up a state command's output: the
// tool's own, else one of atoll's.
func stateSummary(cmd workflows.Command, out string) string {
	for _, want := range []string{"Import successful!", "Successfully removed"} {
		for line := range strings.Lines(out) {
			if strings.HasPrefix(strings.TrimSpace(line), want) {
				return strings.TrimSpace(line)
			}
		}
	}
	return fmt.Sprintf("%s of %s done.", cmd.Name, strings.Join(cmd.Args, ", "))
}
