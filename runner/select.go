package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// selectProjects returns the projects sel selects in the checkout ws, or,
// when it selects none, those the pull request changes, in the order
// they run.
func (j *Job) selectProjects(ctx context.Context, sel workflows.Command, rc repoConfig, ws *workspace.Workspace) ([]workflows.ProjectConfig, error) {
	cfg, repoDir := rc.cfg, ws.Dir
	switch {
	case sel.Project != "":
		p, ok := cfg.Find(sel.Project)
		if !ok {
			return nil, userErrorf("There is no project named `%s`. %s", workflows.Quote(sel.Project), knownProjects(cfg))
		}
		return []workflows.ProjectConfig{p}, nil
	case sel.Selects():
		return j.projectsAt(sel, cfg, repoDir)
	}
	changed, err := j.changedFiles(ctx, ws)
	if err != nil {
		return nil, err
	}
	matches, err := workflows.Select(cfg, repoDir, changed)
	if err != nil {
		return nil, orderError(cfg, err)
	}
	projects := make([]workflows.ProjectConfig, len(matches))
	for i, m := range matches {
		projects[i] = m.ProjectConfig
		j.Log.Debug("selected project", "dir", m.Dir, "workspace", m.Workspace, "name", m.Name, "why", m.Why)
	}
	return projects, nil
}

// changedFiles lists the files the pull request changes, from the forge;
// from git, in the checkout ws, when the forge lists only some of them.
func (j *Job) changedFiles(ctx context.Context, ws *workspace.Workspace) ([]string, error) {
	list := j.changes
	if list == nil {
		list = j.listChanges(ctx)
	}
	changed, err := list()
	switch {
	case errors.Is(err, vcs.ErrTooManyFiles) && j.Pull.BaseSHA != "":
		j.Log.Info("the forge lists only some of the changed files; asking git", "listed", len(changed))
		if changed, err = ws.ChangedFrom(ctx, j.Pull.BaseSHA); err != nil {
			return nil, fmt.Errorf("listing the changed files with git: %w", err)
		}
		return changed, nil
	case errors.Is(err, vcs.ErrTooManyFiles):
		return nil, userErrorf("This pull request changes more files than the forge lists (%d listed), so atoll cannot tell which projects it changes. Plan them by name: `atoll plan -d DIR`.", len(changed))
	case err != nil:
		return nil, fmt.Errorf("listing the changed files: %w", err)
	}
	return changed, nil
}

// listChanges asks the forge for the files the pull request changes, and
// returns a function that waits for its answer: the list, or why none.
func (j *Job) listChanges(ctx context.Context) func() ([]string, error) {
	return soon(j, func() ([]string, error) { return j.Forge.ChangedFiles(ctx, j.Pull.Repo, j.Pull.Number) })
}

// projectsAt returns the projects in the directory and workspace sel
// names. Named projects may share them: all of them are planned, one
// after the other.
func (j *Job) projectsAt(sel workflows.Command, cfg workflows.RepoConfig, repoDir string) ([]workflows.ProjectConfig, error) {
	p := cfg.ProjectAt(cmp.Or(sel.Dir, "."), cmp.Or(sel.Workspace, workflows.DefaultWorkspace))
	if ws := cfg.Workspaces(p.Dir); len(ws) > 0 && !slices.Contains(ws, p.Workspace) {
		// Not the configured project, with its workflow and version, in a
		// workspace the config does not mean it to run in.
		return nil, userErrorf("`%s` runs only in workspace `%s` (%s), not in `%s`. Comment `atoll plan -d %s -w %s`.",
			workflows.Quote(p.Dir), strings.Join(ws, "`, `"), cfg.File, workflows.Quote(p.Workspace), workflows.Quote(p.Dir), ws[0])
	}
	ok, err := workflows.HasConfig(repoDir, p.Dir)
	if err != nil {
		return nil, fmt.Errorf("looking for configuration in %s: %w", p.Dir, err)
	}
	if !ok {
		return nil, userErrorf("There are no `.tf` or `.tofu` files in `%s` at %.7s, so there is nothing to plan there.", workflows.Quote(p.Dir), j.Pull.HeadSHA)
	}
	if at := cfg.At(p.Project); len(at) > 1 {
		return at, nil
	}
	return []workflows.ProjectConfig{p}, nil
}

// knownProjects names the projects a config has, for a reply.
func knownProjects(cfg workflows.RepoConfig) string {
	names := cfg.Names()
	if len(names) == 0 {
		return "This repository's config names no projects: select one with `-d DIR` and `-w WORKSPACE`."
	}
	return "Projects: `" + strings.Join(names, "`, `") + "`."
}

// projectKey tells a repository's projects apart: two named projects
// may share a directory and workspace.
type projectKey struct {
	workflows.Project
	Name string
}

func keyOf(p workflows.ProjectConfig) projectKey { return projectKey{p.Project, p.Name} }

// unmetPlanRequirements says, for each project that has plan
// requirements this pull request does not meet, what it must be first.
func (j *Job) unmetPlanRequirements(ctx context.Context, rc repoConfig, projects []workflows.ProjectConfig) (map[projectKey]string, error) {
	blocked := map[projectKey]string{}
	seen := map[workflows.Requirements][]gap{}
	for _, p := range projects {
		need := rc.planRequirements(p)
		if need == (workflows.Requirements{}) {
			continue
		}
		unmet, ok := seen[need]
		if !ok {
			var err error
			if unmet, err = j.unmet(ctx, need); err != nil {
				return nil, err
			}
			seen[need] = unmet
		}
		if len(unmet) > 0 {
			names := make([]string, len(unmet))
			for i, g := range unmet {
				names[i] = g.name
			}
			blocked[keyOf(p)] = fmt.Sprintf("this project's plan requirements are not met (%s):\n\n%s", strings.Join(names, ", "), gapList(unmet))
		}
	}
	return blocked, nil
}
