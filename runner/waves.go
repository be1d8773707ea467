package runner

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/runner/workspace"
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

// heldWorkspaces are the checkouts a job holds, by tool workspace.
type heldWorkspaces map[string]*workspace.Workspace

// close lets other jobs use them.
func (h heldWorkspaces) close() {
	for _, ws := range h {
		ws.Close()
	}
}

// runProjects runs waves of projects one after the other, checking out
// each wave's workspaces into held first. A wave's projects run at once,
// each taking one of the runner's slots, so that no more than
// --parallelism projects run across all jobs. When abort is set and a
// project fails, the projects of later execution order groups are still
// passed to run, but blocked, with the reason in sentences. Results keep
// the projects' order; a checkout that fails ends the run with what ran so
// far.
func (j *Job) runProjects(ctx context.Context, held heldWorkspaces, waves [][]workflows.ProjectConfig, abort bool,
	run func(ws *workspace.Workspace, p workflows.ProjectConfig, blocked string) report.Result) ([]report.Result, error) {
	var results []report.Result
	// The first failure, when abort is set: the project and its group.
	var failed *report.Result
	var failedGroup int
	blocked := func(p workflows.ProjectConfig) string {
		if failed == nil || p.ExecutionOrderGroup <= failedGroup {
			return ""
		}
		return fmt.Sprintf("%s failed, and this repository's config stops the later execution order groups after a failure (`abort_on_execution_order_fail`).", failed.Title())
	}
	for _, wave := range waves {
		if err := j.checkoutWave(ctx, held, wave); err != nil {
			return results, err
		}
		ran := make([]report.Result, len(wave))
		var wg sync.WaitGroup
		for i, p := range wave {
			if why := blocked(p); why != "" {
				ran[i] = run(held[p.Workspace], p, why)
				continue
			}
			wg.Go(func() {
				if err := j.r.takeSlot(ctx); err != nil {
					ran[i] = run(held[p.Workspace], p, "the job was cancelled before this project's turn.")
					return
				}
				defer j.r.releaseSlot()
				ran[i] = run(held[p.Workspace], p, "")
			})
		}
		wg.Wait()
		results = append(results, ran...)
		if i := slices.IndexFunc(ran, report.Result.HasFailed); abort && failed == nil && i >= 0 {
			failed, failedGroup = &ran[i], wave[i].ExecutionOrderGroup
		}
	}
	return results, nil
}

// checkoutWave checks out into held the workspaces of the wave's
// projects that it does not hold yet. Even a blocked project's workspace
// is held: its record is written there.
func (j *Job) checkoutWave(ctx context.Context, held heldWorkspaces, wave []workflows.ProjectConfig) error {
	for _, p := range wave {
		if _, ok := held[p.Workspace]; ok {
			continue
		}
		ws, err := j.checkout(ctx, p.Workspace)
		if err != nil {
			return err
		}
		held[p.Workspace] = ws
	}
	return nil
}
