package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"
)

// Match is a project a change plans, and why.
type Match struct {
	ProjectConfig
	// Why says which changed file matched which rule, for people.
	Why []string
}

// Select returns the projects a change to the files changed (relative to
// the repository root) plans, in the order they run: Discover, with the
// module graph of the checkout at repoDir. It is what the server plans,
// and what atoll projects prints.
func Select(cfg RepoConfig, repoDir string, changed []string) ([]Match, error) {
	graph, err := LoadModuleGraph(repoDir, nil)
	if err != nil {
		return nil, err
	}
	return Discover(cfg, repoDir, changed, graph)
}

// Discover decides which projects a change to the files changed (relative
// to the repository root) plans, in the order they run: configured
// projects whose when_modified globs match a changed file, and, as
// cfg.Autodiscover says, the directories holding changed configuration
// that no project names. A changed directory that other directories use as
// a module (graph, which may be nil) plans those directories instead.
func Discover(cfg RepoConfig, repoDir string, changed []string, graph *ModuleGraph) ([]Match, error) {
	var matches []Match
	for _, p := range cfg.Projects {
		if !p.Autoplan || p.elsewhere {
			continue
		}
		var why []string
		for _, f := range changed {
			if glob, ok := matchWhenModified(p, f); ok {
				why = append(why, fmt.Sprintf("%s matches %s", f, glob))
			}
		}
		if len(why) == 0 {
			continue
		}
		// A change that deletes a project's directory leaves nothing to
		// plan there.
		if _, err := os.Stat(filepath.Join(repoDir, filepath.FromSlash(p.Dir))); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		matches = append(matches, Match{ProjectConfig: p, Why: why})
	}
	if cfg.Autodiscover.Mode == "enabled" || cfg.Autodiscover.Mode != "disabled" && len(cfg.Projects) == 0 {
		found, err := discoverDirs(cfg, repoDir, changed, graph)
		if err != nil {
			return nil, err
		}
		matches = append(matches, found...)
	}
	return Order(matches)
}

// All returns every project of the repository at repoDir, in the order
// they run: its config's (but those limited to other branches, autoplan
// or not), and, as cfg.Autodiscover says, each directory holding
// configuration that no project names and that a change would plan: a
// root, not a module others use or one under modules/ (unless it
// declares a backend). It is what a run on a whole branch plans.
func All(cfg RepoConfig, repoDir string) ([]Match, error) {
	graph, err := LoadModuleGraph(repoDir, nil)
	if err != nil {
		return nil, err
	}
	var matches []Match
	for _, p := range cfg.Projects {
		if !p.elsewhere {
			matches = append(matches, Match{ProjectConfig: p, Why: []string{"every project runs"}})
		}
	}
	if cfg.Autodiscover.Mode == "enabled" || cfg.Autodiscover.Mode != "disabled" && len(cfg.Projects) == 0 {
		// As if each directory's configuration changed.
		var changed []string
		for _, dir := range graph.Dirs() {
			changed = append(changed, path.Join(dir, "main.tf"))
		}
		found, err := discoverDirs(cfg, repoDir, changed, graph)
		if err != nil {
			return nil, err
		}
		for _, m := range found {
			m.Why = []string{"every project runs"}
			matches = append(matches, m)
		}
	}
	return Order(matches)
}

// matchWhenModified reports the glob of p's that decides f is a change to
// p. Globs are relative to p's directory, may reach out of it with "../",
// and match a file or any directory above it. A glob starting with "!"
// excludes what it matches; the last glob that matches decides.
func matchWhenModified(p ProjectConfig, f string) (string, bool) {
	decided, in := "", false
	for _, g := range p.WhenModified {
		pattern, exclude := strings.CutPrefix(g, "!")
		full := path.Clean(path.Join(p.Dir, pattern))
		if matchesOrParent(full, f) {
			decided, in = g, !exclude
		}
	}
	return decided, in
}

// matchesOrParent reports whether pattern matches f or a directory that
// holds it.
func matchesOrParent(pattern, f string) bool {
	for {
		if ok, _ := doublestar.Match(pattern, f); ok {
			return true
		}
		i := strings.LastIndexByte(f, '/')
		if i < 0 {
			return false
		}
		f = f[:i]
	}
}

// discoverDirs finds projects no config names: directories holding changed
// configuration, or the roots using them as modules.
func discoverDirs(cfg RepoConfig, repoDir string, changed []string, graph *ModuleGraph) ([]Match, error) {
	d := &discovery{cfg: cfg, repoDir: repoDir, graph: graph, configured: map[string]bool{}, why: map[string][]string{}, backends: map[string]bool{}}
	for _, p := range cfg.Projects {
		d.configured[p.Dir] = true
	}
	for _, f := range changed {
		if err := d.changed(f); err != nil {
			return nil, err
		}
	}
	matches := make([]Match, 0, len(d.order))
	for _, dir := range d.order {
		p := ProjectConfig{Project: Project{Dir: dir, Workspace: DefaultWorkspace}, Autoplan: true, WhenModified: DefaultWhenModified}
		matches = append(matches, Match{ProjectConfig: p, Why: d.why[dir]})
	}
	return matches, nil
}

// discovery is discoverDirs at work.
type discovery struct {
	cfg     RepoConfig
	repoDir string
	graph   *ModuleGraph
	// configured are the directories the config's projects are in.
	configured map[string]bool
	// why says why each directory found is planned; order is the order
	// they were found in.
	why   map[string][]string
	order []string
	// backends says, of a directory used as a module, whether it declares
	// a backend, which makes it a root too; asked once a directory.
	backends map[string]bool
}

// add plans dir, for reason, unless the config names it or ignores it,
// or its name is not UTF-8: git lists paths as bytes, and no comment,
// status or lock could spell it (a lock of it could not be released).
func (d *discovery) add(dir, reason string) {
	if d.configured[dir] || ignored(d.cfg.Autodiscover.IgnorePaths, dir) || !utf8.ValidString(dir) {
		return
	}
	if _, seen := d.why[dir]; !seen {
		d.order = append(d.order, dir)
	}
	d.why[dir] = append(d.why[dir], reason)
}

// rootToo reports whether dir, used as a module, declares a backend.
func (d *discovery) rootToo(dir string) (bool, error) {
	if b, ok := d.backends[dir]; ok {
		return b, nil
	}
	b, err := DeclaresBackend(d.repoDir, dir)
	d.backends[dir] = b
	return b, err
}

// changed plans what the change of file f plans: its directory, or the
// roots that use that directory as a module.
func (d *discovery) changed(f string) error {
	dir, what := changedDir(f)
	if what == "" {
		return nil
	}
	if path.Base(dir) == "env" && strings.HasPrefix(what, "variables") {
		// Variables under env/ are the directory above's, unless env is a
		// root itself.
		if ok, err := HasConfig(d.repoDir, dir); err != nil {
			return err
		} else if !ok {
			dir = path.Dir(dir)
		}
	}
	if d.graph != nil && d.graph.IsModule(dir) {
		if err := d.users(f, dir); err != nil {
			return err
		}
		if ok, err := d.rootToo(dir); !ok || err != nil {
			return err
		}
	} else if underModules(dir) {
		// As in Atlantis, a directory under modules/ is a module, used
		// from elsewhere (a registry or git source) or not yet: planned
		// alone, its required variables would fail the plan. Unless it
		// declares a backend, which makes it a root.
		if ok, err := d.rootToo(dir); !ok || err != nil {
			return err
		}
	}
	ok, err := HasConfig(d.repoDir, dir)
	if err != nil {
		return err
	}
	if ok {
		d.add(dir, fmt.Sprintf("%s is %s", f, what))
	}
	return nil
}

// users plans the directories that use module dir, which f changes: the
// roots, and the modules among them that declare a backend.
func (d *discovery) users(f, dir string) error {
	why := fmt.Sprintf("%s changes module %s, which it uses", f, dir)
	for _, root := range d.graph.Roots(dir) {
		d.add(root, why)
	}
	for _, dep := range d.graph.Dependents(dir) {
		if !d.graph.IsModule(dep) {
			continue // a root, which Roots has
		}
		if ok, err := d.rootToo(dep); err != nil {
			return err
		} else if ok {
			d.add(dep, why)
		}
	}
	return nil
}

// underModules reports whether dir is in a directory named modules.
func underModules(dir string) bool {
	return slices.Contains(strings.Split(path.Dir(dir), "/"), "modules")
}

// changedDir returns the directory whose plan a changed file can change,
// if any, and what the file is to it: its configuration, its variables or
// its dependency lock file.
func changedDir(f string) (dir, what string) {
	f = path.Clean(f)
	dir, base := path.Dir(f), path.Base(f)
	switch {
	case isConfigFile(base):
		return dir, "configuration in it"
	case base == ".terraform.lock.hcl":
		return dir, "its dependency lock file"
	case strings.HasSuffix(base, ".tfvars"), strings.HasSuffix(base, ".tfvars.json"):
		return dir, "variables for it"
	}
	return "", ""
}

func ignored(globs []string, dir string) bool {
	for _, g := range globs {
		if ok, _ := doublestar.Match(strings.TrimSuffix(g, "/"), dir); ok {
			return true
		}
		if ok, _ := doublestar.Match(strings.TrimSuffix(g, "/")+"/**", dir); ok {
			return true
		}
	}
	return false
}

// Order sorts matches into the order they run: by execution_order_group,
// then so that every project comes after those it depends on, then by
// directory and workspace. A dependency cycle is an error.
func Order(matches []Match) ([]Match, error) {
	slices.SortStableFunc(matches, func(a, b Match) int {
		return cmp.Or(
			cmp.Compare(a.ExecutionOrderGroup, b.ExecutionOrderGroup),
			strings.Compare(a.Dir, b.Dir),
			strings.Compare(a.Workspace, b.Workspace),
			strings.Compare(a.Name, b.Name),
		)
	})
	byName := map[string]int{}
	for i, m := range matches {
		if m.Name != "" {
			byName[m.Name] = i
		}
	}
	// Depth-first, in the sorted order, placing dependencies first.
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(matches))
	ordered := make([]Match, 0, len(matches))
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case done:
			return nil
		case visiting:
			return &CycleError{Name: matches[i].Name, Line: matches[i].Line}
		}
		state[i] = visiting
		for _, dep := range matches[i].DependsOn {
			if j, ok := byName[dep]; ok {
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		state[i] = done
		ordered = append(ordered, matches[i])
		return nil
	}
	for i := range matches {
		if err := visit(i); err != nil {
			return nil, err
		}
	}
	return ordered, nil
}

// CycleError is a depends_on cycle, which a repository config names
// from the line of one of its projects.
type CycleError struct {
	// Name is a project in the cycle, and Line where it stands.
	Name string
	Line int
}

func (e *CycleError) Error() string {
	return fmt.Sprintf("projects depend on each other in a cycle through %q", e.Name)
}

// Find returns the configured project called name.
func (c RepoConfig) Find(name string) (ProjectConfig, bool) {
	i := slices.IndexFunc(c.Projects, func(p ProjectConfig) bool { return p.Name == name && !p.elsewhere })
	if i < 0 {
		return ProjectConfig{}, false
	}
	return c.Projects[i], true
}

// Names lists the configured projects' names, for messages.
func (c RepoConfig) Names() []string {
	var names []string
	for _, p := range c.Projects {
		if p.Name != "" && !p.elsewhere {
			names = append(names, p.Name)
		}
	}
	return names
}

// At returns the configured projects in p's directory and workspace: more
// than one when they have names.
func (c RepoConfig) At(p Project) []ProjectConfig {
	var at []ProjectConfig
	for _, q := range c.Projects {
		if q.Project == p && !q.elsewhere {
			at = append(at, q)
		}
	}
	return at
}

// Workspaces lists the workspaces of the configured projects in dir, in
// the config's order.
func (c RepoConfig) Workspaces(dir string) []string {
	var ws []string
	for _, q := range c.Projects {
		if q.Dir == dir && !q.elsewhere && !slices.Contains(ws, q.Workspace) {
			ws = append(ws, q.Workspace)
		}
	}
	return ws
}

// ProjectAt returns the first configured project in dir and workspace, or
// an unconfigured one there.
func (c RepoConfig) ProjectAt(dir, workspace string) ProjectConfig {
	if at := c.At(Project{Dir: dir, Workspace: workspace}); len(at) > 0 {
		return at[0]
	}
	return ProjectConfig{Project: Project{Dir: dir, Workspace: workspace}, Autoplan: true, WhenModified: DefaultWhenModified}
}
