package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/atoll-iac/atoll/locking"
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
//
// An apply cut short is not applied again: the locks of what it was
// applying are kept, and the repository's runs refused, until an
// operator unlocks them (a RefRun "unlock").
type RefRun struct {
	// Command is "plan", "apply", "drift" (a plan whose result is a
	// drift report: drift.go), or "unlock": let go of the locks and plans
	// of the repository's runs.
	Command string
	// Ref is the branch, tag or commit asked for.
	Ref string `json:",omitempty"`
	// Projects select what a plan or apply runs, each by name (Project)
	// or by Dir and Workspace; none for every project of the commit
	// (workflows.All).
	Projects []workflows.Command `json:",omitempty"`
}

// RefOrder is the order to do run on commit ref of forge, as operator
// asked via atoll's "API".
func RefOrder(jobID, forge string, ref vcs.Ref, run RefRun, operator, via string) Order {
	run.Ref = ref.Name
	pull := vcs.PullRequest{Repo: ref.Repo, HeadSHA: ref.SHA, BaseRef: ref.Branch, HeadRepo: ref.Repo.FullName, Open: true}
	if ref.Name == ref.Branch {
		pull.HeadRef = ref.Branch // steps see it as HEAD_BRANCH_NAME
	}
	return Order{JobID: jobID, Forge: forge, Operator: operator, Via: via, Run: &run, Event: vcs.Event{Repo: ref.Repo, Pull: pull}}
}

// RunRef does run on commit ref of forge at once, outside the queue, as
// job id, on operator's word: one pass of `atoll drift`.
func (r *Runner) RunRef(ctx context.Context, id string, forge vcs.Forge, ref vcs.Ref, run RefRun, operator string) Outcome {
	o := RefOrder(id, forge.Name(), ref, run, operator, "command line")
	log := r.log.With("forge", forge.Name(), "repo", ref.Repo.FullName, "job", id)
	j := r.newJob(id, log, forge, o.Event, nil)
	j.operator, j.via, j.refRun = operator, o.Via, o.Run
	var out Outcome
	out.Failed = j.run(ctx) || j.failed
	return out
}

// RefUnlockOrder is the order to let go of the locks and plans of the
// runs on refs of repo, on forge, as operator asked via atoll's "web UI"
// or "API": what an operator does once they know what became of an apply
// that was cut short. It runs after the runs queued before it.
func RefUnlockOrder(jobID, forge string, repo vcs.Repo, operator, via string) Order {
	return Order{JobID: jobID, Forge: forge, Operator: operator, Via: via, Run: &RefRun{Command: "unlock"},
		Event: vcs.Event{Repo: repo, Pull: vcs.PullRequest{Repo: repo}}}
}

// check says what is wrong with run, if anything.
func (run RefRun) check() error {
	switch run.Command {
	case "unlock":
		return nil
	case "plan", "apply", "drift":
	default:
		return fmt.Errorf("runner: no %q on a ref, only plan, apply, drift and unlock", run.Command)
	}
	for _, p := range run.Projects {
		if p.Project == "" && p.Dir == "" {
			return errors.New("runner: a run on a ref names a project by neither name nor directory")
		}
	}
	return nil
}

// onPull reports whether the job runs on a pull request, which it may
// comment on and set statuses for: all jobs but a RefRun's.
func (j *Job) onPull() bool { return j.refRun == nil }

// runRef does the job's RefRun. A plan or apply checks the commit out,
// reads the repository's config as of the branch it is on, and plans
// (and applies) each project named, in the order the config sets; what
// ran and how it went goes to the job's log. Unless it is handed over to
// run again, the run then lets go of its locks and discards its plans
// (endRef).
func (j *Job) runRef(ctx context.Context) error {
	run := *j.refRun
	j.User, j.kind = j.operator, run.Command
	j.Log = j.Log.With("command", run.Command, "user", j.User, "ref", run.Ref)
	if run.Command == "unlock" {
		return j.unlockRef(ctx)
	}
	defer func() {
		if !queue.HandedOver(ctx) {
			j.endRef(ctx)
		}
	}()
	if j.rerun {
		// First, even after crashes: what may be half applied is never
		// applied again.
		unknown, err := j.markUnknownApplies(ctx, func(rec plans.Record) bool { return rec.JobID == j.ID })
		switch {
		case err != nil:
			return err
		case len(unknown) > 0:
			j.Log.Warn("apply was interrupted; not applying again", "unknown", len(unknown))
			return userErrorf("atoll was interrupted while applying %s (job %s): whether that went through is unknown, and atoll does not apply again on its own. %s",
				recordTitles(unknown), j.ID, unlockHint)
		}
	}
	if err := j.noUnknownApplies(ctx); err != nil {
		return err
	}
	if j.abandoned >= crashLimit {
		j.Log.Error("not running a job again: its earlier runs never finished, their server gone", "abandoned", j.abandoned)
		return userErrorf("atoll stopped twice while running this (job %s), so it will not run it again: both times, the server running it went down before it finished.", j.ID)
	}
	if !j.rerun {
		// Plans of a run that could not clean up would be taken for this
		// one's. A rerun keeps its own: what it applied, it does not
		// apply again.
		if _, err := j.discardPlans(ctx); err != nil {
			return fmt.Errorf("discarding earlier plans: %w", err)
		}
	}
	results, err := j.runRefProjects(ctx, run)
	if queue.HandedOver(ctx) {
		return context.Cause(ctx) // the next run ends it
	}
	if len(results) > 0 {
		j.noteResults(results)
		j.say(refResults(run.Command, results))
	}
	if run.Command == "drift" && err == nil {
		j.reportDrift(ctx, results)
		j.failed = false // drift is what the check is for, not a failure of it
	}
	return err
}

// unlockHint says what an operator does about an apply of unknown
// outcome.
const unlockHint = "Its locks are kept, and the API's runs of this repository refused, until an operator has checked the state and unlocks them: on the web UI's Locks page, or with POST /api/unlock and \"pull\": 0."

// noUnknownApplies refuses the run while an earlier run's apply, cut
// short, is of unknown outcome.
func (j *Job) noUnknownApplies(ctx context.Context) error {
	recs, err := j.r.plans.Records(ctx, j.plansPull())
	if err != nil {
		return err
	}
	unknown := slices.DeleteFunc(recs, func(rec plans.Record) bool { return rec.State != plans.ApplyUnknown || rec.JobID == j.ID })
	if len(unknown) == 0 {
		return nil
	}
	return userErrorf("Nothing ran: atoll was interrupted while applying %s (job %s), and whether that went through is unknown. %s",
		recordTitles(unknown), unknown[0].JobID, unlockHint)
}

// recordTitles names the projects of recs, for a sentence.
func recordTitles(recs []plans.Record) string {
	names := make([]string, len(recs))
	for i, rec := range recs {
		names[i] = report.Result{Project: workflows.Project{Dir: rec.Dir, Workspace: rec.Workspace}, Name: rec.Name}.Title()
	}
	return strings.Join(names, ", ")
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
	if len(run.Projects) == 0 {
		if matches, err = workflows.All(rc.cfg, held[workflows.DefaultWorkspace].Dir); err != nil {
			return nil, orderError(rc.cfg, err)
		}
		if len(matches) == 0 && run.Command == "drift" {
			return nil, nil // nothing to drift: its report says so
		}
		if len(matches) == 0 {
			return nil, userErrorf("There is no project at %.7s: no configuration, and no directory with `.tf` or `.tofu` files.", j.Pull.HeadSHA)
		}
	}
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
	projects, err := ordered(rc.cfg, matches)
	if err != nil {
		return nil, err
	}
	parallel := rc.cfg.ParallelPlan
	if run.Command == "apply" {
		parallel = parallel && rc.cfg.ParallelApply
	}
	return j.runProjects(ctx, held, waves(projects, parallel), rc.cfg.AbortOnExecutionOrderFail,
		func(ws *workspace.Workspace, p workflows.ProjectConfig, blocked string) report.Result {
			if run.Command == "apply" {
				if res, ok := j.project(ws, p, rc, nil).appliedBefore(ctx); ok {
					return res
				}
			}
			res := j.project(ws, p, rc, nil).plan(ctx, blocked)
			if run.Command == "drift" {
				res.Command = "drift"
			}
			if run.Command != "apply" || res.Outcome != report.Succeeded {
				return res
			}
			return j.project(ws, p, rc, nil).apply(ctx)
		})
}

// appliedBefore returns the result of the project's apply when a run of
// this job that was cut short had applied it: the job does not apply it
// twice.
func (p *projectJob) appliedBefore(ctx context.Context) (report.Result, bool) {
	if !p.rerun {
		return report.Result{}, false
	}
	rec, ok, err := plans.Find(ctx, p.r.plans, p.plansPull(), p.ws.Name, p.planKey())
	if err != nil || !ok || rec.JobID != p.ID || rec.State != plans.Applied {
		return report.Result{}, false
	}
	p.log.Info("applied before the job was interrupted; not applying again")
	res := p.result("apply")
	res.Outcome, res.Summary = report.Succeeded, rec.Summary
	return res, true
}

// endRef lets go of the locks the run took and discards its plans: no
// pull request holds them, and no later run applies them. What an apply
// cut short left of unknown outcome stays: its record, and its lock,
// without expiry, until an operator unlocks it. endRef goes on when ctx
// has ended, for a while, and only logs what fails: the locks of a run
// that could not let go of them lapse with the lock TTL, or stay until
// an operator unlocks them.
func (j *Job) endRef(ctx context.Context) {
	ctx, cancel := reportContext(ctx)
	defer cancel()
	discarded, err := j.discardPlans(ctx)
	if err != nil {
		j.Log.Error("discarding the run's plans", "err", err)
		return
	}
	keep := map[locking.Key]bool{}
	for _, rec := range discarded {
		if rec.State != plans.ApplyUnknown {
			continue
		}
		if err := j.r.plans.SaveRecord(ctx, j.plansPull(), rec); err != nil {
			j.Log.Error("keeping the record of an apply of unknown outcome", "err", err)
		}
		keep[j.lockKey(rec.Dir, rec.Workspace)] = true
		if note := j.keepUnknownLock(ctx, rec); note != "" {
			j.Log.Warn("the lock of an apply of unknown outcome is not kept", "why", note)
		}
	}
	if _, err := j.releaseLocksExcept(ctx, keep); err != nil {
		j.Log.Error("releasing the run's locks", "err", err)
	}
}

// unlockRef lets go of the locks and plans of the repository's runs on
// refs, and says which.
func (j *Job) unlockRef(ctx context.Context) error {
	gone, err := j.releaseAll(ctx, "The API's runs of this repository hold no locks and have no plans")
	if err != nil {
		return err
	}
	j.say(fmt.Sprintf("Unlocked the API's runs of this repository, as %s asked through atoll's %s.\n\n%s", j.operator, j.via, gone.text()))
	return nil
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
