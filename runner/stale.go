package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// StaleMark starts the note atoll puts at the top of a plan comment whose
// plan another pull request's apply made stale.
const StaleMark = "> 🕰️ **This plan is stale:**"

// markStale marks as stale the plans that other pull requests of the
// repository keep, waiting to be applied, of the projects of applied, the
// job's records of what it applied (or may have: an apply cut short),
// made before the apply ended at end: their state changed since they
// were planned. Each such pull request's plan statuses fail, saying so,
// its latest plan comment says so at the top, and, with
// Policy.ReplanStale, its projects are planned again. What fails is
// logged: the apply itself is done.
func (j *Job) markStale(ctx context.Context, applied []plans.Record, end time.Time) {
	if len(applied) == 0 {
		return
	}
	pulls, err := j.r.plans.Pulls(ctx, j.Forge.Name(), j.Pull.Repo.FullName)
	if err != nil {
		j.Log.Error("listing the pull requests with plans, to mark stale ones", "err", err)
		return
	}
	by := j.applier(j.Pull.Number)
	for _, n := range pulls {
		if n == j.Pull.Number || n == 0 {
			continue // the API's runs apply what they plan, at once
		}
		other := plans.Pull{Forge: j.Forge.Name(), Repo: j.Pull.Repo.FullName, Number: n}
		stale, err := j.r.plans.UpdateRecords(ctx, other, func(rec *plans.Record) bool {
			// A plan begun once the apply ended saw what it applied.
			sameProject := func(a plans.Record) bool { return a.Dir == rec.Dir && a.Workspace == rec.Workspace }
			if !rec.Unapplied() || !rec.Time.Before(end) || !slices.ContainsFunc(applied, sameProject) {
				return false
			}
			rec.State, rec.StaleBy = plans.Stale, j.Pull.Number
			rec.Summary = fmt.Sprintf("state changed by %s; plan again", by)
			return true
		})
		if err != nil {
			j.Log.Error("marking plans stale", "stale_pr", n, "err", err)
		}
		if len(stale) > 0 {
			j.Log.Info("marked plans stale", "stale_pr", n, "plans", len(stale))
			j.tellStale(ctx, other, stale)
		}
	}
}

// applier names, in a comment, the apply of pull request n: of a run
// asked for through atoll's API when n is 0.
func (j *Job) applier(n int) string {
	if n == 0 {
		return "an apply asked for through atoll's API"
	}
	return j.Forge.PullRef(n) + "'s apply"
}

// tellStale tells pull request pull that its plans stale, just marked,
// went stale: in its plan statuses and check runs, atop its latest plan
// comment, and, with Policy.ReplanStale, by planning them again.
func (j *Job) tellStale(ctx context.Context, pull plans.Pull, stale []plans.Record) {
	log := j.Log.With("stale_pr", pull.Number)
	repo := j.Pull.Repo
	if j.r.policy.ReplanStale {
		for _, rec := range stale {
			if err := j.r.queueReplan(ctx, j.lockKey(rec.Dir, rec.Workspace), pull.Number, rec.User, Replan{Why: PlanStale, By: j.Pull.Number}, j.ID); err != nil {
				log.Error("queueing the plan of a stale plan", "err", err)
			}
		}
	}
	head, err := j.Forge.PullRequest(ctx, repo, pull.Number)
	if err != nil {
		log.Error("reading a pull request whose plans went stale", "err", err)
		return
	}
	// Statuses of the plans of the head only: an older commit's plan
	// could not be applied anyway.
	var writes []func()
	for _, rec := range stale {
		if rec.SHA != head.HeadSHA {
			continue
		}
		writes = append(writes, func() {
			st := report.Status("plan", rec.Target, vcs.Failure, rec.Summary)
			if err := j.Forge.SetStatus(ctx, repo, rec.SHA, st); err != nil {
				log.Error("setting commit status", "context", st.Context, "err", err)
			}
			if c, ok := j.Forge.(vcs.CheckReporter); ok {
				res := report.Result{Project: workflows.Project{Dir: rec.Dir, Workspace: rec.Workspace}, Name: rec.Name, Command: "plan", Outcome: report.Stale, Summary: rec.Summary}
				if err := c.SetCheckRun(ctx, repo, rec.SHA, report.CheckRun(rec.Target, res, c.MaxCheckText())); err != nil {
					log.Error("setting a check run", "err", err)
				}
			}
		})
	}
	if len(writes) > 0 {
		writes = append(writes, j.aggregateWritesOf(ctx, pull, head.HeadSHA, log)...)
	}
	writes = append(writes, func() { j.noteStale(ctx, pull, stale) })
	concurrently(writes)
}

// noteStale says atop pull request pull's latest plan comment that its
// plans stale went stale; in a comment of its own when that comment
// says so of others already (an earlier apply's), or when the note
// would make it too long.
func (j *Job) noteStale(ctx context.Context, pull plans.Pull, stale []plans.Record) {
	log := j.Log.With("stale_pr", pull.Number)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s changed the state of these projects after they were planned, so atoll will not apply these plans:\n>\n", StaleMark, j.applier(j.Pull.Number))
	for _, rec := range stale {
		fmt.Fprintf(&b, "> - `%s` in workspace `%s`: comment `%s` to plan it again\n", workflows.Quote(rec.Dir), workflows.Quote(rec.Workspace), planCommand(rec))
	}
	note := b.String() + "\n"
	ids, err := j.r.plans.Comments(ctx, pull)
	if err != nil {
		log.Error("reading the plan comments", "err", err)
	}
	if len(ids) > 0 {
		c, err := j.Forge.GetComment(ctx, j.Pull.Repo, pull.Number, ids[0])
		switch {
		case err != nil:
			log.Warn("reading the plan comment, to say it is stale", "comment", ids[0], "err", err)
		case !strings.HasPrefix(c.Body, StaleMark) && len(note)+len(c.Body) <= j.Forge.MaxCommentLen():
			if err := j.Forge.UpdateComment(ctx, j.Pull.Repo, pull.Number, ids[0], note+c.Body); err != nil {
				log.Error("saying a plan comment is stale", "err", err)
			}
			return
		}
	}
	if _, err := j.Forge.Comment(ctx, j.Pull.Repo, pull.Number, note); err != nil {
		log.Error("saying plans are stale", "err", err)
	}
}
