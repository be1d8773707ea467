package workflows

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// ServerConfig is the server-side repo config (--repo-config): what each
// repository gets and may change, and the server's own workflows. The zero
// value allows no overrides and no custom workflows.
type ServerConfig struct {
	Repos     []RepoRule
	Workflows map[string]Workflow
	// Policies, when set, are checked on every plan (policies.go).
	Policies *Policies
}

// RepoRule is what the server config says of the repositories it matches.
type RepoRule struct {
	// ID matches repositories: an exact "owner/name", a glob, or a
	// regular expression between slashes.
	ID    string
	match func(string) bool
	// setsCustom records that the entry says allow_custom_workflows, so
	// that a later entry's false overrides an earlier true.
	setsCustom bool
	// ApplyRequirements replace the server's flag when set.
	ApplyRequirements *Requirements
	// Workflow names the server workflow projects use by default.
	Workflow string
	// AllowedOverrides are the project keys a repository config may set:
	// apply_requirements, workflow, delete_source_branch_on_merge.
	AllowedOverrides []string
	// AllowCustomWorkflows lets a repository define its own workflows,
	// whose run steps execute commands of its choosing on the server.
	AllowCustomWorkflows bool
	// PlanRequirements are what a pull request must be before its
	// projects are planned; none unless set.
	PlanRequirements *Requirements
	// ImportRequirements are what a pull request must be before import
	// and state rm change its projects' state; the apply requirements
	// unless set.
	ImportRequirements *Requirements
	// Drift says what drift checks do for the repository; every project
	// is checked when nil (and --drift-interval is set).
	Drift *DriftRule
	// NoPolicyCheck turns the server's policy checks off for the
	// repository (policy_check: false).
	NoPolicyCheck bool
	// NoRepoLocking lets the repository's plans and applies run without
	// project locks (repo_locking: false): two pull requests may then
	// hold plans of one project, and an apply makes the other's stale.
	NoRepoLocking   bool
	setsRepoLocking bool
	// DeleteSourceBranchOnMerge deletes a pull request's branch when atoll
	// merges it.
	DeleteSourceBranchOnMerge bool
	setsDelete                bool
	setsPolicyCheck           bool
	// PreWorkflowHooks and PostWorkflowHooks run in the checkout's root
	// before and after each command.
	PreWorkflowHooks, PostWorkflowHooks []Hook
	// branch, when set, limits the entry to pull requests into the
	// branches it matches.
	branch *regexp.Regexp
}

// Hook is a command the server runs in a pull request's checkout around
// its commands.
type Hook struct {
	Run string
	// Shell runs Run, after ShellArgs: "sh -c" unless set.
	Shell     string
	ShellArgs []string
	// Commands are the commands ("plan", "apply") the hook runs around;
	// all when empty.
	Commands []string
}

// For reports whether h runs around command.
func (h Hook) For(command string) bool {
	return len(h.Commands) == 0 || slices.Contains(h.Commands, command)
}

type rawServerConfig struct {
	Repos     []rawRepoRule          `yaml:"repos"`
	Workflows map[string]rawWorkflow `yaml:"workflows"`
	Policies  *rawPolicies           `yaml:"policies"`
}

type rawRepoRule struct {
	ID                   string    `yaml:"id"`
	Branch               *string   `yaml:"branch"`
	ApplyRequirements    []string  `yaml:"apply_requirements"`
	PlanRequirements     []string  `yaml:"plan_requirements"`
	ImportRequirements   []string  `yaml:"import_requirements"`
	DeleteBranch         *bool     `yaml:"delete_source_branch_on_merge"`
	Workflow             *string   `yaml:"workflow"`
	AllowedOverrides     []string  `yaml:"allowed_overrides"`
	AllowCustomWorkflows *bool     `yaml:"allow_custom_workflows"`
	PreWorkflowHooks     []rawHook `yaml:"pre_workflow_hooks"`
	PostWorkflowHooks    []rawHook `yaml:"post_workflow_hooks"`
	Drift                *rawDrift `yaml:"drift"`
	PolicyCheck          *bool     `yaml:"policy_check"`
	RepoLocking          *bool     `yaml:"repo_locking"`
	line                 int
}

// rawDrift is a repos entry's drift: true, false, or what to check.
type rawDrift struct {
	Enabled  *bool    `yaml:"enabled"`
	Projects []string `yaml:"projects"`
	Dirs     []string `yaml:"dirs"`
}

var driftKeys = []string{"enabled", "projects", "dirs"}

func (d *rawDrift) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var on bool
		if err := n.Decode(&on); err != nil {
			return &lineError{n.Line, "drift: want true, false, or a mapping of enabled, projects and dirs"}
		}
		d.Enabled = &on
		return nil
	}
	if err := checkKeys(n, "drift", driftKeys); err != nil {
		return err
	}
	type plain rawDrift
	return n.Decode((*plain)(d))
}

type rawHook struct {
	Run       string  `yaml:"run"`
	Shell     string  `yaml:"shell"`
	ShellArgs *string `yaml:"shellArgs"`
	Commands  string  `yaml:"commands"`
	line      int
}

var (
	serverConfigKeys = []string{"repos", "workflows", "policies"}
	repoRuleKeys     = []string{"id", "drift", "apply_requirements", "workflow", "allowed_overrides", "allow_custom_workflows", "pre_workflow_hooks", "post_workflow_hooks", "branch", "repo_config_file", "plan_requirements", "import_requirements", "delete_source_branch_on_merge", "repo_locking", "repo_locks", "policy_check", "custom_policy_check", "autodiscover", "silence_pr_comments"}
	overridable      = []string{"apply_requirements", "workflow", "delete_source_branch_on_merge", "plan_requirements", "import_requirements", "repo_locking", "repo_locks", "policy_check", "custom_policy_check", "autodiscover", "silence_pr_comments"}
)

func (r *rawRepoRule) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "a repos entry", repoRuleKeys); err != nil {
		return err
	}
	type plain rawRepoRule
	r.line = n.Line
	return n.Decode((*plain)(r))
}

func (h *rawHook) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "a hook", []string{"run", "description", "shell", "shellArgs", "commands"}); err != nil {
		return err
	}
	type plain rawHook
	h.line = n.Line
	return n.Decode((*plain)(h))
}

// LoadServerConfig reads the server-side repo config file at path.
func LoadServerConfig(file string) (ServerConfig, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return ServerConfig{}, err
	}
	return ParseServerConfig(filepath.Base(file), b)
}

// ParseServerConfig parses and validates server-side repo config.
func ParseServerConfig(file string, data []byte) (ServerConfig, error) {
	fail := func(line int, format string, args ...any) (ServerConfig, error) {
		return ServerConfig{}, &ConfigError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		return fail(0, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 0 {
		return fail(0, "the file is empty")
	}
	if err := checkKeys(root.Content[0], "the server config", serverConfigKeys); err != nil {
		if le := (*lineError)(nil); errors.As(err, &le) {
			return fail(le.line, "%s", le.msg)
		}
		return fail(0, "%v", err)
	}
	var raw rawServerConfig
	if err := root.Content[0].Decode(&raw); err != nil {
		var le *lineError
		if errors.As(err, &le) {
			return fail(le.line, "%s", le.msg)
		}
		return fail(0, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	cfg := ServerConfig{Workflows: map[string]Workflow{}}
	if raw.Policies != nil {
		var err error
		if cfg.Policies, err = convertPolicies(*raw.Policies); err != nil {
			var le *lineError
			if errors.As(err, &le) {
				return fail(le.line, "%s", le.msg)
			}
			return fail(0, "%v", err)
		}
	}
	for name, w := range raw.Workflows {
		wf, err := convertWorkflow(w)
		if err != nil {
			return fail(w.line, "workflow %q: %v", name, err)
		}
		cfg.Workflows[name] = wf
	}
	for _, r := range raw.Repos {
		match, err := repoMatcher(r.ID)
		if err != nil {
			return fail(r.line, "%v", err)
		}
		rule := RepoRule{ID: r.ID, match: match, AllowedOverrides: r.AllowedOverrides}
		if rule.ApplyRequirements, err = optionalRequirements("apply", r.ApplyRequirements); err != nil {
			return fail(r.line, "%v", err)
		}
		if rule.PlanRequirements, err = optionalRequirements("plan", r.PlanRequirements); err != nil {
			return fail(r.line, "%v", err)
		}
		if rule.ImportRequirements, err = optionalRequirements("import", r.ImportRequirements); err != nil {
			return fail(r.line, "%v", err)
		}
		if r.Drift != nil {
			if rule.Drift, err = convertDrift(*r.Drift); err != nil {
				return fail(r.line, "drift: %v", err)
			}
		}
		if r.PolicyCheck != nil {
			rule.setsPolicyCheck, rule.NoPolicyCheck = true, !*r.PolicyCheck
		}
		if r.RepoLocking != nil {
			rule.setsRepoLocking, rule.NoRepoLocking = true, !*r.RepoLocking
		}
		if r.Branch != nil {
			if rule.branch, err = branchMatcher(*r.Branch); err != nil {
				return fail(r.line, "%v", err)
			}
		}
		for _, o := range r.AllowedOverrides {
			if !slices.Contains(overridable, o) {
				return fail(r.line, "allowed_overrides: %q is no key a repository can set (keys: %s)", o, strings.Join(overridable, ", "))
			}
		}
		if r.Workflow != nil {
			if _, ok := cfg.Workflows[*r.Workflow]; !ok {
				return fail(r.line, "workflow %q is not defined under workflows", *r.Workflow)
			}
			rule.Workflow = *r.Workflow
		}
		rule.AllowCustomWorkflows = r.AllowCustomWorkflows != nil && *r.AllowCustomWorkflows
		rule.DeleteSourceBranchOnMerge, rule.setsDelete = r.DeleteBranch != nil && *r.DeleteBranch, r.DeleteBranch != nil
		rule.setsCustom = r.AllowCustomWorkflows != nil
		for _, hooks := range []struct {
			raw []rawHook
			dst *[]Hook
		}{{r.PreWorkflowHooks, &rule.PreWorkflowHooks}, {r.PostWorkflowHooks, &rule.PostWorkflowHooks}} {
			for _, h := range hooks.raw {
				hook, err := convertHook(h)
				if err != nil {
					return fail(h.line, "%v", err)
				}
				*hooks.dst = append(*hooks.dst, hook)
			}
		}
		cfg.Repos = append(cfg.Repos, rule)
	}
	return cfg, nil
}

func convertHook(h rawHook) (Hook, error) {
	if strings.TrimSpace(h.Run) == "" {
		return Hook{}, errors.New("a hook needs a run command")
	}
	hook := Hook{Run: h.Run, Shell: cmp.Or(h.Shell, "sh"), ShellArgs: []string{"-c"}}
	if h.ShellArgs != nil {
		hook.ShellArgs = strings.Fields(*h.ShellArgs)
	}
	for _, c := range strings.Split(h.Commands, ",") {
		c = strings.TrimSpace(c)
		switch {
		case c == "":
		case !slices.Contains(hookCommands, c):
			return Hook{}, fmt.Errorf("hook commands: %q is no command (commands: %s, separated by commas)", c, strings.Join(hookCommands, ", "))
		default:
			hook.Commands = append(hook.Commands, c)
		}
	}
	return hook, nil
}

// hookCommands are the commands a hook may name: atoll's, and Atlantis'
// others, so that its configs read as they are.
var hookCommands = []string{"plan", "apply", "unlock", "version", "import", "state", "policy_check", "approve_policies"}

// branchMatcher reads a branch setting: a regular expression between
// slashes, as Atlantis writes it, or a branch's exact name.
func branchMatcher(branch string) (*regexp.Regexp, error) {
	expr := "^" + regexp.QuoteMeta(branch) + "$"
	if len(branch) > 1 && strings.HasPrefix(branch, "/") && strings.HasSuffix(branch, "/") {
		expr = branch[1 : len(branch)-1]
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("branch %s is not a regular expression: %v", branch, err)
	}
	return re, nil
}

// repoMatcher reads a repos id: /regex/, a glob, or an exact name.
func repoMatcher(id string) (func(string) bool, error) {
	switch {
	case id == "":
		return nil, errors.New("a repos entry needs an id")
	case len(id) > 1 && strings.HasPrefix(id, "/") && strings.HasSuffix(id, "/"):
		re, err := regexp.Compile(id[1 : len(id)-1])
		if err != nil {
			return nil, fmt.Errorf("id %s is not a regular expression: %v", id, err)
		}
		return re.MatchString, nil
	case strings.ContainsAny(id, "*?["):
		if _, err := path.Match(id, ""); err != nil {
			return nil, fmt.Errorf("id %q is not a glob: %v", id, err)
		}
		return func(repo string) bool { ok, _ := path.Match(id, repo); return ok }, nil
	}
	return func(repo string) bool { return repo == id }, nil
}

// For returns the rule for pull requests of a repository ("owner/name")
// into branch base: the matching entries merged, later ones overriding
// earlier ones key by key.
func (c ServerConfig) For(repo, base string) RepoRule {
	var rule RepoRule
	for _, r := range c.Repos {
		if !r.match(repo) || r.branch != nil && !r.branch.MatchString(base) {
			continue
		}
		rule.ID = r.ID
		if r.ApplyRequirements != nil {
			rule.ApplyRequirements = r.ApplyRequirements
		}
		if r.PlanRequirements != nil {
			rule.PlanRequirements = r.PlanRequirements
		}
		if r.ImportRequirements != nil {
			rule.ImportRequirements = r.ImportRequirements
		}
		if r.Drift != nil {
			rule.Drift = r.Drift
		}
		if r.setsPolicyCheck {
			rule.NoPolicyCheck = r.NoPolicyCheck
		}
		if r.setsRepoLocking {
			rule.NoRepoLocking = r.NoRepoLocking
		}
		if r.Workflow != "" {
			rule.Workflow = r.Workflow
		}
		if r.AllowedOverrides != nil {
			rule.AllowedOverrides = r.AllowedOverrides
		}
		if r.setsCustom {
			rule.AllowCustomWorkflows = r.AllowCustomWorkflows
		}
		if r.setsDelete {
			rule.DeleteSourceBranchOnMerge = r.DeleteSourceBranchOnMerge
		}
		if r.PreWorkflowHooks != nil {
			rule.PreWorkflowHooks = r.PreWorkflowHooks
		}
		if r.PostWorkflowHooks != nil {
			rule.PostWorkflowHooks = r.PostWorkflowHooks
		}
	}
	return rule
}

// Check refuses a repository config that sets what rule does not allow,
// naming the key and where it is set.
func (rule RepoRule) Check(cfg RepoConfig, serverWorkflows map[string]Workflow) error {
	fail := func(line int, format string, args ...any) error {
		return &ConfigError{File: cfg.File, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if cfg.DeleteSourceBranchOnMerge != nil && !slices.Contains(rule.AllowedOverrides, "delete_source_branch_on_merge") {
		return fail(cfg.Lines["delete_source_branch_on_merge"], "delete_source_branch_on_merge: this server does not let repositories set it (allowed_overrides)")
	}
	if len(cfg.Workflows) > 0 && !rule.AllowCustomWorkflows {
		return fail(cfg.Lines["workflows"], "workflows: this server does not let repositories define their own workflows (allow_custom_workflows)")
	}
	for _, p := range cfg.Projects {
		for _, key := range []struct {
			name string
			set  bool
		}{
			{"apply_requirements", p.ApplyRequirements != nil},
			{"plan_requirements", p.PlanRequirements != nil},
			{"import_requirements", p.ImportRequirements != nil},
			{"delete_source_branch_on_merge", p.DeleteSourceBranchOnMerge != nil},
			{"repo_locking", p.RepoLocking != nil},
		} {
			if key.set && !slices.Contains(rule.AllowedOverrides, key.name) {
				return fail(p.Line, "%s: this server does not let repositories set it (allowed_overrides)", key.name)
			}
		}
		if p.Workflow == "" {
			continue
		}
		if !slices.Contains(rule.AllowedOverrides, "workflow") {
			return fail(p.Line, "workflow: this server does not let repositories choose a workflow (allowed_overrides)")
		}
		_, ours := cfg.Workflows[p.Workflow]
		_, servers := serverWorkflows[p.Workflow]
		if !ours && !servers {
			return fail(p.Line, "workflow %q is defined neither in %s nor on the server", p.Workflow, cfg.File)
		}
	}
	return nil
}

// WorkflowFor returns the workflow project p runs: the one it names (the
// repository's own, or the server's), else the server rule's, else the
// server's workflow called "default", else atoll's (init and plan; apply).
func WorkflowFor(p ProjectConfig, cfg RepoConfig, rule RepoRule, serverWorkflows map[string]Workflow) Workflow {
	name := cmp.Or(p.Workflow, rule.Workflow, "default")
	if w, ok := cfg.Workflows[name]; ok && p.Workflow != "" {
		return w.withDefaults()
	}
	if w, ok := serverWorkflows[name]; ok {
		return w.withDefaults()
	}
	return Workflow{}.withDefaults()
}

// withDefaults fills the stages a workflow leaves out with atoll's own.
func (w Workflow) withDefaults() Workflow {
	if w.Plan == nil {
		w.Plan = []ConfigStep{{Name: "init"}, {Name: "plan"}}
	}
	if w.Apply == nil {
		w.Apply = []ConfigStep{{Name: "apply"}}
	}
	if w.Import == nil {
		w.Import = []ConfigStep{{Name: "init"}, {Name: "import"}}
	}
	if w.StateRm == nil {
		w.StateRm = []ConfigStep{{Name: "init"}, {Name: "state_rm"}}
	}
	return w
}

// DriftRule is what a repos entry's drift: says.
type DriftRule struct {
	// Off turns drift checks off for the repository.
	Off bool
	// Projects and Dirs, when either is set, are the projects checked:
	// by name, and by directory (in the default workspace, or as the
	// config sets them); every project when both are empty.
	Projects, Dirs []string
}

// Selects returns what the rule has checked, as commands that select
// projects; none for every project.
func (d DriftRule) Selects() []Command {
	var sel []Command
	for _, p := range d.Projects {
		sel = append(sel, Command{Name: "plan", Project: p})
	}
	for _, dir := range d.Dirs {
		sel = append(sel, Command{Name: "plan", Dir: dir})
	}
	return sel
}

func convertDrift(r rawDrift) (*DriftRule, error) {
	d := &DriftRule{Off: r.Enabled != nil && !*r.Enabled, Projects: r.Projects}
	for _, dir := range r.Dirs {
		clean, err := CleanDir(dir)
		if err != nil {
			return nil, fmt.Errorf("dirs: %q: %v", dir, err)
		}
		d.Dirs = append(d.Dirs, clean)
	}
	for _, p := range r.Projects {
		if strings.TrimSpace(p) == "" || len(p) > maxNameLen {
			return nil, fmt.Errorf("projects: %q is no project name", p)
		}
	}
	return d, nil
}
