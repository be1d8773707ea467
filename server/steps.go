package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os/exec"
	"path/filepath"
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
// step that failed.
func (s *Server) runSteps(ctx context.Context, log *slog.Logger, jc *jobContext, sc stepContext, res projectResult, steps []workflows.Step) projectResult {
	dir, failed, ok := projectDir(log, jc, sc, res)
	if !ok {
		return failed
	}
	env := stepEnv(sc, res, dir)
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
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			log.Info("step failed", "step", step.Name, "exit", exit.ExitCode())
			res.Output, res.Outcome, res.Step = out, outcomeFailed, step.Name
			res.Summary = errorLine(out, fmt.Sprintf("%s exited with status %d", step.Name, exit.ExitCode()))
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

// runStep runs one step: the tool, a command through a shell, or an env
// step, which adds to env.
func (s *Server) runStep(ctx context.Context, sc stepContext, res projectResult, dir string, env *[]string, step workflows.Step) (string, error) {
	rs := runner.Step{Tool: res.Tool, Dir: dir, Home: sc.ws.Home(), Args: step.Args, Env: *env, StdoutFile: step.StdoutFile}
	if res.Tool.Path != "" {
		rs.PathPrefix = filepath.Dir(res.Tool.Path)
	}
	switch step.Name {
	case "run":
		rs.Tool, rs.Args = shell, []string{"-c", step.Run}
	case "env":
		value := step.EnvValue
		if step.Run != "" {
			rs.Tool, rs.Args = shell, []string{"-c", step.Run}
			out, err := s.runner.Run(ctx, rs)
			if err != nil {
				return out, err
			}
			value = strings.TrimSpace(out)
		}
		*env = append(*env, step.EnvName+"="+value)
		return "", nil
	}
	return s.runner.Run(ctx, rs)
}

// shell runs the commands of run and env steps, which workflows write for
// a shell as they do for Atlantis.
var shell = runner.Tool{Distribution: "sh", Path: "/bin/sh"}

// stepEnv is what custom steps learn of their project from the
// environment, under the names Atlantis uses. The project's tool comes
// first on PATH, so that a run step's `tofu` is the one that plans.
func stepEnv(sc stepContext, res projectResult, dir string) []string {
	owner, name, _ := strings.Cut(sc.pull.Repo.FullName, "/")
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
		"USER_NAME=" + sc.user,
		"COMMENT_ARGS=" + strings.Join(sc.extra, ","),
	}
	return env
}
