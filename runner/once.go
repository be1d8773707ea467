package runner

import (
	"context"
	"slices"

	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs"
)

// Outcome is how work run at once ended.
type Outcome struct {
	// Failed is set when the work failed or was refused.
	Failed bool
	// Said are the answers the job gave on the pull request, as it gave
	// them.
	Said []string
}

// RunNow runs the work ev from forge asks for at once, outside the queue,
// as job id: one pass of atoll in a CI job. ev must ask for work
// (Decide).
func (r *Runner) RunNow(ctx context.Context, id string, forge vcs.Forge, ev vcs.Event) Outcome {
	return r.runNow(ctx, id, forge, ev, false)
}

// RunCommand runs command (a comment's text, "atoll apply") on pull
// request pull as user, at once, outside the queue: a command a CI job's
// configuration gives, as user, who ran the job, rather than a comment.
// User must have the right to run commands, as a commenter must. The
// command's text must parse as one (Decide).
func (r *Runner) RunCommand(ctx context.Context, id string, forge vcs.Forge, pull vcs.PullRequest, user, command string) Outcome {
	ev := vcs.Event{Type: vcs.CommentCreated, Repo: pull.Repo, Pull: pull, Comment: vcs.Comment{Author: user, Body: command}}
	return r.runNow(ctx, id, forge, ev, true)
}

func (r *Runner) runNow(ctx context.Context, id string, forge vcs.Forge, ev vcs.Event, given bool) Outcome {
	log := r.log.With("forge", forge.Name(), "repo", ev.Repo.FullName, "pr", ev.Pull.Number, "job", id)
	j := r.newJob(id, log, forge, ev, nil)
	j.given = given
	var out Outcome
	j.reply.Said = func(body string) { out.Said = append(out.Said, body) }
	// Stopped midway, ctx ended: the work is not done.
	out.Failed = j.run(ctx) || j.failed
	return out
}

// noteResults notes the projects results are of, for the job's record,
// and that the job failed when a project's result did.
func (j *Job) noteResults(results []report.Result) {
	if slices.ContainsFunc(results, report.Result.HasFailed) {
		j.failed = true
	}
	j.noteProjects(results)
}
