package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/runner/tool"
	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/workflows"
)

// checkout holds the pull request's workspace wsName at its head.
func (j *Job) checkout(ctx context.Context, wsName string) (*workspace.Workspace, error) {
	defer j.phases.start(PhaseCheckout)()
	start := time.Now()
	auth, err := j.Forge.CloneAuth(ctx, j.Pull.Repo.FullName)
	if err != nil {
		return nil, fmt.Errorf("credentials to fetch %s with: %w", j.Pull.Repo.FullName, err)
	}
	ws, err := j.r.workspaces.Checkout(ctx, workspace.CheckoutSpec{
		Forge:     j.Forge.Name(),
		Repo:      j.Pull.Repo.FullName,
		CloneURL:  j.Pull.Repo.CloneURL,
		Auth:      auth,
		Pull:      j.Pull.Number,
		Workspace: wsName,
		SHA:       j.Pull.HeadSHA,
	})
	if err != nil {
		return nil, err
	}
	j.Log.Debug("checked out", "workspace", wsName, "sha", j.Pull.HeadSHA, "elapsed", time.Since(start))
	return ws, nil
}

// postHookTimeout bounds the post-workflow hooks, which run even after
// their job was cancelled or timed out.
const postHookTimeout = 5 * time.Minute

// prepare readies the pull request for command: it checks out its
// default workspace into held (a job that holds several workspaces takes
// that one first, so that no two jobs wait for each other), runs the
// server's pre-workflow hooks in the checkout's root, which may write the
// repository config, and then reads that config. done runs the
// post-workflow hooks; call it when the command is over.
func (j *Job) prepare(ctx context.Context, held heldWorkspaces, extra []string, command string) (rc repoConfig, done func(), err error) {
	ws, err := j.checkout(ctx, workflows.DefaultWorkspace)
	if err != nil {
		return repoConfig{}, nil, err
	}
	held[workflows.DefaultWorkspace] = ws
	rule := j.r.policy.RepoConfig.For(j.Pull.Repo.FullName, j.Pull.BaseRef)
	root := &projectJob{Job: j, log: j.Log, ws: ws, cfg: workflows.ProjectConfig{Project: workflows.Project{Dir: ".", Workspace: ws.Name}}, extra: extra}
	if err := root.runHooks(ctx, command, "pre", rule.PreWorkflowHooks); err != nil {
		return repoConfig{}, nil, err
	}
	done = func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), postHookTimeout)
		defer cancel()
		root.runHooks(ctx, command, "post", rule.PostWorkflowHooks)
	}
	endConfig := j.phases.start(PhaseConfig)
	rc, err = j.readRepoConfig(ws.Dir, rule)
	endConfig()
	if err != nil {
		done()
		return repoConfig{}, nil, err
	}
	return rc, done, nil
}

// runHooks runs the server's pre or post workflow hooks for command in
// the root of the checkout, p being its root project. A pre hook that
// fails stops the command, with its output on the pull request; a post
// hook's failure is only logged.
func (p *projectJob) runHooks(ctx context.Context, command, when string, hooks []workflows.Hook) error {
	env := append(p.stepEnv(p.ws.Dir), "COMMAND_NAME="+command)
	for _, hook := range hooks {
		if !hook.For(command) {
			continue
		}
		out, err := p.r.exec.Run(ctx, tool.Step{Tool: tool.Tool{Path: hook.Shell}, Dir: p.ws.Dir, Checkout: p.ws.Dir, Home: p.ws.Home(),
			Args: append(slices.Clone(hook.ShellArgs), hook.Run), Env: env})
		if err == nil {
			continue
		}
		p.log.Warn("workflow hook failed", "when", when, "command", command, "err", err)
		if when == "pre" {
			var b strings.Builder
			fmt.Fprintf(&b, "**A pre-workflow hook of this server failed**, so nothing ran:\n\n")
			report.CodeBlock(&b, strings.TrimRight(out, "\n"))
			return &userError{msg: b.String(), err: err}
		}
	}
	return nil
}
