package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// waves cuts projects, in the order they run, into waves whose projects
// may run at the same time: with parallel off, one project a wave; with it
// on, a wave ends where the execution order group changes or a project
// depends on, or shares a directory and workspace with, one already in the
// wave.
func waves(projects []workflows.ProjectConfig, parallel bool) [][]workflows.ProjectConfig {
	var out [][]workflows.ProjectConfig
	for _, p := range projects {
		if n := len(out); parallel && n > 0 && joins(out[n-1], p) {
			out[n-1] = append(out[n-1], p)
			continue
		}
		out = append(out, []workflows.ProjectConfig{p})
	}
	return out
}

func joins(wave []workflows.ProjectConfig, p workflows.ProjectConfig) bool {
	if wave[0].ExecutionOrderGroup != p.ExecutionOrderGroup {
		return false
	}
	// Projects sharing a directory and workspace share its .terraform
	// too, so they never run at the same time.
	return !slices.ContainsFunc(wave, func(q workflows.ProjectConfig) bool {
		return q.Project == p.Project || q.Name != "" && slices.Contains(p.DependsOn, q.Name)
	})
}

// runProjects runs waves of projects one after the other, checking out
// each wave's workspaces into held first. A wave's projects run at once,
// each taking one of the server's slots, so that no more than
// --parallelism projects run across all jobs. When abort is set and a
// project fails, the projects of later execution order groups are still
// passed to run, but blocked, with the reason in sentences. Results keep
// the projects' order; a checkout that fails ends the run with what ran so
// far.
func (s *Server) runProjects(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest, held map[string]*runner.Workspace,
	waves [][]workflows.ProjectConfig, abort bool, run func(ws *runner.Workspace, p workflows.ProjectConfig, blocked string) projectResult) ([]projectResult, error) {
	var results []projectResult
	// The first failure, when abort is set: the project and its group.
	var failed *projectResult
	var failedGroup int
	blocked := func(p workflows.ProjectConfig) string {
		if failed == nil || p.ExecutionOrderGroup <= failedGroup {
			return ""
		}
		return fmt.Sprintf("%s failed, and this repository's config stops the later execution order groups after a failure (`abort_on_execution_order_fail`).", failed.title())
	}
	for _, wave := range waves {
		for _, p := range wave {
			// Even a blocked project's workspace is held: its record is
			// written there.
			if _, ok := held[p.Workspace]; ok {
				continue
			}
			ws, err := s.checkout(ctx, jc, forge, pull, p.Workspace)
			if err != nil {
				return results, err
			}
			held[p.Workspace] = ws
		}
		ran := make([]projectResult, len(wave))
		var wg sync.WaitGroup
		for i, p := range wave {
			if why := blocked(p); why != "" {
				ran[i] = run(held[p.Workspace], p, why)
				continue
			}
			wg.Go(func() {
				if err := s.takeSlot(ctx); err != nil {
					ran[i] = run(held[p.Workspace], p, "the job was cancelled before this project's turn.")
					return
				}
				defer s.releaseSlot()
				ran[i] = run(held[p.Workspace], p, "")
			})
		}
		wg.Wait()
		results = append(results, ran...)
		if i := slices.IndexFunc(ran, projectResult.failed); abort && failed == nil && i >= 0 {
			failed, failedGroup = &ran[i], wave[i].ExecutionOrderGroup
		}
	}
	return results, nil
}

// takeSlot waits for one of the server's --parallelism slots, or for ctx
// to end.
func (s *Server) takeSlot(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) releaseSlot() { <-s.slots }

// postHookTimeout bounds the post-workflow hooks, which run even after
// their job was cancelled or timed out.
const postHookTimeout = 5 * time.Minute

// prepare readies a checked-out pull request for command: it runs the
// server's pre-workflow hooks in the checkout's root, which may write the
// repository config, and then reads that config. done runs the
// post-workflow hooks; call it when the command is over.
func (s *Server) prepare(ctx context.Context, jc *jobContext, sc stepContext, command string) (rc repoConfig, done func(), err error) {
	rule := s.serverConfig.For(sc.pull.Repo.FullName, sc.pull.BaseRef)
	if err := s.runHooks(ctx, jc, sc, command, "pre", rule.PreWorkflowHooks); err != nil {
		return repoConfig{}, nil, err
	}
	done = func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), postHookTimeout)
		defer cancel()
		s.runHooks(ctx, jc, sc, command, "post", rule.PostWorkflowHooks)
	}
	if rc, err = s.repoConfig(sc.pull, sc.ws.Dir, rule); err != nil {
		done()
		return repoConfig{}, nil, err
	}
	return rc, done, nil
}

// runHooks runs the server's pre or post workflow hooks for command in the
// root of the checkout. A pre hook that fails stops the command, with its
// output on the pull request; a post hook's failure is only logged.
func (s *Server) runHooks(ctx context.Context, jc *jobContext, sc stepContext, command, when string, hooks []workflows.Hook) error {
	env := append(stepEnv(sc, projectResult{Project: workflows.Project{Dir: ".", Workspace: sc.ws.Name}}, sc.ws.Dir), "COMMAND_NAME="+command)
	for _, hook := range hooks {
		if !hook.For(command) {
			continue
		}
		out, err := s.runner.Run(ctx, runner.Step{Tool: runner.Tool{Distribution: "shell", Path: hook.Shell}, Dir: sc.ws.Dir, Home: sc.ws.Home(),
			Args: append(slices.Clone(hook.ShellArgs), hook.Run), Env: env})
		if err == nil {
			continue
		}
		jc.log.Warn("workflow hook failed", "when", when, "command", command, "err", err)
		if when == "pre" {
			var b strings.Builder
			fmt.Fprintf(&b, "**A pre-workflow hook of this server failed**, so nothing ran:\n\n")
			codeBlock(&b, strings.TrimRight(out, "\n"))
			return &userError{msg: b.String()}
		}
	}
	return nil
}
