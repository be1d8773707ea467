package runner

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// Replan is a plan of one project that atoll asks for on its own, in the
// pull request's turn, as if its user had commented it.
type Replan struct {
	// Why is TurnCame or PlanStale.
	Why string
	// By is the pull request whose apply made the plan stale.
	By        int `json:",omitempty"`
	Dir       string
	Workspace string
}

// Why atoll plans a pull request on its own.
const (
	// TurnCame: the pull request waited in line for the project's lock
	// (Policy.LockQueue), and got it.
	TurnCame = "turn"
	// PlanStale: another pull request's apply made its plan of the
	// project stale (Policy.ReplanStale).
	PlanStale = "stale"
)

// command is the comment command the replan stands for.
func (rp Replan) command() workflows.Command {
	return workflows.Command{Name: "plan", Dir: rp.Dir, Workspace: rp.Workspace}
}

// replanOrder is the order that plans the project of key in pull
// request pull, for user, as rp says.
func replanOrder(key locking.Key, pull int, user string, rp Replan) Order {
	repo := vcs.Repo{FullName: key.Repo}
	rp.Dir, rp.Workspace = key.Dir, key.Workspace
	return Order{JobID: NewJobID(), Forge: key.Forge, Replan: &rp, Event: vcs.Event{
		Type:    vcs.CommentCreated,
		Repo:    repo,
		Pull:    vcs.PullRequest{Repo: repo, Number: pull},
		Comment: vcs.Comment{Author: user},
	}}
}

// queueReplan queues the plan of the project of key in pull request
// pull, for user, as rp says, once for each occasion: another call with
// the same occasion queues nothing.
func (r *Runner) queueReplan(ctx context.Context, key locking.Key, pull int, user string, rp Replan, occasion string) error {
	if r.tasks == nil {
		return nil
	}
	o := replanOrder(key, pull, user, rp)
	group, body, err := o.Task()
	if err != nil {
		return err
	}
	mark := queue.Mark{
		Key:   fmt.Sprintf("%s/%s/%s/%d/%s/%s", key.Forge, key.Repo, rp.Why, pull, strconv.Quote(key.Dir), strconv.Quote(key.Workspace)),
		Value: occasion,
		TTL:   CommentWindow,
	}
	_, isNew, err := r.tasks.EnqueueOnce(ctx, mark, group, body)
	if err == nil && isNew {
		r.log.Info("queued", "job", o.JobID, "forge", key.Forge, "repo", key.Repo, "pr", pull, "work", "plan", "replan", rp.Why, "dir", key.Dir, "workspace", key.Workspace)
	}
	return err
}

// PassTurns hands each free lock that pull requests wait in line for to
// the first of them, and queues the plan of each pull request whose turn
// came and who has yet to take its lock (locking.Liner.Pass). It runs
// after a pull request lets go of its locks and, now and then, for the
// locks that lapse.
func (r *Runner) PassTurns(ctx context.Context) error {
	turns, err := r.locker.Pass(ctx)
	if err != nil {
		return err
	}
	for _, l := range turns {
		if l.Pull == 0 || r.forge(l.Key.Forge) == nil {
			continue // a run on a ref never waits in line
		}
		// Once per handing over: a lock handed again is a new turn.
		if err := r.queueReplan(ctx, l.Key, l.Pull, l.User, Replan{Why: TurnCame}, l.Time.String()); err != nil {
			return fmt.Errorf("queueing the plan of %s#%d, whose turn came: %w", l.Key.Repo, l.Pull, err)
		}
	}
	return nil
}

// giveBackTurn lets go of the lock of the job's replan, handed to the
// pull request in its turn, when the plan never took it (it stopped
// before the project's lock: the directory is gone, a requirement is
// unmet, locking was turned off), and passes it to the next in line: a
// turn not taken must not keep the lock from everyone.
func (j *Job) giveBackTurn(ctx context.Context) {
	ctx, cancel := reportContext(ctx)
	defer cancel()
	l, held, err := j.turnLock(ctx)
	switch {
	case err != nil:
		j.Log.Error("listing locks, to give back a turn not taken", "err", err)
		return
	case !held || !l.Turn:
		return // taken, or gone
	}
	j.Log.Info("giving back the lock of a turn the plan did not take", "dir", l.Key.Dir, "workspace", l.Key.Workspace)
	if _, err := j.r.locker.Unlock(ctx, l.Key, l.Pull); err != nil {
		j.Log.Error("giving back a turn not taken", "err", err)
		return
	}
	j.passTurns(ctx)
}

// turnLock returns the lock of the project of the job's replan, if the
// job's pull request holds it: handed to it, or taken by a run of this
// job that was cut short.
func (j *Job) turnLock(ctx context.Context) (locking.Lock, bool, error) {
	key := locking.Key{Forge: j.Forge.Name(), Repo: j.Event.Repo.FullName, Dir: j.replan.Dir, Workspace: j.replan.Workspace}
	locks, err := j.r.locker.List(ctx)
	if err != nil {
		return locking.Lock{}, false, err
	}
	i := slices.IndexFunc(locks, func(l locking.Lock) bool { return l.Key == key && l.Pull == j.Event.Pull.Number })
	if i < 0 {
		return locking.Lock{}, false, nil
	}
	return locks[i], true, nil
}

// passTurns is PassTurns for a job, which logs what fails.
func (j *Job) passTurns(ctx context.Context) {
	if err := j.r.PassTurns(ctx); err != nil {
		j.Log.Error("passing locks to the pull requests in line", "err", err)
	}
}

// leaveLines takes the pull request out of every line it waits in, and
// returns the keys of those lines.
func (j *Job) leaveLines(ctx context.Context) ([]locking.Key, error) {
	lines, err := j.r.locker.Lines(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing lock lines: %w", err)
	}
	var left []locking.Key
	for _, line := range lines {
		k := line.Key
		waits := slices.ContainsFunc(line.Waiting, func(w locking.Waiter) bool { return w.Pull == j.Pull.Number })
		if k.Forge != j.Forge.Name() || k.Repo != j.Pull.Repo.FullName || !waits {
			continue
		}
		ok, err := j.r.locker.Leave(ctx, k, j.Pull.Number)
		if err != nil {
			return left, fmt.Errorf("leaving the line for %s/%s: %w", k.Dir, k.Workspace, err)
		}
		if ok {
			left = append(left, k)
		}
	}
	return left, nil
}

// replanHeader says, above a replan's results, why atoll planned on its
// own; "" for a plan someone asked for, or one that found the lock
// taken again.
func (j *Job) replanHeader(results []report.Result) string {
	rp := j.replan
	if rp == nil || slices.ContainsFunc(results, func(r report.Result) bool { return r.Outcome == report.Locked }) {
		return ""
	}
	where := fmt.Sprintf("`%s` in workspace `%s`", workflows.Quote(rp.Dir), workflows.Quote(rp.Workspace))
	if rp.Why == PlanStale {
		return fmt.Sprintf("**%s changed the state of %s**, which made this pull request's plan of it stale, so atoll planned it again.\n\n", j.applier(rp.By), where)
	}
	return fmt.Sprintf("**It is this pull request's turn for %s:** its lock came to this pull request from the line, so atoll planned it.\n\n", where)
}
