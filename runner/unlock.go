package runner

import (
	"context"
	"fmt"
	"strings"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner/plans"
)

// unlock releases the pull request's locks and discards its plans, and
// says which.
func (j *Job) unlock(ctx context.Context) error {
	released, discarded, err := j.releaseAll(ctx, "This pull request holds no locks and has no plans")
	if err != nil {
		return err
	}
	said := "**atoll unlocked this pull request.**"
	if j.operator != "" {
		// The name is the server's configuration, not the forge's; kept
		// in a code span all the same.
		said = fmt.Sprintf("**atoll unlocked this pull request**, as `%s` asked through atoll's %s.", strings.ReplaceAll(j.operator, "`", ""), j.via)
	}
	_, err = j.reply.Finish(ctx, said+"\n\n"+releasedText(released, discarded)+
		"\nOther pull requests can plan these projects now; comment `atoll plan` to plan here again.")
	return err
}

// releaseAll discards the pull request's plans and releases its locks,
// and says which; when there were none, the error says so, in none
// ("This pull request holds no locks and has no plans").
func (j *Job) releaseAll(ctx context.Context, none string) ([]locking.Key, []plans.Record, error) {
	// Plans go first, once no job uses the workspaces: no lock is
	// released under a running apply.
	discarded, err := j.discardPlans(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("discarding plans: %w", err)
	}
	released, err := j.releaseLocks(ctx)
	if err != nil {
		return nil, nil, err
	}
	j.Log.Info("unlocked", "locks", len(released), "plans", len(discarded))
	if len(released) == 0 && len(discarded) == 0 {
		return nil, nil, userErrorf("%s: there is nothing to release.", none)
	}
	return released, discarded, nil
}

// releaseLocks lets go of every lock the pull request holds.
func (j *Job) releaseLocks(ctx context.Context) ([]locking.Key, error) {
	return j.releaseLocksExcept(ctx, nil)
}

// releaseLocksExcept lets go of the locks the pull request holds but
// those of keep.
func (j *Job) releaseLocksExcept(ctx context.Context, keep map[locking.Key]bool) ([]locking.Key, error) {
	locks, err := j.r.locker.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing locks: %w", err)
	}
	var released []locking.Key
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

// releasedText lists the locks released and the unapplied plans
// discarded, for a comment.
func releasedText(released []locking.Key, discarded []plans.Record) string {
	var b strings.Builder
	if len(released) > 0 {
		b.WriteString("Locks released:\n")
		for _, k := range released {
			fmt.Fprintf(&b, "- `%s` in workspace `%s`\n", k.Dir, k.Workspace)
		}
	}
	var unapplied []string
	for _, rec := range discarded {
		if rec.Unapplied() {
			unapplied = append(unapplied, fmt.Sprintf("- `%s` in workspace `%s` (%s)\n", rec.Dir, rec.Workspace, rec.Summary))
		}
	}
	if len(unapplied) > 0 {
		if len(released) > 0 {
			b.WriteString("\n")
		}
		b.WriteString("Unapplied plans discarded:\n" + strings.Join(unapplied, ""))
	}
	return b.String()
}
