package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// RefRun is work asked for on a commit of a repository rather than on a
// pull request, by an operator through atoll's API: a plan of the
// projects it names, or a plan and, at once, its apply. It runs in the
// turn of the repository's other such runs, each project under its lock,
// held for no pull request (Pull 0) and let go when the run ends. It says
// nothing on the forge, neither comment nor status: its output and how
// each project went are in the job's log.
type RefRun struct {
	// Command is "plan" or "apply".
	Command string
	// Projects select what runs, each by name (Project) or by Dir and
	// Workspace; at least one.
	Projects []workflows.Command
}

// RefOrder is the order to do run on commit ref of forge, on operator's
// word, given via atoll's "API".
func RefOrder(jobID, forge string, ref vcs.Ref, run RefRun, operator, via string) Order {
	pull := vcs.PullRequest{Repo: ref.Repo, HeadSHA: ref.SHA, BaseRef: ref.Branch, HeadRef: ref.Name, HeadRepo: ref.Repo.FullName, Open: true}
	return Order{JobID: jobID, Forge: forge, Operator: operator, Via: via, Run: &run, Event: vcs.Event{Repo: ref.Repo, Pull: pull}}
}

// check says what is wrong with run, if anything.
func (run RefRun) check() error {
	if run.Command != "plan" && run.Command != "apply" {
		return fmt.Errorf("runner: no %q on a ref, only plan and apply", run.Command)
	}
	if len(run.Projects) == 0 {
		return errors.New("runner: a run on a ref names no project")
	}
	return nil
}

// onPull reports whether the job runs on a pull request, which it may
// comment on and set statuses for: all jobs but a RefRun's.
func (j *Job) onPull() bool { return j.refRun == nil }

// runRef does the job's RefRun: it checks the commit out, reads the
// repository's config as of the branch it is on, and plans (and
// applies) each project named, in the order their config sets. What ran
// and how it went goes to the job's log. Whatever happens, the run lets
// go of the locks it took and discards its plans once it ends.
func (j *Job) runRef(ctx context.Context) error {
	run := *j.refRun
	j.User, j.kind = j.operator, run.Command
	j.Log = j.Log.With("command", run.Command, "user", j.User, "ref", j.Pull.HeadRef)
	if j.abandoned >= crashLimit {
		j.Log.Error("not running a job again: its earlier runs never finished, their server gone", "abandoned", j.abandoned)
		return userErrorf("atoll stopped twice while running this (job %s), so it will not run it again: both times, the server running it went down before it finished.", j.ID)
	}
	if j.rerun && run.Command == "apply" {
		// What may be half applied is never applied again.
		switch unknown, err := j.unknownApplies(ctx); {
		case err != nil:
			return err
		case unknown != "":
			return userErrorf("atoll was interrupted while applying %s (job %s): whether that went through is unknown, and atoll does not apply again on its own. Plan to find out: a plan with no changes means it went through.", unknown, j.ID)
		}
	}
	// Plans of a run cut short, or of a plan-only run that could not clean
	// up, would be taken for this one's.
	if _, err := j.discardPlans(ctx); err != nil {
		return fmt.Errorf("discarding earlier plans: %w", err)
	}
	results, err := j.runRefProjects(ctx, run)
	if queue.HandedOver(ctx) {
		return context.Cause(ctx) // the next run ends it
	}
	j.endRef(ctx)
	if err != nil {
		return err
	}
	j.noteResults(results)
	j.say(refResults(run.Command, results))
	return nil
}

// runRefProjects checks the commit out, and plans, and for an apply
// applies, the projects run names. The checkouts are let go of on
// return.
func (j *Job) runRefProjects(ctx context.Context, run RefRun) ([]report.Result, error) {
	held := heldWorkspaces{}
	defer held.close()
	rc, done, err := j.prepare(ctx, held, nil, run.Command)
	if err != nil {
		return nil, err
	}
	defer done()
	var matches []workflows.Match
	for _, sel := range run.Projects {
		projects, err := j.selectProjects(ctx, sel, rc, held[workflows.DefaultWorkspace])
		if err != nil {
			return nil, err
		}
		for _, p := range projects {
			if !slices.ContainsFunc(matches, func(m workflows.Match) bool { return keyOf(m.ProjectConfig) == keyOf(p) }) {
				matches = append(matches, workflows.Match{ProjectConfig: p})
			}
		}
	}
	if matches, err = workflows.Order(matches); err != nil {
		return nil, orderError(rc.cfg, err)
	}
	projects := make([]workflows.ProjectConfig, len(matches))
	for i, m := range matches {
		projects[i] = m.ProjectConfig
	}
	parallel := rc.cfg.ParallelPlan
	if run.Command == "apply" {
		parallel = parallel && rc.cfg.ParallelApply
	}
	return j.runProjects(ctx, held, waves(projects, parallel), rc.cfg.AbortOnExecutionOrderFail,
		func(ws *workspace.Workspace, p workflows.ProjectConfig, blocked string) report.Result {
			res := j.project(ws, p, rc, nil).plan(ctx, blocked)
			if run.Command != "apply" || res.Outcome != report.Succeeded {
				return res
			}
			return j.project(ws, p, rc, nil).apply(ctx)
		})
}

// unknownApplies marks the projects an earlier run of the job was
// applying when it stopped as of unknown outcome, and names them; ""
// when it was applying none.
func (j *Job) unknownApplies(ctx context.Context) (string, error) {
	// The run cut short may be winding down here still.
	if err := j.r.workspaces.WaitIdle(ctx, j.Forge.Name(), j.Pull.Repo.FullName, j.Pull.Number); err != nil {
		return "", err
	}
	unknown, err := j.r.plans.UpdateRecords(ctx, j.plansPull(), func(rec *plans.Record) bool {
		if rec.State != plans.Applying || rec.JobID != j.ID {
			return false
		}
		rec.State, rec.Summary = plans.ApplyUnknown, "interrupted: outcome unknown"
		return true
	})
	var names []string
	for _, rec := range unknown {
		names = append(names, report.Result{Project: workflows.Project{Dir: rec.Dir, Workspace: rec.Workspace}, Name: rec.Name}.Title())
	}
	if err == nil && len(names) > 0 {
		j.Log.Warn("apply was interrupted; not applying again", "unknown", len(names))
		j.endRef(ctx)
	}
	return strings.Join(names, ", "), err
}

// endRef lets go of the locks the run took and discards its plans: no
// pull request holds them, and no later run applies them. It goes on
// when ctx has ended, for a while, and only logs what fails: the locks
// of a run that could not let go of them lapse with the lock TTL, or
// wait for its task to run again.
func (j *Job) endRef(ctx context.Context) {
	ctx, cancel := reportContext(ctx)
	defer cancel()
	if _, err := j.discardPlans(ctx); err != nil {
		j.Log.Error("discarding the run's plans", "err", err)
	}
	if _, err := j.releaseLocks(ctx); err != nil {
		j.Log.Error("releasing the run's locks", "err", err)
	}
}

// refResults says in plain text how each project of a run went, for the
// job's log: a line each, with the tool's summary.
func refResults(command string, results []report.Result) string {
	var b strings.Builder
	ok := 0
	for _, r := range results {
		if !r.HasFailed() {
			ok++
		}
	}
	fmt.Fprintf(&b, "\natoll %s: %d of %d projects succeeded\n", command, ok, len(results))
	for _, r := range results {
		name := r.Project.Dir
		if r.Name != "" {
			name = r.Name + " (" + r.Project.Dir + ")"
		}
		said := r.StatusDescription()
		if r.Outcome == report.Succeeded {
			said = r.Command + " succeeded: " + said
		}
		fmt.Fprintf(&b, "- %s in workspace %s: %s\n", name, r.Project.Workspace, said)
	}
	return b.String()
}
