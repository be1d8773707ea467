package runner

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"time"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/runner/tool"
	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/workflows"
)

// projectJob is one project's part of a job's plan or apply.
type projectJob struct {
	*Job
	// log carries the project besides the job.
	log *slog.Logger
	ws  *workspace.Workspace
	cfg workflows.ProjectConfig
	rc  repoConfig
	// extra are the user's tool arguments.
	extra []string
	// tool runs the project's steps; the server's default when zero.
	tool tool.Tool
	// files are where the project's plan is, once known.
	files plans.Files
	// applying is set while the plan is applied: its steps may read the
	// plan file, which was checked, and not write it.
	applying bool
	// lock is the project's lock while the command runs, when it needs
	// keeping; each step runs only while the pull request holds it.
	lock *keptLock
}

// project is the part of the job that runs command on project p, in the
// checkout ws.
func (j *Job) project(ws *workspace.Workspace, p workflows.ProjectConfig, rc repoConfig, extra []string) *projectJob {
	return &projectJob{
		Job: j, ws: ws, cfg: p, rc: rc, extra: extra,
		log: j.Log.With("dir", p.Dir, "workspace", p.Workspace, "project", p.Name),
	}
}

// result is the result of command on the project, as yet unknown.
func (p *projectJob) result(command string) report.Result {
	return report.Result{Project: p.cfg.Project, Name: p.cfg.Name, Command: command}
}

// target is how commit statuses name the project.
func (p *projectJob) target() string { return p.rc.statusTarget(p.cfg.Name, p.cfg.Project) }

// planKey names the project's plan.
func (p *projectJob) planKey() plans.Key { return plans.Key{Dir: p.cfg.Dir, Name: p.cfg.Name} }

// projectLock is the lock a pull request takes on a project: until it is
// closed or merged, or, with a lock TTL, until that long after its last
// plan or apply of the project.
func (r *Runner) projectLock(key locking.Key, pull int, user string) locking.Lock {
	now := time.Now().UTC()
	l := locking.Lock{Key: key, Pull: pull, User: user, Time: now}
	if r.policy.LockTTL > 0 {
		l.Expires = now.Add(r.policy.LockTTL)
	}
	return l
}

// takeLock takes the project's lock for the job's pull request and keeps
// it (p.lock) until p.lock.release; a project whose repository config
// turns locking off needs none. When another pull request holds it, or
// taking it fails, it returns res saying so, and false: with join, the
// pull request then waits in line for the lock, and res says where.
func (p *projectJob) takeLock(ctx context.Context, res report.Result, join bool) (report.Result, bool) {
	if !p.locks() {
		return res, true
	}
	defer p.phases.start(PhaseLock)()
	l := p.r.projectLock(p.lockKey(p.cfg.Dir, p.cfg.Workspace), p.Pull.Number, p.User)
	var holder locking.Lock
	var ok bool
	var err error
	if join {
		holder, res.Place, err = p.r.locker.Wait(ctx, l)
		ok = res.Place == 0
	} else {
		holder, ok, err = p.r.locker.TryLock(ctx, l)
	}
	switch {
	case err != nil:
		p.log.Error("taking the project lock", "err", err)
		return res.Internal(p.ID), false
	case !ok:
		res.Outcome, res.Holder, res.HolderRef = report.Locked, holder, p.Forge.PullRef(holder.Pull)
		if holder.Turn {
			// Handed over just now, perhaps by this very call: its
			// pull request is told at once.
			p.passTurns(ctx)
		}
		return res, false
	}
	p.lock = p.r.keepLock(p.log, l)
	return res, true
}

// locks reports whether the project is planned and applied under a
// lock: unless its repository's repo_locking (or its own, where the
// server lets it) is false.
func (p *projectJob) locks() bool {
	if p.cfg.RepoLocking != nil {
		return *p.cfg.RepoLocking
	}
	return !p.rc.rule.NoRepoLocking
}

// dir finds the project's directory in the checkout. When there is none,
// or a symbolic link leads it out of the checkout, it returns res failed,
// saying so, and false.
func (p *projectJob) dir(res report.Result) (string, report.Result, bool) {
	dir, err := workflows.DirPath(p.ws.Dir, p.cfg.Dir)
	switch {
	case errors.Is(err, workflows.ErrOutsideRepo):
		res.Outcome, res.Summary = report.Failed, fmt.Sprintf("Nothing ran: `%s` is a symbolic link out of the repository.", p.cfg.Dir)
		return "", res, false
	case errors.Is(err, fs.ErrNotExist):
		res.Outcome, res.Summary = report.Failed, fmt.Sprintf("Nothing ran: there is no directory `%s` at %.7s.", p.cfg.Dir, p.Pull.HeadSHA)
		return "", res, false
	case err != nil:
		p.log.Error("finding the project's directory", "err", err)
		return "", res.Internal(p.ID), false
	}
	return dir, res, true
}

// findTool is the binary that runs the project: of the distribution its
// config names (else the server's), at the version its config or its
// required_version, as that distribution reads the files, asks for.
func (p *projectJob) findTool(ctx context.Context) (tool.Tool, error) {
	distribution := cmp.Or(p.cfg.Distribution, p.r.exec.Tool().Distribution)
	constraint := p.cfg.TerraformVersion
	if constraint == "" {
		var err error
		if constraint, err = workflows.RequiredVersion(p.ws.Dir, p.cfg.Dir, distribution); err != nil {
			return tool.Tool{}, err
		}
	}
	return p.r.tools.Resolve(ctx, distribution, constraint)
}

// useTool finds the project's directory and the binary that runs it
// (findTool), which its steps then run with. When it cannot, it returns
// res saying why, and false.
func (p *projectJob) useTool(ctx context.Context, res report.Result) (report.Result, bool) {
	if _, failed, ok := p.dir(res); !ok {
		return failed, false
	}
	var err error
	if p.tool, err = p.findTool(ctx); err != nil {
		if errors.Is(err, tool.ErrToolVersion) {
			res.Outcome, res.Summary = report.Failed, err.Error()
			return res, false
		}
		p.log.Error("finding the project's tool", "err", err)
		return res.Internal(p.ID), false
	}
	return res, true
}

// maxLockFile bounds the dependency lock file atoll reads from a checkout.
const maxLockFile = 16 << 20

// lockFileName is the dependency lock file of the project in dir,
// relative to the checkout.
func lockFileName(dir string) string { return path.Join(dir, ".terraform.lock.hcl") }

// keepPlan keeps the plan of rec, just made, for its apply: where plans
// are shared, with the dependency lock file its init left in the
// checkout, which another replica's checkout lacks.
func (p *projectJob) keepPlan(ctx context.Context, rec plans.Record) error {
	var lock []byte
	if p.r.plans.Shared() {
		var err error
		if lock, err = p.ws.ReadFile(lockFileName(rec.Dir), maxLockFile); err != nil {
			return err
		}
	}
	return p.r.plans.Keep(ctx, p.plansPull(), rec, lock)
}

// fetchPlan puts the plan of rec in place for its apply, perhaps from
// another replica, and the dependency lock file kept with it in the
// checkout.
func (p *projectJob) fetchPlan(ctx context.Context, rec plans.Record) error {
	lock, err := p.r.plans.Fetch(ctx, p.plansPull(), rec)
	if err != nil || lock == nil {
		return err
	}
	return p.ws.WriteFile(lockFileName(rec.Dir), lock)
}

// fileSum is the hex SHA-256 of the file at path.
func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
