package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// stepContext is what the steps of one project's command know.
type stepContext struct {
	ws   *runner.Workspace
	pull vcs.PullRequest
	user string
	// extra are the user's tool arguments.
	extra []string
	// planFile and showFile are the project's plan and its JSON.
	planFile, showFile string
	// lock is the project's lock, when it needs keeping; each step runs
	// only while the pull request holds it.
	lock *keptLock
}

// runSteps runs a project's steps in its directory and says how they went
// in res: the output shown is that of every step worth showing, or of the
// step that failed, as much of it as the step's output setting lets show.
func (s *Server) runSteps(ctx context.Context, log *slog.Logger, jc *jobContext, sc stepContext, res projectResult, steps []workflows.Step) projectResult {
	dir, failed, ok := projectDir(log, jc, sc, res)
	if !ok {
		return failed
	}
	tool := cmp.Or(res.Tool, s.runner.Tool())
	version, err := s.runner.Version(ctx, tool)
	if err != nil {
		log.Error("asking the tool for its version", "err", err)
		return res.internal(jc.id)
	}
	env := append(stepEnv(sc, res, dir), toolEnv(tool, version)...)
	var shown []string
	for _, step := range steps {
		switch holder, err := sc.lock.held(ctx); {
		case err != nil:
			log.Error("checking the project lock", "step", step.Name, "err", err)
			return res.internal(jc.id)
		case holder != nil:
			log.Warn("the project lock lapsed while the command ran, and another pull request took it", "step", step.Name, "holder", holder.Pull)
			res.Outcome, res.Holder = outcomeLocked, *holder
			return res
		}
		start := time.Now()
		out, err := s.runStep(ctx, sc, res, dir, &env, step)
		log.Debug("ran step", "step", step.Name, "elapsed", time.Since(start))
		out = step.Visible(out)
		var exit *exec.ExitError
		var bad *badOutputError
		switch {
		case errors.As(err, &exit):
			log.Info("step failed", "step", step.Name, "exit", exit.ExitCode())
			res.Output, res.Outcome, res.Step = out, outcomeFailed, step.Name
			res.Summary = fmt.Sprintf("%s exited with status %d", step.Name, exit.ExitCode())
			if step.Output == workflows.OutputHide {
				res.Summary += "; its output is hidden (output: hide)"
			}
			res.Summary = errorLine(out, res.Summary)
			return res
		case errors.As(err, &bad):
			log.Info("step printed what atoll cannot use", "step", step.Name, "err", err)
			res.Outcome, res.Step, res.Summary = outcomeFailed, step.Name, bad.Error()
			return res
		case step.Shell != nil && (errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist)):
			log.Info("step's shell not found", "step", step.Name, "shell", step.Shell[0], "err", err)
			res.Outcome, res.Step = outcomeFailed, step.Name
			res.Summary = fmt.Sprintf("%s: the shell `%s` is not installed on this server.", step.Name, step.Shell[0])
			return res
		case err != nil:
			log.Error("running step", "step", step.Name, "err", err)
			return res.internal(jc.id)
		}
		if step.Shown() && strings.TrimSpace(out) != "" {
			shown = append(shown, out)
		}
	}
	res.Output = strings.Join(shown, "\n")
	res.Outcome = outcomeSucceeded
	return res
}

// badOutputError is a step whose command succeeded but printed what atoll
// cannot use; its text is for the pull request.
type badOutputError struct{ msg string }

func (e *badOutputError) Error() string { return e.msg }

// projectDir finds the directory of res's project in the checkout. When
// there is none, or a symbolic link leads it out of the checkout, it
// returns res failed, saying so.
func projectDir(log *slog.Logger, jc *jobContext, sc stepContext, res projectResult) (string, projectResult, bool) {
	dir, err := workflows.DirPath(sc.ws.Dir, res.Project.Dir)
	switch {
	case errors.Is(err, workflows.ErrOutsideRepo):
		res.Outcome, res.Summary = outcomeFailed, fmt.Sprintf("Nothing ran: `%s` is a symbolic link out of the repository.", res.Project.Dir)
		return "", res, false
	case errors.Is(err, fs.ErrNotExist):
		res.Outcome, res.Summary = outcomeFailed, fmt.Sprintf("Nothing ran: there is no directory `%s` at %.7s.", res.Project.Dir, sc.pull.HeadSHA)
		return "", res, false
	case err != nil:
		log.Error("finding the project's directory", "err", err)
		return "", res.internal(jc.id), false
	}
	return dir, res, true
}

// runStep runs one step: the tool, a command through its shell, or an env
// or multienv step, which add to env. A multienv step's output, when it
// succeeds, is the names of the variables it set, not what it printed:
// their values are often secrets.
func (s *Server) runStep(ctx context.Context, sc stepContext, res projectResult, dir string, env *[]string, step workflows.Step) (string, error) {
	rs := runner.Step{Tool: res.Tool, Dir: dir, Home: sc.ws.Home(), Args: step.Args, Env: *env, StdoutFile: step.StdoutFile}
	if res.Tool.Path != "" {
		rs.PathPrefix = filepath.Dir(res.Tool.Path)
	}
	if step.Shell != nil {
		// The command is the shell's last argument; nothing else parses it.
		rs.Tool = runner.Tool{Distribution: "shell", Path: step.Shell[0]}
		rs.Args = append(slices.Clone(step.Shell[1:]), step.Run)
	}
	switch step.Name {
	case "env":
		value := step.EnvValue
		if step.Shell != nil {
			out, err := s.runner.Run(ctx, rs)
			if err != nil {
				return out, err
			}
			value = strings.TrimSpace(out)
		}
		*env = append(*env, step.EnvName+"="+value)
		return "", nil
	case "multienv":
		out, err := s.runner.Run(ctx, rs)
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
	return s.runner.Run(ctx, rs)
}

// toolEnv tells custom steps which tool runs the project, under the names
// Atlantis uses: its binary's name and its version ("1.10.7"), from
// version as Runner.Version gives it.
func toolEnv(tool runner.Tool, version string) []string {
	bin := "tofu"
	if tool.Distribution == runner.Terraform {
		bin = "terraform"
	}
	_, number, _ := strings.Cut(version, " v")
	return []string{"ATLANTIS_TERRAFORM_DISTRIBUTION=" + bin, "ATLANTIS_TERRAFORM_VERSION=" + number}
}

// stepEnv is what custom steps learn of their project from the
// environment, under the names Atlantis uses. The project's tool comes
// first on PATH, so that a run step's `tofu` is the one that plans.
func stepEnv(sc stepContext, res projectResult, dir string) []string {
	owner, name, _ := strings.Cut(sc.pull.Repo.FullName, "/")
	headOwner, headName, _ := strings.Cut(sc.pull.HeadRepo, "/")
	env := []string{
		"WORKSPACE=" + res.Project.Workspace,
		"DIR=" + dir,
		"REPO_REL_DIR=" + res.Project.Dir,
		"PROJECT_NAME=" + res.Name,
		"PLANFILE=" + sc.planFile,
		"SHOWFILE=" + sc.showFile,
		"PULL_NUM=" + fmt.Sprint(sc.pull.Number),
		"PULL_AUTHOR=" + sc.pull.Author,
		"HEAD_COMMIT=" + sc.pull.HeadSHA,
		"BASE_BRANCH_NAME=" + sc.pull.BaseRef,
		"BASE_REPO_OWNER=" + owner,
		"BASE_REPO_NAME=" + name,
		"HEAD_BRANCH_NAME=" + sc.pull.HeadRef,
		"HEAD_REPO_OWNER=" + headOwner,
		"HEAD_REPO_NAME=" + headName,
		"PULL_URL=" + sc.pull.URL,
		"USER_NAME=" + sc.user,
		"COMMENT_ARGS=" + strings.Join(sc.extra, ","),
	}
	return env
}
