package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/runner/tool"
	"github.com/atoll-iac/atoll/workflows"
)

// runSteps runs a project's steps in its directory and says how they went
// in res: the output shown is that of every step worth showing, or of the
// step that failed, as much of it as the step's output setting lets show.
func (p *projectJob) runSteps(ctx context.Context, res report.Result, steps []workflows.Step) report.Result {
	dir, failed, ok := p.dir(res)
	if !ok {
		return failed
	}
	// Where a -var-file leads is known only now, in the checkout.
	var refused *workflows.VarFileError
	switch err := workflows.CheckVarFiles(p.ws.Dir, p.cfg.Dir, p.extra); {
	case errors.As(err, &refused):
		res.Outcome, res.Summary = report.Failed, "Nothing ran: "+refused.Error()+"."
		return res
	case err != nil:
		p.log.Error("checking the -var-file arguments", "err", err)
		return res.Internal(p.ID)
	}
	t := cmp.Or(p.tool, p.r.exec.Tool())
	version, err := p.r.exec.Version(ctx, t)
	if err != nil {
		p.log.Error("asking the tool for its version", "err", err)
		return res.Internal(p.ID)
	}
	env := append(p.stepEnv(dir), toolEnv(t, version)...)
	var shown []string
	for _, step := range steps {
		if res, ok := p.stillLocked(ctx, res, step); !ok {
			return res
		}
		start := time.Now()
		out, err := p.runStep(ctx, dir, &env, step)
		p.phases.add(step.Name, time.Since(start))
		p.log.Debug("ran step", "step", step.Name, "elapsed", time.Since(start))
		out = step.Visible(out)
		if err != nil {
			return p.stepFailed(res, step, out, err)
		}
		if step.Shown() && strings.TrimSpace(out) != "" {
			shown = append(shown, out)
		}
	}
	res.Output = strings.Join(shown, "\n")
	res.Outcome = report.Succeeded
	return res
}

// stillLocked makes sure, before step runs, that the pull request still
// holds the project's lock. When it does not, it returns res saying so,
// and false.
func (p *projectJob) stillLocked(ctx context.Context, res report.Result, step workflows.Step) (report.Result, bool) {
	switch holder, err := p.lock.held(ctx); {
	case err != nil:
		p.log.Error("checking the project lock", "step", step.Name, "err", err)
		return res.Internal(p.ID), false
	case holder != nil:
		p.log.Warn("the project lock lapsed while the command ran, and another pull request took it", "step", step.Name, "holder", holder.Pull)
		res.Outcome, res.Holder, res.HolderRef = report.Locked, *holder, p.Forge.PullRef(holder.Pull)
		return res, false
	}
	return res, true
}

// stepFailed returns res for step, which printed out (as much as it
// shows) and failed with err.
func (p *projectJob) stepFailed(res report.Result, step workflows.Step, out string, err error) report.Result {
	var exit *exec.ExitError
	var bad *badOutputError
	switch {
	case errors.As(err, &exit):
		p.log.Info("step failed", "step", step.Name, "exit", exit.ExitCode())
		res.Output, res.Outcome, res.Step = out, report.Failed, step.Name
		res.Summary = fmt.Sprintf("%s exited with status %d", step.Name, exit.ExitCode())
		if step.Output == workflows.OutputHide {
			res.Summary += "; its output is hidden (output: hide)"
		}
		res.Summary = report.ErrorLine(out, res.Summary)
		return res
	case errors.As(err, &bad):
		p.log.Info("step printed what atoll cannot use", "step", step.Name, "err", err)
		res.Outcome, res.Step, res.Summary = report.Failed, step.Name, bad.Error()
		return res
	case step.Shell != nil && (errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist)):
		p.log.Info("step's shell not found", "step", step.Name, "shell", step.Shell[0], "err", err)
		res.Outcome, res.Step = report.Failed, step.Name
		res.Summary = fmt.Sprintf("%s: the shell `%s` is not installed on this server.", step.Name, step.Shell[0])
		return res
	}
	p.log.Error("running step", "step", step.Name, "err", err)
	return res.Internal(p.ID)
}

// badOutputError is a step whose command succeeded but printed what atoll
// cannot use; its text is for the pull request.
type badOutputError struct{ msg string }

func (e *badOutputError) Error() string { return e.msg }

// runStep runs one step: the tool, a command through its shell, or an env
// or multienv step, which add to env. A multienv step's output, when it
// succeeds, is the names of the variables it set, not what it printed:
// their values are often secrets.
func (p *projectJob) runStep(ctx context.Context, dir string, env *[]string, step workflows.Step) (string, error) {
	rs := tool.Step{Tool: p.tool, Dir: dir, Checkout: p.ws.Dir, Home: p.ws.Home(), Files: p.stepFiles(), Args: step.Args, Env: *env, StdoutFile: step.StdoutFile}
	if p.tool.Path != "" {
		rs.PathPrefix, rs.Runs = filepath.Dir(p.tool.Path), []string{p.tool.Path}
	}
	rs.Init = step.Shell == nil && step.Name == "init"
	if p.applying {
		rs.Reads = []string{p.files.Plan}
	}
	if step.Shell != nil {
		// The command is the shell's last argument; nothing else parses it.
		rs.Tool = tool.Tool{Path: step.Shell[0]}
		rs.Args = append(slices.Clone(step.Shell[1:]), step.Run)
	}
	switch step.Name {
	case "env":
		value := step.EnvValue
		if step.Shell != nil {
			out, err := p.r.exec.Run(ctx, rs)
			if err != nil {
				return out, err
			}
			value = strings.TrimSpace(out)
		}
		*env = append(*env, step.EnvName+"="+value)
		return "", nil
	case "multienv":
		out, err := p.r.exec.Run(ctx, rs)
		if err != nil {
			// What it printed before it failed may hold values: none shows.
			return "", err
		}
		vars, err := workflows.ParseMultienv(out)
		if err != nil {
			return "", &badOutputError{fmt.Sprintf("multienv: `%s` printed no list of NAME=VALUE pairs, separated by commas or lines: %v.", step.Run, err)}
		}
		*env = append(*env, vars...)
		if len(vars) == 0 {
			return "", nil
		}
		names := make([]string, len(vars))
		for i, v := range vars {
			names[i], _, _ = strings.Cut(v, "=")
		}
		return "multienv set " + strings.Join(names, ", "), nil
	}
	if p.output != nil {
		// What the tool and run steps print; not env and multienv's,
		// whose output is values.
		live := prefixed{w: p.output, prefix: outputPrefix(p.cfg.Dir)}
		io.WriteString(live, p.r.redact.Redact("$ "+strings.Join(append([]string{filepath.Base(cmp.Or(rs.Tool.Path, p.r.exec.Tool().Path))}, rs.Args...), " ")+"\n"))
		rs.Live = live
	}
	return p.r.exec.Run(ctx, rs)
}

// toolEnv tells custom steps which tool runs the project, under the names
// Atlantis uses: its binary's name and its version ("1.10.7"), from
// version as Runner.Version gives it.
func toolEnv(t tool.Tool, version string) []string {
	_, number, _ := strings.Cut(version, " v")
	return []string{"ATLANTIS_TERRAFORM_DISTRIBUTION=" + t.Distribution.Binary(), "ATLANTIS_TERRAFORM_VERSION=" + number}
}

// stepEnv is what custom steps, run in dir, learn of their project from
// the environment, under the names Atlantis uses. The project's tool
// comes first on PATH, so that a run step's `tofu` is the one that plans.
func (p *projectJob) stepEnv(dir string) []string {
	pull := p.Pull
	owner, name := splitRepo(pull.Repo.FullName)
	headOwner, headName := splitRepo(pull.HeadRepo)
	return []string{
		"WORKSPACE=" + p.cfg.Workspace,
		"DIR=" + dir,
		"REPO_REL_DIR=" + p.cfg.Dir,
		"PROJECT_NAME=" + p.cfg.Name,
		"PLANFILE=" + p.files.Plan,
		"SHOWFILE=" + p.files.Show,
		"PULL_NUM=" + fmt.Sprint(pull.Number),
		"PULL_AUTHOR=" + pull.Author,
		"HEAD_COMMIT=" + pull.HeadSHA,
		"BASE_BRANCH_NAME=" + pull.BaseRef,
		"BASE_REPO_OWNER=" + owner,
		"BASE_REPO_NAME=" + name,
		"HEAD_BRANCH_NAME=" + pull.HeadRef,
		"HEAD_REPO_OWNER=" + headOwner,
		"HEAD_REPO_NAME=" + headName,
		"PULL_URL=" + pull.URL,
		"USER_NAME=" + p.User,
		"COMMENT_ARGS=" + strings.Join(p.extra, ","),
	}
}

// splitRepo splits a repository's full name into its owner, a group
// with its subgroups on GitLab ("group/sub"), and its name.
func splitRepo(fullName string) (owner, name string) {
	i := strings.LastIndexByte(fullName, '/')
	if i < 0 {
		return "", fullName
	}
	return fullName[:i], fullName[i+1:]
}

// stepFiles are the plan's files a step may write: a plan's steps write
// them; an apply's steps only read the plan file, and the steps of a
// state command have none.
func (p *projectJob) stepFiles() []string {
	if p.applying || p.files.Plan == "" {
		return nil // none to write, or none to write again
	}
	return []string{p.files.Plan, p.files.Show}
}
