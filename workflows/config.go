package workflows

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/hashicorp/go-version"
	"gopkg.in/yaml.v3"
)

// ConfigFiles are the repository config files atoll reads, in order: the
// first that exists wins. atlantis.yaml (version 3) is read as is.
var ConfigFiles = []string{"atoll.yaml", "atoll.yml", "atlantis.yaml", "atlantis.yml"}

// DefaultWhenModified are the globs, relative to a project's directory,
// whose changes plan it unless its config says otherwise.
var DefaultWhenModified = []string{"**/*.tf*", "**/*.tofu", "**/*.tofu.json", "**/terragrunt.hcl", "**/.terraform.lock.hcl"}

// RepoConfig is a repository's config, validated.
type RepoConfig struct {
	// File is the file it was read from; "" when the repository has none.
	File     string
	Projects []ProjectConfig
	// Workflows are the repository's own workflows, by name.
	Workflows map[string]Workflow
	// Lines says where File sets each top-level key, for messages.
	Lines     map[string]int
	Automerge *bool
	// DeleteSourceBranchOnMerge deletes a pull request's branch when atoll
	// merges it (nil: not set).
	DeleteSourceBranchOnMerge *bool
	ParallelPlan              bool
	ParallelApply             bool
	// AbortOnExecutionOrderFail stops the projects after one that fails,
	// instead of running the rest.
	AbortOnExecutionOrderFail bool
	Autodiscover              Autodiscover
}

// Autodiscover says whether directories that no project names are
// discovered as projects too.
type Autodiscover struct {
	// Mode is "auto" (discover only when no project is configured),
	// "enabled" or "disabled".
	Mode string
	// IgnorePaths are globs of directories never discovered.
	IgnorePaths []string
}

// ProjectConfig is one configured project.
type ProjectConfig struct {
	Project
	// Name is "" for an unnamed project.
	Name string
	// TerraformVersion is a version constraint, "" for the server's default.
	TerraformVersion string
	// Distribution runs the project; "" for the server's.
	Distribution Distribution
	Autoplan     bool
	// WhenModified are globs relative to Dir.
	WhenModified []string
	// ApplyRequirements replace the server's when set (nil: not set).
	ApplyRequirements *Requirements
	// PlanRequirements replace the server's when set (nil: not set).
	PlanRequirements *Requirements
	// ImportRequirements replace, for import and state rm, the server's
	// when set (nil: not set).
	ImportRequirements *Requirements
	// Branch, when set, limits the project to pull requests into the
	// branches it matches.
	Branch *regexp.Regexp
	// DeleteSourceBranchOnMerge overrides the repository's setting when
	// set.
	DeleteSourceBranchOnMerge *bool
	// RepoLocking overrides the server's repo_locking for the project
	// when set: false plans and applies it without a project lock.
	RepoLocking *bool
	// elsewhere is set, by RepoConfig.ForBranch, for a project limited to
	// other branches than the pull request's.
	elsewhere bool
	// Workflow names the workflow, "" for the default.
	Workflow            string
	DependsOn           []string
	ExecutionOrderGroup int
	// Line is where the project stands in File.
	Line int
}

// Workflow is a named set of steps for each command.
type Workflow struct {
	Plan, Apply, Import, StateRm []ConfigStep
}

// ForBranch returns c for pull requests into base: the projects it limits
// to other branches are not planned, not found by name, and keep their
// directories from being discovered.
func (c RepoConfig) ForBranch(base string) RepoConfig {
	c.Projects = slices.Clone(c.Projects)
	for i, p := range c.Projects {
		c.Projects[i].elsewhere = p.Branch != nil && !p.Branch.MatchString(base)
	}
	return c
}

// ConfigStep is a step of a custom workflow.
type ConfigStep struct {
	// Name is a tool step ("init", "plan", "apply", "show"), "run", "env"
	// or "multienv".
	Name      string
	ExtraArgs []string
	// Run is the command of a run or multienv step.
	Run string
	// EnvName, with EnvValue or EnvCommand, sets a variable for later steps.
	EnvName, EnvValue, EnvCommand string
	// Shell is the program, and its first arguments, that runs the
	// command of a run, env or multienv step, given as the last argument;
	// nil for DefaultShell.
	Shell []string
	// Output says what of a run or multienv step's output the result
	// comment shows; "" for OutputShow.
	Output Output
}

// DefaultShell returns the program, and its arguments, that runs the
// commands of steps that name no shell.
func DefaultShell() []string { return []string{"sh", "-c"} }

// Output says what of the output of a step running a command goes in the
// result comment, as Atlantis's output setting does.
type Output string

const (
	// OutputShow shows all of it: for a multienv step, which variables
	// it set, never their values.
	OutputShow Output = "show"
	// OutputHide shows nothing, whether the step succeeds or fails.
	OutputHide Output = "hide"
	// OutputStripRefreshing leaves out everything up to the last line
	// saying "Refreshing state...", as the tool prints while planning.
	OutputStripRefreshing Output = "strip_refreshing"
)

// ConfigError is a mistake in a repository config file; its text names the
// file and line and can be shown to users as is.
type ConfigError struct {
	File string
	Line int
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// LoadConfig reads the repository config in the checkout at repoDir. A
// repository without one gets the zero RepoConfig, which discovers its
// projects. Mistakes in the file are *ConfigError, and so is a config
// that is not a regular file or is larger than 1 MiB: it is the pull
// request's, which may make it a link to /dev/zero.
func LoadConfig(repoDir string) (RepoConfig, error) {
	root, err := os.OpenRoot(repoDir)
	if err != nil {
		return RepoConfig{}, err
	}
	defer root.Close()
	for _, name := range ConfigFiles {
		b, err := ReadFile(root, name, maxRepoConfig)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if fe := (*FileError)(nil); errors.As(err, &fe) {
			return RepoConfig{}, &ConfigError{File: name, Msg: fe.Why}
		}
		if err != nil {
			return RepoConfig{}, err
		}
		return ParseConfig(name, b)
	}
	return RepoConfig{Autodiscover: Autodiscover{Mode: "auto"}}, nil
}

var yamlLine = regexp.MustCompile(`^yaml: (?:unmarshal errors:\s*)?line (\d+): (.*)$`)

// ParseConfig parses and validates the config file called file.
func ParseConfig(file string, data []byte) (RepoConfig, error) {
	cfg, err := parseConfig(data)
	if err != nil {
		if le := (*lineError)(nil); errors.As(err, &le) {
			return RepoConfig{}, &ConfigError{File: file, Line: le.line, Msg: le.msg}
		}
		return RepoConfig{}, &ConfigError{File: file, Msg: err.Error()}
	}
	cfg.File = file
	return cfg, nil
}

// parseConfig parses and validates a config file. Its errors are
// *lineError where a line is to blame.
func parseConfig(data []byte) (RepoConfig, error) {
	raw, err := decodeConfig(data)
	if err != nil {
		return RepoConfig{}, err
	}
	if raw.Version == nil || *raw.Version != 3 {
		return RepoConfig{}, &lineError{raw.line, "version: 3 is required (the Atlantis repo config format)"}
	}
	cfg := RepoConfig{
		Automerge:                 raw.Automerge,
		DeleteSourceBranchOnMerge: raw.DeleteSourceBranchOnMerge,
		ParallelPlan:              raw.ParallelPlan != nil && *raw.ParallelPlan,
		ParallelApply:             raw.ParallelApply != nil && *raw.ParallelApply,
		AbortOnExecutionOrderFail: raw.AbortOnExecutionOrderFail != nil && *raw.AbortOnExecutionOrderFail,
		Workflows:                 map[string]Workflow{},
		Lines:                     raw.keyLines,
	}
	if cfg.Autodiscover, err = convertAutodiscover(raw.Autodiscover); err != nil {
		return RepoConfig{}, err
	}
	for name, w := range raw.Workflows {
		wf, err := convertWorkflow(w)
		if err != nil {
			return RepoConfig{}, &lineError{w.line, fmt.Sprintf("workflow %q: %v", name, err)}
		}
		cfg.Workflows[name] = wf
	}
	if cfg.Projects, err = convertProjects(raw.Projects); err != nil {
		return RepoConfig{}, err
	}
	return cfg, nil
}

// decodeConfig decodes a config file into its raw form.
func decodeConfig(data []byte) (rawConfig, error) {
	var raw rawConfig
	var doc yaml.Node
	err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc)
	if err == nil {
		err = checkExpansion(&doc, maxConfigValues)
	}
	if err == nil {
		err = doc.Decode(&raw)
	}
	if err == nil {
		return raw, nil
	}
	if le := (*lineError)(nil); errors.As(err, &le) {
		return raw, le
	}
	if m := yamlLine.FindStringSubmatch(strings.TrimSpace(err.Error())); m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		return raw, &lineError{line, m[2]}
	}
	if err.Error() == "EOF" {
		return raw, errors.New("the file is empty")
	}
	return raw, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// convertAutodiscover checks the autodiscover settings; nil is the
// default, "auto".
func convertAutodiscover(a *rawAutodiscover) (Autodiscover, error) {
	ad := Autodiscover{Mode: "auto"}
	if a == nil {
		return ad, nil
	}
	if a.Mode != nil {
		if !slices.Contains([]string{"auto", "enabled", "disabled"}, *a.Mode) {
			return ad, &lineError{a.line, fmt.Sprintf("autodiscover mode %q: want auto, enabled or disabled", *a.Mode)}
		}
		ad.Mode = *a.Mode
	}
	for _, g := range a.IgnorePaths {
		if !doublestar.ValidatePattern(g) {
			return ad, &lineError{a.line, fmt.Sprintf("autodiscover ignore_paths: bad glob %q", g)}
		}
	}
	ad.IgnorePaths = a.IgnorePaths
	return ad, nil
}

// convertProjects converts the projects of a config and checks them
// together: names are unique, projects that share a directory and
// workspace have names, dependencies name projects, without a cycle.
func convertProjects(raws []rawProject) ([]ProjectConfig, error) {
	var projects []ProjectConfig
	names := map[string]int{}
	at := map[Project][]ProjectConfig{}
	for _, rp := range raws {
		p, err := convertProject(rp)
		if err != nil {
			if le := (*lineError)(nil); errors.As(err, &le) {
				return nil, le
			}
			return nil, &lineError{rp.line, err.Error()}
		}
		if p.Name != "" {
			if prev, dup := names[p.Name]; dup {
				return nil, &lineError{p.Line, fmt.Sprintf("project name %q is used twice (also at line %d)", p.Name, prev)}
			}
			names[p.Name] = p.Line
		}
		at[p.Project] = append(at[p.Project], p)
		projects = append(projects, p)
	}
	for _, p := range projects {
		if shared := at[p.Project]; len(shared) > 1 && p.Name == "" {
			other := shared[0]
			if other.Line == p.Line {
				other = shared[1]
			}
			return nil, &lineError{p.Line, fmt.Sprintf("projects in dir %q, workspace %q (also at line %d) need names to tell them apart", p.Dir, p.Workspace, other.Line)}
		}
	}
	all := make([]Match, len(projects))
	for i, p := range projects {
		for _, dep := range p.DependsOn {
			if _, ok := names[dep]; !ok {
				return nil, &lineError{p.Line, fmt.Sprintf("depends_on names %q, which is no project's name", dep)}
			}
		}
		all[i] = Match{ProjectConfig: p}
	}
	if _, err := Order(all); err != nil {
		if ce := (*CycleError)(nil); errors.As(err, &ce) {
			return nil, &lineError{ce.Line, err.Error()}
		}
		return nil, err
	}
	return projects, nil
}

func convertProject(rp rawProject) (ProjectConfig, error) {
	at := func(key string) int {
		if l, ok := rp.keyLines[key]; ok {
			return l
		}
		return rp.line
	}
	p := ProjectConfig{Project: Project{Workspace: DefaultWorkspace}, Autoplan: true, WhenModified: DefaultWhenModified, Line: rp.line}
	if rp.Dir == nil {
		return p, &lineError{rp.line, "a project needs a dir"}
	}
	dir, err := CleanDir(*rp.Dir)
	if err != nil {
		return p, &lineError{at("dir"), err.Error()}
	}
	p.Dir = dir
	if rp.Workspace != nil && *rp.Workspace != "" {
		if err := ValidateWorkspace(*rp.Workspace); err != nil {
			return p, &lineError{at("workspace"), err.Error()}
		}
		p.Workspace = *rp.Workspace
	}
	if rp.Name != nil {
		if *rp.Name == "" || strings.ContainsAny(*rp.Name, " \t\r\n`") {
			return p, &lineError{at("name"), fmt.Sprintf("project name %q: use no spaces or backticks", *rp.Name)}
		}
		p.Name = *rp.Name
	}
	if rp.TerraformVersion != nil {
		if _, err := version.NewConstraint(*rp.TerraformVersion); err != nil {
			return p, &lineError{at("terraform_version"), fmt.Sprintf("terraform_version %q is not a version constraint: %v", *rp.TerraformVersion, err)}
		}
		p.TerraformVersion = *rp.TerraformVersion
	}
	if rp.TerraformDistribution != nil {
		d, err := ParseDistribution(*rp.TerraformDistribution)
		if err != nil {
			return p, &lineError{at("terraform_distribution"), fmt.Sprintf("terraform_distribution %q: want %s or %s", *rp.TerraformDistribution, OpenTofu, Terraform)}
		}
		p.Distribution = d
	}
	if a := rp.Autoplan; a != nil {
		if a.Enabled != nil {
			p.Autoplan = *a.Enabled
		}
		if a.WhenModified != nil {
			p.WhenModified = a.WhenModified
		}
		for _, g := range p.WhenModified {
			if !doublestar.ValidatePattern(strings.TrimPrefix(g, "!")) {
				return p, &lineError{a.line, fmt.Sprintf("when_modified: bad glob %q", g)}
			}
		}
	}
	if p.ApplyRequirements, err = optionalRequirements("apply", rp.ApplyRequirements); err != nil {
		return p, &lineError{at("apply_requirements"), err.Error()}
	}
	if p.PlanRequirements, err = optionalRequirements("plan", rp.PlanRequirements); err != nil {
		return p, &lineError{at("plan_requirements"), err.Error()}
	}
	if p.ImportRequirements, err = optionalRequirements("import", rp.ImportRequirements); err != nil {
		return p, &lineError{at("import_requirements"), err.Error()}
	}
	if rp.Branch != nil {
		re, err := branchMatcher(*rp.Branch)
		if err != nil {
			return p, &lineError{at("branch"), err.Error()}
		}
		p.Branch = re
	}
	p.DeleteSourceBranchOnMerge = rp.DeleteSourceBranchOnMerge
	p.RepoLocking = rp.RepoLocking
	if rp.Workflow != nil {
		p.Workflow = *rp.Workflow
	}
	p.DependsOn = rp.DependsOn
	if rp.ExecutionOrderGroup != nil {
		p.ExecutionOrderGroup = *rp.ExecutionOrderGroup
	}
	return p, nil
}

func convertWorkflow(w rawWorkflow) (Workflow, error) {
	var wf Workflow
	for _, stage := range []struct {
		raw  *rawStage
		dst  *[]ConfigStep
		name string
	}{{w.Plan, &wf.Plan, "plan"}, {w.Apply, &wf.Apply, "apply"}, {w.Import, &wf.Import, "import"}, {w.StateRm, &wf.StateRm, "state_rm"}} {
		if stage.raw == nil {
			continue
		}
		for _, s := range stage.raw.Steps {
			cs := ConfigStep{Name: s.Name, ExtraArgs: s.ExtraArgs, Run: s.Run, EnvName: s.EnvName, Output: Output(s.Output)}
			if s.Shell != "" || s.ShellArgs != nil {
				sh, args := DefaultShell(), s.ShellArgs
				if len(args) == 0 {
					args = sh[1:] // shellArgs: "" is no setting, not no -c
				}
				cs.Shell = append([]string{cmp.Or(s.Shell, sh[0])}, args...)
			}
			switch s.Name {
			case "run", "multienv":
				if strings.TrimSpace(s.Run) == "" {
					return wf, fmt.Errorf("%s: a %s step needs a command", stage.name, s.Name)
				}
			case "env":
				if s.EnvName == "" || (s.EnvValue == nil) == (s.EnvCmd == nil) {
					return wf, fmt.Errorf("%s: an env step needs a name and either a value or a command", stage.name)
				}
				if s.EnvValue != nil {
					if cs.Shell != nil {
						return wf, fmt.Errorf("%s: env step %s sets a value: shell and shellArgs go with a command", stage.name, s.EnvName)
					}
					cs.EnvValue = *s.EnvValue
				} else {
					cs.EnvCommand = *s.EnvCmd
				}
			}
			*stage.dst = append(*stage.dst, cs)
		}
	}
	return wf, nil
}
