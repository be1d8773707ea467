package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/workflows"
)

// apply applies the pull request's saved plans that the command selects,
// with the binary that made them. It never plans: a plan of an older
// commit is refused, and so is a pull request that does not meet the apply
// requirements.
func (j *Job) apply(ctx context.Context, cmd workflows.Command) error {
	selected, err := j.selectPlans(ctx, cmd)
	if err != nil {
		return err
	}
	held := heldWorkspaces{}
	defer held.close()
	rc, done, err := j.prepare(ctx, held, cmd.Extra, "apply")
	if err != nil {
		return err
	}
	defer done()
	projects, err := rc.ordered(selected)
	if err != nil {
		return err
	}
	var need workflows.Requirements
	for _, p := range projects {
		need = need.And(rc.applyRequirements(p, j.r.policy.ApplyRequirements))
	}
	unmet, err := j.unmet(ctx, need)
	if err != nil {
		return err
	}
	if len(unmet) > 0 {
		return userErrorf("**atoll will not apply yet.** This pull request must be:\n\n%s", gapList(unmet))
	}

	j.reply.Begin(ctx, report.Running("apply", cmd))
	results, err := j.runProjects(ctx, held, waves(projects, rc.cfg.ParallelApply), rc.cfg.AbortOnExecutionOrderFail,
		func(ws *workspace.Workspace, p workflows.ProjectConfig, blocked string) report.Result {
			pj := j.project(ws, p, rc, cmd.Extra)
			if blocked != "" {
				return pj.result("apply").Skip(blocked)
			}
			return pj.apply(ctx)
		})
	if queue.HandedOver(ctx) {
		// The next run of the job finds what was applied, and reports.
		return context.Cause(ctx)
	}
	return errors.Join(err, j.reportApplies(ctx, rc, results, err == nil))
}

// selectPlans returns the pull request's plans waiting to be applied that
// cmd selects. A selection with none, or with plans of an older commit
// than the head, is refused.
func (j *Job) selectPlans(ctx context.Context, cmd workflows.Command) ([]plans.Record, error) {
	recs, err := j.r.plans.Records(ctx, j.plansPull())
	if err != nil {
		return nil, err
	}
	var selected []plans.Record
	var stale, outdated []string
	for _, rec := range recs {
		if cmd.Dir != "" && rec.Dir != cmd.Dir || cmd.Workspace != "" && rec.Workspace != cmd.Workspace || cmd.Project != "" && rec.Name != cmd.Project {
			continue
		}
		if rec.State == plans.Stale {
			outdated = append(outdated, fmt.Sprintf("- `%s` in workspace `%s`: %s changed its state after it was planned; comment `%s`",
				workflows.Quote(rec.Dir), workflows.Quote(rec.Workspace), j.applier(rec.StaleBy), planCommand(rec)))
			continue
		}
		if !rec.Unapplied() {
			continue
		}
		selected = append(selected, rec)
		if rec.SHA != j.Pull.HeadSHA {
			stale = append(stale, fmt.Sprintf("- `%s` in workspace `%s`, planned at %.7s: comment `%s`", rec.Dir, rec.Workspace, rec.SHA, planCommand(rec)))
		}
	}
	switch {
	case len(outdated) > 0:
		return nil, userErrorf("**atoll will not apply plans that another pull request's apply made stale.** Plan again:\n\n%s", strings.Join(outdated, "\n"))
	case len(selected) == 0 && cmd.Project != "":
		return nil, userErrorf("There is no plan of project `%s` waiting to be applied. Comment `atoll plan -p %s` first.", workflows.Quote(cmd.Project), workflows.Quote(cmd.Project))
	case len(selected) == 0 && cmd.Selects():
		p := workflows.Project{Dir: cmp.Or(cmd.Dir, "."), Workspace: cmp.Or(cmd.Workspace, workflows.DefaultWorkspace)}
		return nil, userErrorf("There is no plan waiting to be applied for `%s` in workspace `%s`. Comment `%s` first.",
			workflows.Quote(p.Dir), workflows.Quote(p.Workspace), report.ProjectCommand("plan", "", p))
	case len(selected) == 0:
		return nil, userErrorf("This pull request has no plan waiting to be applied. Comment `atoll plan` first.")
	case len(stale) > 0:
		return nil, userErrorf("**atoll will not apply plans made before this pull request's latest commit** (%.7s). Plan again:\n\n%s", j.Pull.HeadSHA, strings.Join(stale, "\n"))
	}
	return selected, nil
}

// planCommand is the comment that plans the project of rec again.
func planCommand(rec plans.Record) string {
	return report.ProjectCommand("plan", rec.Name, workflows.Project{Dir: rec.Dir, Workspace: rec.Workspace})
}

// reportApplies reports the results of an apply: statuses, the comment,
// and, when every plan is applied and ok, an automerge.
func (j *Job) reportApplies(ctx context.Context, rc repoConfig, results []report.Result, ok bool) error {
	ctx, cancel := reportContext(ctx)
	defer cancel()
	defer j.phases.start(PhaseReport)()
	var writes []func()
	for _, res := range results {
		if res.Outcome != report.Skipped {
			writes = append(writes, func() {
				j.setStatus(ctx, "apply", rc.statusTarget(res.Name, res.Project), res.State(), res.StatusDescription())
			})
		}
	}
	concurrently(append(writes, j.aggregateWrites(ctx)...))
	j.noteResults(results)
	_, err := j.reply.Finish(ctx, report.Results(results, j.Forge.MaxCommentLen())...)
	automerge := j.r.policy.Automerge
	if rc.cfg.Automerge != nil {
		automerge = *rc.cfg.Automerge
	}
	if automerge && ok && err == nil && slices.ContainsFunc(results, func(r report.Result) bool { return r.Outcome == report.Succeeded }) {
		j.automergeIfDone(ctx, rc)
	}
	return err
}
