package runner

import (
	"errors"
	"fmt"

	"github.com/atoll-iac/atoll/runner/plans"
	"github.com/atoll-iac/atoll/workflows"
)

// repoConfig is what a repository's config and the server's say of it.
type repoConfig struct {
	cfg     workflows.RepoConfig
	rule    workflows.RepoRule
	servers map[string]workflows.Workflow
}

// readRepoConfig reads the repository config in the checkout at repoDir
// and checks it against what the server allows the repository (rule).
// Projects the config limits to other base branches than the pull
// request's are left out.
func (j *Job) readRepoConfig(repoDir string, rule workflows.RepoRule) (repoConfig, error) {
	servers := j.r.policy.RepoConfig.Workflows
	cfg, err := workflows.LoadConfig(repoDir)
	if err == nil {
		if err = rule.Check(cfg, servers); err == nil {
			return repoConfig{cfg: cfg.ForBranch(j.Pull.BaseRef), rule: rule, servers: servers}, nil
		}
	}
	if ce := (*workflows.ConfigError)(nil); errors.As(err, &ce) {
		return repoConfig{}, &userError{msg: fmt.Sprintf("**atoll cannot use this repository's config**, so nothing ran:\n\n```\n%s\n```", ce.Error()), err: err}
	}
	return repoConfig{}, err
}

// project is the config of the project a plan record is of.
func (rc repoConfig) project(rec plans.Record) workflows.ProjectConfig {
	if p, ok := rc.cfg.Find(rec.Name); ok && rec.Name != "" {
		return p
	}
	return rc.cfg.ProjectAt(rec.Dir, rec.Workspace)
}

// ordered returns the projects of the plan records in the order they run.
func (rc repoConfig) ordered(recs []plans.Record) ([]workflows.ProjectConfig, error) {
	matches := make([]workflows.Match, len(recs))
	for i, rec := range recs {
		p := rc.project(rec)
		p.Project, p.Name = workflows.Project{Dir: rec.Dir, Workspace: rec.Workspace}, rec.Name
		matches[i] = workflows.Match{ProjectConfig: p}
	}
	return ordered(rc.cfg, matches)
}

// ordered returns the projects of matches, of config cfg, in the order
// they run.
func ordered(cfg workflows.RepoConfig, matches []workflows.Match) ([]workflows.ProjectConfig, error) {
	matches, err := workflows.Order(matches)
	if err != nil {
		return nil, orderError(cfg, err)
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

// applyRequirements are what project p needs before it is applied: its
// own when the server lets it set them, else the server config's for the
// repository, else the server's flag.
func (rc repoConfig) applyRequirements(p workflows.ProjectConfig, flag workflows.Requirements) workflows.Requirements {
	switch {
	case p.ApplyRequirements != nil:
		return *p.ApplyRequirements
	case rc.rule.ApplyRequirements != nil:
		return *rc.rule.ApplyRequirements
	}
	return flag
}

// deleteBranch reports whether merging a pull request with plans recs
// deletes its branch: as one of their projects says (any that says true
// wins), else as the repository config says, else as the server config
// does.
func (rc repoConfig) deleteBranch(recs []plans.Record) bool {
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

// importRequirements are what project p needs before import or state rm
// change its state: its own when the server lets it set them, else the
// server config's for the repository, else its apply requirements.
func (rc repoConfig) importRequirements(p workflows.ProjectConfig, flag workflows.Requirements) workflows.Requirements {
	switch {
	case p.ImportRequirements != nil:
		return *p.ImportRequirements
	case rc.rule.ImportRequirements != nil:
		return *rc.rule.ImportRequirements
	}
	return rc.applyRequirements(p, flag)
}

// planRequirements are what project p needs before it is planned: its own
// when the server lets it set them, else the server config's for the
// repository; none unless set.
func (rc repoConfig) planRequirements(p workflows.ProjectConfig) workflows.Requirements {
	switch {
	case p.PlanRequirements != nil:
		return *p.PlanRequirements
	case rc.rule.PlanRequirements != nil:
		return *rc.rule.PlanRequirements
	}
	return workflows.Requirements{}
}

// orderError is the answer to projects that cannot be ordered: a cycle
// in the repository config's depends_on, said on the pull request, or a
// failure of atoll's.
func orderError(cfg workflows.RepoConfig, err error) error {
	if ce := (*workflows.CycleError)(nil); errors.As(err, &ce) {
		return &userError{msg: fmt.Sprintf("**atoll cannot order this repository's projects**, so nothing ran: %s:%d: %v", cfg.File, ce.Line, ce), err: err}
	}
	return fmt.Errorf("ordering projects: %w", err)
}
