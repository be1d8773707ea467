package workflows

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The raw layer mirrors the YAML of atoll.yaml (and atlantis.yaml, version
// 3) and only checks its shape: keys, types and where each value stands.
// Parse turns it into the values the rest of atoll trusts.

type rawConfig struct {
	Version                   *int                   `yaml:"version"`
	Automerge                 *bool                  `yaml:"automerge"`
	DeleteSourceBranchOnMerge *bool                  `yaml:"delete_source_branch_on_merge"`
	ParallelPlan              *bool                  `yaml:"parallel_plan"`
	ParallelApply             *bool                  `yaml:"parallel_apply"`
	AbortOnExecutionOrderFail *bool                  `yaml:"abort_on_execution_order_fail"`
	Autodiscover              *rawAutodiscover       `yaml:"autodiscover"`
	Projects                  []rawProject           `yaml:"projects"`
	Workflows                 map[string]rawWorkflow `yaml:"workflows"`
	line                      int
	keyLines                  map[string]int
}

type rawAutodiscover struct {
	Mode        *string  `yaml:"mode"`
	IgnorePaths []string `yaml:"ignore_paths"`
	line        int
}

type rawProject struct {
	Name                      *string      `yaml:"name"`
	Branch                    *string      `yaml:"branch"`
	Dir                       *string      `yaml:"dir"`
	Workspace                 *string      `yaml:"workspace"`
	TerraformVersion          *string      `yaml:"terraform_version"`
	TerraformDistribution     *string      `yaml:"terraform_distribution"`
	Autoplan                  *rawAutoplan `yaml:"autoplan"`
	ApplyRequirements         []string     `yaml:"apply_requirements"`
	PlanRequirements          []string     `yaml:"plan_requirements"`
	ImportRequirements        []string     `yaml:"import_requirements"`
	Workflow                  *string      `yaml:"workflow"`
	DependsOn                 []string     `yaml:"depends_on"`
	ExecutionOrderGroup       *int         `yaml:"execution_order_group"`
	DeleteSourceBranchOnMerge *bool        `yaml:"delete_source_branch_on_merge"`
	RepoLocking               *bool        `yaml:"repo_locking"`
	line                      int
	keyLines                  map[string]int
}

type rawAutoplan struct {
	Enabled      *bool    `yaml:"enabled"`
	WhenModified []string `yaml:"when_modified"`
	line         int
}

type rawWorkflow struct {
	Plan        *rawStage `yaml:"plan"`
	Apply       *rawStage `yaml:"apply"`
	Import      *rawStage `yaml:"import"`
	StateRm     *rawStage `yaml:"state_rm"`
	PolicyCheck *rawStage `yaml:"policy_check"`
	line        int
}

type rawStage struct {
	Steps []rawStep `yaml:"steps"`
	line  int
}

// rawStep is one step: a bare name ("init"), or a one-key map of a name to
// its settings ({init: {extra_args: [...]}}, {run: CMD}, {env: {...}},
// {multienv: CMD}).
type rawStep struct {
	Name      string
	ExtraArgs []string
	// Run is the command of a run or multienv step.
	Run      string
	EnvName  string
	EnvValue *string
	EnvCmd   *string
	// Shell and ShellArgs run the command; "" and nil when not set.
	Shell     string
	ShellArgs []string
	// Output is what a run or multienv step shows; "" when not set.
	Output string
	line   int
}

// rawShellArgs are a shell's arguments: a list of strings, or one string
// of arguments separated by spaces, as Atlantis takes either.
type rawShellArgs []string

func (a *rawShellArgs) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*a = strings.Fields(n.Value)
		return nil
	}
	var list []string
	if n.Kind != yaml.SequenceNode || n.Decode(&list) != nil {
		return &lineError{n.Line, "shellArgs must be a string or a list of strings"}
	}
	*a = list
	return nil
}

// rawCommand is the map form of a step that runs a command.
type rawCommand struct {
	Command   string       `yaml:"command"`
	Shell     string       `yaml:"shell"`
	ShellArgs rawShellArgs `yaml:"shellArgs"`
	Output    string       `yaml:"output"`
}

// decodeCommand decodes the settings of a run or multienv step, whose
// output may be one of outputs.
func (s *rawStep) decodeCommand(val *yaml.Node, outputs ...Output) error {
	if val.Kind == yaml.ScalarNode {
		s.Run = val.Value
		return nil
	}
	if err := checkKeys(val, "step "+s.Name, []string{"command", "output", "shell", "shellArgs"}); err != nil {
		return err
	}
	for i := 0; i < len(val.Content); i += 2 {
		k, v := val.Content[i], val.Content[i+1]
		if k.Value != "output" || v.Kind == yaml.ScalarNode && slices.Contains(outputs, Output(v.Value)) {
			continue
		}
		names := make([]string, len(outputs))
		for j, o := range outputs {
			names[j] = string(o)
		}
		msg := fmt.Sprintf("step %s: output must be one of %s", s.Name, strings.Join(names, ", "))
		if v.Kind != yaml.ScalarNode {
			msg += " (atoll takes no list of output filters)"
		}
		return &lineError{k.Line, msg}
	}
	var v rawCommand
	if err := val.Decode(&v); err != nil {
		return err
	}
	s.Run, s.Shell, s.ShellArgs, s.Output = v.Command, v.Shell, v.ShellArgs, v.Output
	return nil
}

// The keys each mapping may hold. Some are Atlantis's that atoll accepts,
// so that an atlantis.yaml reads as it is, and does not act on (yet):
// allowed_regexp_prefixes, and a project's repo_locks,
// custom_policy_check, silence_pr_comments and policy_check. The raw
// structs have no field for them.
var (
	configKeys       = []string{"version", "automerge", "delete_source_branch_on_merge", "parallel_plan", "parallel_apply", "abort_on_execution_order_fail", "autodiscover", "projects", "workflows", "allowed_regexp_prefixes"}
	autodiscoverKeys = []string{"mode", "ignore_paths"}
	projectKeys      = []string{"name", "branch", "dir", "workspace", "terraform_version", "terraform_distribution", "autoplan", "apply_requirements", "plan_requirements", "import_requirements", "workflow", "depends_on", "execution_order_group", "delete_source_branch_on_merge", "repo_locking", "repo_locks", "custom_policy_check", "silence_pr_comments", "policy_check"}
	autoplanKeys     = []string{"enabled", "when_modified"}
	workflowKeys     = []string{"plan", "apply", "import", "state_rm", "policy_check"}
	stageKeys        = []string{"steps"}
	toolSteps        = []string{"init", "plan", "apply", "show", "policy_check", "import", "state_rm"}
)

// checkKeys refuses a mapping with keys outside known, naming where.
func checkKeys(n *yaml.Node, what string, known []string) error {
	if n.Kind != yaml.MappingNode {
		return &lineError{n.Line, fmt.Sprintf("%s must be a map", what)}
	}
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			return &lineError{k.Line, fmt.Sprintf("unknown key %q in %s (known keys: %s)", k.Value, what, strings.Join(known, ", "))}
		}
	}
	return nil
}

// lineError is a problem at a line of the file being read.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return e.msg }

func (c *rawConfig) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "the config", configKeys); err != nil {
		return err
	}
	type plain rawConfig
	c.line = n.Line
	c.keyLines = map[string]int{}
	for i := 0; i < len(n.Content); i += 2 {
		c.keyLines[n.Content[i].Value] = n.Content[i].Line
	}
	return n.Decode((*plain)(c))
}

func (a *rawAutodiscover) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "autodiscover", autodiscoverKeys); err != nil {
		return err
	}
	type plain rawAutodiscover
	a.line = n.Line
	return n.Decode((*plain)(a))
}

func (p *rawProject) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "a project", projectKeys); err != nil {
		return err
	}
	type plain rawProject
	p.line = n.Line
	p.keyLines = map[string]int{}
	for i := 0; i < len(n.Content); i += 2 {
		p.keyLines[n.Content[i].Value] = n.Content[i].Line
	}
	return n.Decode((*plain)(p))
}

func (a *rawAutoplan) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "autoplan", autoplanKeys); err != nil {
		return err
	}
	type plain rawAutoplan
	a.line = n.Line
	return n.Decode((*plain)(a))
}

func (w *rawWorkflow) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "a workflow", workflowKeys); err != nil {
		return err
	}
	type plain rawWorkflow
	w.line = n.Line
	return n.Decode((*plain)(w))
}

func (s *rawStage) UnmarshalYAML(n *yaml.Node) error {
	if err := checkKeys(n, "a workflow stage", stageKeys); err != nil {
		return err
	}
	type plain rawStage
	s.line = n.Line
	return n.Decode((*plain)(s))
}

func (s *rawStep) UnmarshalYAML(n *yaml.Node) error {
	s.line = n.Line
	switch n.Kind {
	case yaml.ScalarNode:
		s.Name = n.Value
		if !slices.Contains(toolSteps, s.Name) {
			return &lineError{n.Line, fmt.Sprintf("unknown step %q (steps: %s, run, env, multienv)", s.Name, strings.Join(toolSteps, ", "))}
		}
		return nil
	case yaml.MappingNode:
	default:
		return &lineError{n.Line, "a step must be a name or a map of one name to its settings"}
	}
	if len(n.Content) != 2 {
		return &lineError{n.Line, "a step map must have exactly one key"}
	}
	key, val := n.Content[0], n.Content[1]
	s.Name = key.Value
	switch {
	case slices.Contains(toolSteps, s.Name):
		if val.Tag == "!!null" {
			return nil // "- init:" with nothing after it
		}
		if err := checkKeys(val, "step "+s.Name, []string{"extra_args"}); err != nil {
			return err
		}
		var v struct {
			ExtraArgs []string `yaml:"extra_args"`
		}
		if err := val.Decode(&v); err != nil {
			return err
		}
		s.ExtraArgs = v.ExtraArgs
	case s.Name == "run":
		return s.decodeCommand(val, OutputShow, OutputHide, OutputStripRefreshing)
	case s.Name == "multienv":
		return s.decodeCommand(val, OutputShow, OutputHide)
	case s.Name == "env":
		if err := checkKeys(val, "step env", []string{"name", "value", "command", "shell", "shellArgs"}); err != nil {
			return err
		}
		var v struct {
			Name      string       `yaml:"name"`
			Value     *string      `yaml:"value"`
			Command   *string      `yaml:"command"`
			Shell     string       `yaml:"shell"`
			ShellArgs rawShellArgs `yaml:"shellArgs"`
		}
		if err := val.Decode(&v); err != nil {
			return err
		}
		s.EnvName, s.EnvValue, s.EnvCmd, s.Shell, s.ShellArgs = v.Name, v.Value, v.Command, v.Shell, v.ShellArgs
	default:
		return &lineError{key.Line, fmt.Sprintf("unknown step %q (steps: %s, run, env, multienv)", s.Name, strings.Join(toolSteps, ", "))}
	}
	return nil
}

// maxConfigValues bounds the values (scalars, lists and maps, keys
// included) of a config with its aliases expanded: about as many as a
// file of maxRepoConfig bytes can spell without aliases, so that aliases
// cannot make a config cost more than a file of that size could anyway.
// yaml.v3's own guard counts aliases within one decoder, and each
// UnmarshalYAML above starts a fresh one.
const maxConfigValues = 1 << 19

// checkExpansion refuses a document n whose aliases expand it past max
// values, or that an alias makes contain itself, before anything decodes
// it. Each anchored value is counted once, so this costs no more than the
// document's own size.
func checkExpansion(n *yaml.Node, max int) error {
	e := expansion{max: max, sizes: map[*yaml.Node]int{}, open: map[*yaml.Node]bool{}}
	_, err := e.count(n)
	return err
}

// expansion is the state of checkExpansion.
type expansion struct {
	max   int
	sizes map[*yaml.Node]int  // the values of each anchored node counted
	open  map[*yaml.Node]bool // the anchored nodes being counted
}

// count returns the number of values n expands to; past e.max, an error.
func (e *expansion) count(n *yaml.Node) (int, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		if e.open[n.Alias] {
			return 0, &lineError{n.Line, fmt.Sprintf("alias *%s is inside the value it stands for", n.Value)}
		}
		return e.count(n.Alias)
	}
	if size, ok := e.sizes[n]; ok {
		return size, nil
	}
	if n.Anchor != "" {
		e.open[n] = true
		defer delete(e.open, n)
	}
	size := 1
	for _, c := range n.Content {
		s, err := e.count(c)
		if err != nil {
			return 0, err
		}
		if size += s; size > e.max {
			return 0, &lineError{c.Line, fmt.Sprintf("the config holds more than %d values once its aliases are expanded; atoll reads no more", e.max)}
		}
	}
	if n.Anchor != "" {
		e.sizes[n] = size
	}
	return size, nil
}
