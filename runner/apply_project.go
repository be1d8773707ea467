package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// apply applies the project's saved plan, as its record stands now that
// the workspace is held: it checks the plan may be applied, takes the
// project's lock, runs the apply steps, and records how that went.
func (p *projectJob) apply(ctx context.Context) report.Result {
	rec, res, ok := p.applicable(ctx, p.result("apply"))
	if !ok {
		return res
	}
	if res, ok = p.takeLock(ctx, res, false); !ok {
		return res
	}
	defer p.lock.release()
	steps, res, ok := p.applySteps(ctx, res, rec)
	if !ok {
		return res
	}
	before := rec.State
	if res, ok = p.beginApply(ctx, res, &rec); !ok {
		return res
	}
	res = p.runSteps(ctx, res, steps)
	return p.recordApply(ctx, res, rec, before)
}

// applicable returns the record of the project's plan when it may be
// applied: it waits to be, of the head commit, after the plans of the
// projects it depends on, with the binary that made it. Else it returns
// res saying why not, and false.
func (p *projectJob) applicable(ctx context.Context, res report.Result) (plans.Record, report.Result, bool) {
	rec, ok, err := plans.Find(ctx, p.r.plans, p.plansPull(), p.ws.Name, p.planKey())
	switch {
	case err != nil:
		p.log.Error("reading plan record", "err", err)
		return rec, res.Internal(p.ID), false
	case !ok || !rec.Unapplied():
		return rec, res.Skip("another command applied or discarded this plan meanwhile."), false
	case rec.SHA != p.Pull.HeadSHA:
		return rec, res.Skip(fmt.Sprintf("this plan is of %.7s, not the latest commit. Comment `%s`.", rec.SHA, planCommand(rec))), false
	case len(p.r.unapproved(rec)) > 0:
		return rec, res.Skip(fmt.Sprintf("the policy set `%s` denied this plan (see its comment), and its owners have not approved it: they can comment `atoll approve_policies`. Or change the code and push.",
			strings.Join(p.r.unapproved(rec), "`, `"))), false
	}
	if dep, err := p.unappliedDependency(ctx); err != nil {
		p.log.Error("reading plan records", "err", err)
		return rec, res.Internal(p.ID), false
	} else if dep != "" {
		return rec, res.Skip(fmt.Sprintf("this project depends on `%s`, whose plan is not applied. Apply it first: `atoll apply -p %s`.", dep, dep)), false
	}
	p.tool = rec.Tool
	if v, err := p.r.exec.Version(ctx, rec.Tool); err != nil || v != rec.ToolVersion {
		p.log.Warn("the binary that planned is gone or changed", "tool", rec.Tool.Path, "planned_with", rec.ToolVersion, "now", v, "err", err)
		res.Outcome, res.Summary = report.Failed, fmt.Sprintf("The binary that made this plan (%s) is gone or changed since.", rec.ToolVersion)
		res.Hint = fmt.Sprintf("Plan again: `%s`", planCommand(rec))
		return rec, res, false
	}
	return rec, res, true
}

// unappliedDependency names a project that the project depends on whose
// plan in the pull request is not applied; "" when there is none. A
// dependency the pull request does not change has no plan and is no
// obstacle.
func (p *projectJob) unappliedDependency(ctx context.Context) (string, error) {
	if len(p.cfg.DependsOn) == 0 {
		return "", nil
	}
	recs, err := p.r.plans.Records(ctx, p.plansPull())
	if err != nil {
		return "", err
	}
	for _, rec := range recs {
		if rec.Name != "" && rec.State != plans.Applied && slices.Contains(p.cfg.DependsOn, rec.Name) {
			return rec.Name, nil
		}
	}
	return "", nil
}

// applySteps puts the plan of rec in place, and returns the steps that
// apply it. Else it returns res saying why it cannot, and false.
func (p *projectJob) applySteps(ctx context.Context, res report.Result, rec plans.Record) ([]workflows.Step, report.Result, bool) {
	var err error
	if p.files, err = p.r.plans.Files(p.plansPull(), rec); err != nil {
		p.log.Error("placing the plan file", "err", err)
		return nil, res.Internal(p.ID), false
	}
	// The plan may have been made on another replica.
	switch err := p.fetchPlan(ctx, rec); {
	case errors.Is(err, plans.ErrNoPlanFile):
		return nil, res.Skip(fmt.Sprintf("the plan file is gone. Plan again: `%s`.", planCommand(rec))), false
	case err != nil:
		p.log.Error("fetching the plan file", "err", err)
		return nil, res.Internal(p.ID), false
	}
	if rec.PlanSum != "" {
		switch sum, err := fileSum(p.files.Plan); {
		case err != nil:
			p.log.Error("summing the plan file", "err", err)
			return nil, res.Internal(p.ID), false
		case sum != rec.PlanSum:
			p.log.Warn("the plan file changed since it was planned", "want", rec.PlanSum, "have", sum)
			res.Outcome, res.Summary = report.Failed, fmt.Sprintf("Nothing ran: the plan file changed since it was planned, so it is not what was shown. Plan again: `%s`.", planCommand(rec))
			return nil, res, false
		}
	}
	p.applying = true
	wf := p.workflow()
	steps := wf.ApplySteps(p.cfg.Project, p.files.Plan, p.extra)
	// Perhaps planned in another checkout (another replica's), or with
	// other providers than this one last saw: init as the plan did, so
	// that the tool has its providers and backend; not when the plan's
	// init had nothing to keep in this checkout.
	needsInit := p.r.plans.Shared()
	if !needsInit {
		inited, err := p.initialized()
		if err != nil {
			p.log.Error("looking for the project's .terraform", "err", err)
			return nil, res.Internal(p.ID), false
		}
		needsInit = !inited && !rec.InitLeftNothing
	}
	if needsInit {
		inits := slices.DeleteFunc(wf.PlanSteps(p.cfg.Project, p.files.Plan, p.files.Show, nil), func(s workflows.Step) bool { return s.Name != "init" })
		steps = append(inits, steps...)
	}
	return steps, res, true
}

// initLeftNothing reports whether the project's plan, just made, left
// nothing in the checkout that an apply there needs init to make again:
// no .terraform, no lock file of providers, and no TF_DATA_DIR that puts
// what init makes elsewhere. A plan with steps that run commands may
// set that, or remove what init made: its applies always init.
func (p *projectJob) initLeftNothing() bool {
	commands := slices.ContainsFunc(p.workflow().Plan, func(s workflows.ConfigStep) bool {
		return s.Name == "run" || s.Name == "env" || s.Name == "multienv"
	})
	if commands || p.r.exec.Sets("TF_DATA_DIR") {
		return false
	}
	dir, err := workflows.DirPath(p.ws.Dir, p.cfg.Dir)
	if err != nil {
		return false
	}
	for _, name := range []string{".terraform", ".terraform.lock.hcl"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	}
	return true
}

// initialized reports whether the project has been initialized in the
// checkout (it holds .terraform).
func (p *projectJob) initialized() (bool, error) {
	dir, err := workflows.DirPath(p.ws.Dir, p.cfg.Dir)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(filepath.Join(dir, ".terraform"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// beginApply marks the plan of rec as being applied, first, so that if
// atoll stops midway, the next run knows the plan may be half applied and
// never applies it again. No apply begins while the job's claim on its
// task is in doubt: an apply cut short is left unknown, while one that
// never began runs again. When it cannot begin, it returns res saying
// so, and false.
func (p *projectJob) beginApply(ctx context.Context, res report.Result, rec *plans.Record) (report.Result, bool) {
	if p.claim != nil {
		if err := p.claim.Sound(ctx); err != nil {
			p.log.Info("not applying: the job stopped while its task's claim was in doubt", "err", err)
			return res.Internal(p.ID), false // unless handed over, when nothing is reported
		}
	}
	rec.State = plans.Applying
	if err := p.r.plans.SaveRecord(ctx, p.plansPull(), *rec); err != nil {
		p.log.Error("saving plan record", "err", err)
		return res.Internal(p.ID), false
	}
	endReport := p.phases.start(PhaseReport)
	p.setStatus(ctx, "apply", p.target(), vcs.Running, "applying…")
	endReport()
	return res, true
}

// recordApply records how the apply of rec went, res, and returns res as
// the pull request should see it. Whatever the tool said, an apply the
// job was stopped in the middle of may be half done. before is the
// record's state before the apply began.
func (p *projectJob) recordApply(ctx context.Context, res report.Result, rec plans.Record, before plans.State) report.Result {
	switch {
	case queue.HandedOver(ctx):
		return res // still applying: the task's next run says so
	case ctx.Err() != nil:
		rec.State, res.Outcome, res.Summary = plans.ApplyUnknown, report.Failed, "interrupted (the job timed out): outcome unknown"
		res.Hint = fmt.Sprintf("Plan again to see where things stand: `%s`", planCommand(rec))
		p.lock.release() // no renewal with a TTL after this
		kctx, cancel := reportContext(ctx)
		if note := p.keepUnknownLock(kctx, rec); note != "" {
			p.log.Warn("the lock of an apply of unknown outcome is not kept", "why", note)
		}
		cancel()
	case res.Outcome == report.Succeeded:
		res.Summary = report.ApplySummary(res.Output)
		rec.State = plans.Applied
		if err := p.r.plans.Drop(ctx, p.plansPull(), rec); err != nil {
			p.log.Warn("deleting the applied plan file", "err", err)
		}
	case res.Outcome == report.Failed:
		rec.State = plans.ApplyFailed
		if strings.Contains(res.Output, "Saved plan is stale") {
			// The tool will never apply this plan: drop it.
			rec.State = plans.PlanFailed
			if err := p.r.plans.Drop(ctx, p.plansPull(), rec); err != nil {
				p.log.Warn("deleting the stale plan file", "err", err)
			}
			res.Hint = fmt.Sprintf("The state changed after this plan was made, so the tool refused it. Plan again: `%s`", planCommand(rec))
		}
	default:
		rec.State = before // the tool did not run
	}
	rec.Summary = res.Summary
	// Saved even when the job's time is up: the record must say what
	// happened.
	sctx, cancel := reportContext(ctx)
	defer cancel()
	if err := p.r.plans.SaveRecord(sctx, p.plansPull(), rec); err != nil {
		p.log.Error("saving plan record", "err", err)
		return res.Internal(p.ID)
	}
	p.log.Info("applied", "summary", res.Summary, "ok", res.Outcome == report.Succeeded)
	if rec.State == plans.Applied || rec.State == plans.ApplyUnknown {
		// At once, not at the job's end: a job cut short after this
		// apply does not apply it again, nor report it.
		p.markStale(sctx, []plans.Record{rec}, time.Now())
	}
	return res
}
