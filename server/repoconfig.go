package server

import (
	"errors"
	"slices"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// repoConfig is what a repository's config and the server's say of it.
type repoConfig struct {
	cfg     workflows.RepoConfig
	rule    workflows.RepoRule
	servers map[string]workflows.Workflow
}

// repoConfig reads the repository config in the checkout at repoDir and
// checks it against what the server allows the repository (rule). Projects
// the config limits to other base branches are left out.
func (s *Server) repoConfig(pull vcs.PullRequest, repoDir string, rule workflows.RepoRule) (repoConfig, error) {
	cfg, err := workflows.LoadConfig(repoDir)
	if err == nil {
		if err = rule.Check(cfg, s.serverConfig.Workflows); err == nil {
			return repoConfig{cfg: cfg.ForBranch(pull.BaseRef), rule: rule, servers: s.serverConfig.Workflows}, nil
		}
	}
	var ce *workflows.ConfigError
	if errors.As(err, &ce) {
		return repoConfig{}, userErrorf("**atoll cannot use this repository's config**, so nothing ran:\n\n```\n%s\n```", ce.Error())
	}
	return repoConfig{}, err
}

// project is the config of the project a plan record is of.
func (rc repoConfig) project(rec runner.PlanRecord) workflows.ProjectConfig {
	if p, ok := rc.cfg.Find(rec.Name); ok && rec.Name != "" {
		return p
	}
	return rc.cfg.ProjectAt(rec.Dir, rec.Workspace)
}

// ordered returns the projects of the plan records in the order they run.
func (rc repoConfig) ordered(recs []runner.PlanRecord) ([]workflows.ProjectConfig, error) {
	matches := make([]workflows.Match, len(recs))
	for i, rec := range recs {
		p := rc.project(rec)
		p.Project, p.Name = workflows.Project{Dir: rec.Dir, Workspace: rec.Workspace}, rec.Name
		matches[i] = workflows.Match{ProjectConfig: p}
	}
	matches, err := workflows.Order(matches)
	if err != nil {
		return nil, userErrorf("**atoll cannot order this repository's projects**, so nothing ran: %v", err)
	}
	projects := make([]workflows.ProjectConfig, len(matches))
	for i, m := range matches {
		projects[i] = m.ProjectConfig
	}
	return projects, nil
}

// statusTarget is how commit statuses name a project: DIR/WORKSPACE, with
// its name after when another configured project shares them.
func (rc repoConfig) statusTarget(name string, p workflows.Project) string {
	target := p.Dir + "/" + p.Workspace
	if name != "" && len(rc.cfg.At(p)) > 1 {
		target += " (" + name + ")"
	}
	return target
}

// workflow is the workflow project p runs.
func (rc repoConfig) workflow(p workflows.ProjectConfig) workflows.Workflow {
	return workflows.WorkflowFor(p, rc.cfg, rc.rule, rc.servers)
}

// requirements are what project p needs before it is applied: its own
// when the server lets it set them, else the server config's for the
// repository, else the server's flag.
func (rc repoConfig) requirements(p workflows.ProjectConfig, flag Requirements) Requirements {
	switch {
	case p.ApplyRequirements != nil:
		return requirementsOf(p.ApplyRequirements)
	case rc.rule.ApplyRequirements != nil:
		return requirementsOf(rc.rule.ApplyRequirements)
	}
	return flag
}

// deleteBranch reports whether merging a pull request with plans recs
// deletes its branch: as one of their projects says (any that says true
// wins), else as the repository config says, else as the server config
// does.
func (rc repoConfig) deleteBranch(recs []runner.PlanRecord) bool {
	set, del := false, false
	for _, rec := range recs {
		if p := rc.project(rec); p.DeleteSourceBranchOnMerge != nil {
			set, del = true, del || *p.DeleteSourceBranchOnMerge
		}
	}
	switch {
	case set:
		return del
	case rc.cfg.DeleteSourceBranchOnMerge != nil:
		return *rc.cfg.DeleteSourceBranchOnMerge
	}
	return rc.rule.DeleteSourceBranchOnMerge
}

// planRequirements are what project p needs before it is planned: its own
// when the server lets it set them, else the server config's for the
// repository; none unless set.
func (rc repoConfig) planRequirements(p workflows.ProjectConfig) Requirements {
	if p.PlanRequirements != nil {
		return requirementsOf(p.PlanRequirements)
	}
	return requirementsOf(rc.rule.PlanRequirements)
}

func requirementsOf(names []string) Requirements {
	return Requirements{
		Approved:   slices.Contains(names, "approved"),
		Mergeable:  slices.Contains(names, "mergeable"),
		Undiverged: slices.Contains(names, "undiverged"),
	}
}
