package runner

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// command runs a comment command: parseErr is what ParseComment said of
// it. Nothing runs for atoll's own comments, for commenters without the
// right to run commands, or for pull requests atoll must not run.
func (j *Job) command(ctx context.Context, cmd workflows.Command, parseErr error) error {
	endPull := j.phases.start(PhasePull)
	// Read while the commenter is checked; used only if they may run it.
	pulled := soon(j, func() (vcs.PullRequest, error) {
		if parseErr != nil || cmd.Name == "help" {
			return vcs.PullRequest{}, nil // not needed
		}
		return j.Forge.PullRequest(ctx, j.Event.Repo, j.Event.Pull.Number)
	})
	if ok, err := j.trustedCommenter(ctx); !ok {
		endPull()
		return err
	}
	if parseErr != nil {
		return userErrorf("**atoll could not read that command:** %v.\n\n%s", parseErr, workflows.Usage)
	}
	j.Log = j.Log.With("command", cmd.Name, "user", j.User)
	j.reply.Log = j.Log
	if cmd.Name == "help" {
		_, err := j.Forge.Comment(ctx, j.Event.Repo, j.Event.Pull.Number, workflows.Usage)
		return err
	}
	pull, err := pulled()
	endPull()
	if err != nil {
		return err
	}
	j.setPull(pull)
	if j.operator != "" && cmd.Name != "unlock" {
		return fmt.Errorf("runner: %s asked for %q from outside the forge, which only unlock may be", j.operator, cmd.Name)
	}
	switch cmd.Name {
	case "unlock":
		return j.unlock(ctx)
	case "version":
		return j.version(ctx)
	}
	if !pull.Open {
		if j.replan != nil {
			j.Log.Info("not planning a closed pull request on atoll's own: its close lets go of its locks")
			return nil
		}
		return userErrorf("This pull request is closed: atoll runs nothing on it.")
	}
	if pull.Fork && !j.r.policy.AllowForkPRs {
		return errForkRefused
	}
	if j.replan != nil && j.replan.Why == TurnCame {
		// The turn may have gone meanwhile: the pull request unlocked
		// it, or let it lapse. It is not put back in line.
		if _, held, err := j.turnLock(ctx); err != nil || !held {
			j.Log.Info("not planning a turn that is no longer this pull request's", "err", err)
			return err
		}
	}
	switch cmd.Name {
	case "plan":
		return j.plan(ctx, planRequest{sel: cmd, extra: cmd.Extra})
	case "apply":
		return j.apply(ctx, cmd)
	case "import", "state rm":
		return j.stateCommand(ctx, cmd)
	case "approve_policies":
		return j.approvePolicies(ctx)
	}
	return fmt.Errorf("runner: command %q parsed but not handled", cmd.Name)
}

// markSeen marks the job's comment, where the forge can, so that its
// author sees atoll picked it up before the answer comes.
func (j *Job) markSeen(ctx context.Context, log *slog.Logger) {
	r, ok := j.Forge.(vcs.Reactor)
	if !ok {
		return
	}
	if err := r.React(ctx, j.Event.Repo, j.Event.Pull.Number, j.Event.Comment.ID); err != nil {
		log.Warn("marking the comment as seen", "err", err)
	}
}

// trustedCommenter reports whether the job's comment may run: it is not
// atoll's own, the forge holds it as the webhook says, and its author may
// run commands. When it may not, the error, if any, is the answer.
func (j *Job) trustedCommenter(ctx context.Context) (bool, error) {
	if j.operator != "" || j.replan != nil {
		// Checked where it was asked for; a replan continues a plan
		// whose asker was checked.
		return true, nil
	}
	if j.given {
		return j.mayRun(ctx)
	}
	// No comment of atoll's starts with the command word, so a forge that
	// cannot say who atoll is (a GitHub App token cannot) is no loop risk.
	self, err := j.Forge.CurrentUser(ctx)
	if err != nil {
		j.Log.Warn("cannot tell atoll's own comments apart", "err", err)
	}
	ev := j.Event
	if self != "" && strings.EqualFold(j.User, self) {
		j.Log.Debug("ignoring atoll's own comment")
		return false, nil
	}
	// Whether its author may run commands is asked meanwhile, and heeded
	// only for a comment the forge holds as the webhook says.
	may := soon(j, func() (bool, error) { return j.mayRun(ctx) })
	// Who wrote what is taken from the forge, not from the payload, which
	// is only as good as its signature.
	held, err := j.Forge.GetComment(ctx, ev.Repo, ev.Pull.Number, ev.Comment.ID)
	allowed, mayErr := may()
	if err != nil {
		return false, err
	}
	if !strings.EqualFold(held.Author, j.User) || held.Body != ev.Comment.Body {
		j.Log.Warn("comment in the webhook differs from the forge's; ignoring it", "comment", ev.Comment.ID, "forge_author", held.Author)
		return false, nil
	}
	log := j.Log // the job's own changes as it goes on
	j.pending.Go(func() { j.markSeen(ctx, log) })
	return allowed, mayErr
}

// mayRun reports whether the job's user may run commands; when not, the
// error is the answer.
func (j *Job) mayRun(ctx context.Context) (bool, error) {
	ok, err := j.mayComment(ctx)
	switch {
	case err != nil:
		return false, err
	case ok:
		return true, nil
	}
	j.Log.Info("commenter may not run commands", "user", j.User)
	if len(j.r.policy.AllowedCommenters) > 0 {
		return false, userErrorf("@%s, you may not run atoll commands in this repository: only the users and teams this server allows may.", j.User)
	}
	return false, userErrorf("@%s, you may not run atoll commands in this repository: that takes write access to it.", j.User)
}
