package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/workflows"
)

// unlock releases the pull request's locks, discards its plans and
// takes it out of the lines it waits in, and says which.
func (j *Job) unlock(ctx context.Context) error {
	gone, err := j.releaseAll(ctx, "This pull request holds no locks, has no plans and waits in no line")
	if err != nil {
		return err
	}
	said := "**atoll unlocked this pull request.**"
	if j.operator != "" {
		// The name is the server's configuration, not the forge's; kept
		// in a code span all the same.
		said = fmt.Sprintf("**atoll unlocked this pull request**, as `%s` asked through atoll's %s.", strings.ReplaceAll(j.operator, "`", ""), j.via)
	}
	_, err = j.reply.Finish(ctx, said+"\n\n"+gone.text()+
		"\nOther pull requests can plan these projects now; comment `atoll plan` to plan here again.")
	return err
}

// letGo is what a pull request let go of.
type letGo struct {
	// released are the locks it held.
	released []locking.Key
	// discarded are its plans.
	discarded []plans.Record
	// left are the lines it waited in.
	left []locking.Key
}

// none reports whether there was nothing to let go of.
func (g letGo) none() bool {
	return len(g.released) == 0 && len(g.discarded) == 0 && len(g.left) == 0
}

// releaseAll discards the pull request's plans, releases its locks and
// takes it out of the lines it waits in, and says which; when there were
// none, the error says so, in none ("This pull request holds no
// locks…").
func (j *Job) releaseAll(ctx context.Context, none string) (letGo, error) {
	var gone letGo
	// Plans go first, once no job uses the workspaces: no lock is
	// released under a running apply.
	var err error
	if gone.discarded, err = j.discardPlans(ctx); err != nil {
		return gone, fmt.Errorf("discarding plans: %w", err)
	}
	// Out of line first, so that no lock released is handed to it; a
	// line that cannot be left keeps no lock held.
	var leaveErr error
	gone.left, leaveErr = j.leaveLines(ctx)
	gone.released, err = j.releaseLocks(ctx)
	if err := errors.Join(leaveErr, err); err != nil {
		return gone, err
	}
	j.Log.Info("unlocked", "locks", len(gone.released), "plans", len(gone.discarded), "lines", len(gone.left))
	if gone.none() {
		return gone, userErrorf("%s: there is nothing to release.", none)
	}
	return gone, nil
}

// releaseLocks lets go of every lock the pull request holds.
func (j *Job) releaseLocks(ctx context.Context) ([]locking.Key, error) {
	return j.releaseLocksExcept(ctx, nil)
}

// releaseLocksExcept lets go of the locks the pull request holds but
// those of keep, and passes them to the pull requests waiting in line.
func (j *Job) releaseLocksExcept(ctx context.Context, keep map[locking.Key]bool) ([]locking.Key, error) {
	locks, err := j.r.locker.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing locks: %w", err)
	}
	var released []locking.Key
	defer func() {
		if len(released) > 0 {
			j.passTurns(ctx)
		}
	}()
	for _, l := range locks {
		if l.Key.Forge != j.Forge.Name() || l.Key.Repo != j.Pull.Repo.FullName || l.Pull != j.Pull.Number || keep[l.Key] {
			continue
		}
		ok, err := j.r.locker.Unlock(ctx, l.Key, j.Pull.Number)
		if err != nil {
			return released, fmt.Errorf("releasing lock on %s/%s: %w", l.Key.Dir, l.Key.Workspace, err)
		}
		if ok {
			released = append(released, l.Key)
		}
	}
	return released, nil
}

// text lists, for a comment, the locks released, the unapplied plans
// discarded and the lines left.
func (g letGo) text() string {
	var sections []string
	if len(g.released) > 0 {
		sections = append(sections, "Locks released:\n"+keyList(g.released))
	}
	var unapplied []string
	for _, rec := range g.discarded {
		if rec.Unapplied() {
			unapplied = append(unapplied, fmt.Sprintf("- `%s` in workspace `%s` (%s)\n", rec.Dir, rec.Workspace, rec.Summary))
		}
	}
	if len(unapplied) > 0 {
		sections = append(sections, "Unapplied plans discarded:\n"+strings.Join(unapplied, ""))
	}
	if len(g.left) > 0 {
		sections = append(sections, "Left the line for the locks of:\n"+keyList(g.left))
	}
	return strings.Join(sections, "\n")
}

// keyList lists keys for a comment, a line each.
func keyList(keys []locking.Key) string {
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "- `%s` in workspace `%s`\n", workflows.Quote(k.Dir), workflows.Quote(k.Workspace))
	}
	return b.String()
}
