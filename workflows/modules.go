package workflows

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
)

// ModuleGraph records which directories of a repository use which local
// modules (module blocks whose source is a relative path: "./x" or "../x").
// Its methods are safe for concurrent use.
type ModuleGraph struct {
	dirs   []string         // every directory holding configuration, sorted
	index  map[string]int32 // dirs[index[d]] == d
	usedBy [][]int32        // usedBy[i]: the directories with a module block sourcing dirs[i], sorted

	mu         sync.Mutex
	dependents map[int32][]int32 // memoised transitive closures of usedBy, sorted
}

// configFile is a configuration file found in the repository.
type configFile struct {
	dir  string // relative to the repository root, slash-separated, "." for the root
	path string // the file on disk
}

// LoadModuleGraph parses the configuration files (*.tf, *.tofu, *.tf.json,
// *.tofu.json) in every directory under repoDir, skipping .git, .terraform
// and any directory for which skip(dir) is true, together with everything
// below it (dir relative, slash-separated, "." for the root; skip may be
// nil). A skipped directory is invisible: neither its module blocks nor the
// module blocks pointing into it count.
//
// Sources are resolved relative to the calling directory and cleaned;
// sources that leave the repository, registry/git/http sources, sources
// that are not literal strings and sources pointing at directories without
// configuration are ignored. Files that fail to parse are not fatal: they
// contribute the module blocks that could be read, and the error is left
// for a later plan to report. Only errors reading the repository are
// returned.
func LoadModuleGraph(repoDir string, skip func(dir string) bool) (*ModuleGraph, error) {
	files, err := findConfigFiles(repoDir, skip)
	if err != nil {
		return nil, err
	}
	sources, err := readModuleSources(files)
	if err != nil {
		return nil, err
	}

	g := &ModuleGraph{dependents: make(map[int32][]int32)}
	for _, f := range files {
		g.dirs = append(g.dirs, f.dir)
	}
	slices.Sort(g.dirs)
	g.dirs = slices.Clip(slices.Compact(g.dirs))
	g.index = make(map[string]int32, len(g.dirs))
	for i, d := range g.dirs {
		g.index[d] = int32(i)
	}

	type edge struct{ module, caller int32 }
	var edges []edge
	for i, f := range files {
		caller := g.index[f.dir]
		for _, src := range sources[i] {
			target, ok := resolveLocalSource(f.dir, src)
			if !ok {
				continue
			}
			if module, ok := g.index[target]; ok && module != caller {
				edges = append(edges, edge{module, caller})
			}
		}
	}
	slices.SortFunc(edges, func(a, b edge) int {
		return cmp.Or(cmp.Compare(a.module, b.module), cmp.Compare(a.caller, b.caller))
	})
	edges = slices.Compact(edges)

	// All callers share one backing array, each module holding its run of it.
	callers := make([]int32, len(edges))
	g.usedBy = make([][]int32, len(g.dirs))
	start := 0
	for i, e := range edges {
		callers[i] = e.caller
		if i+1 == len(edges) || edges[i+1].module != e.module {
			g.usedBy[e.module] = callers[start : i+1 : i+1]
			start = i + 1
		}
	}
	return g, nil
}

// IsModule reports whether some other directory uses dir as a module.
func (g *ModuleGraph) IsModule(dir string) bool {
	i, ok := g.index[path.Clean(dir)]
	return ok && len(g.usedBy[i]) > 0
}

// Dependents returns, sorted and without duplicates, every directory that
// uses dir as a module, directly or through other modules. dir itself is
// not included, even when modules use each other in a cycle.
func (g *ModuleGraph) Dependents(dir string) []string {
	i, ok := g.index[path.Clean(dir)]
	if !ok {
		return nil
	}
	deps := g.dependentsOf(i)
	if len(deps) == 0 {
		return nil
	}
	names := make([]string, len(deps))
	for k, d := range deps {
		names[k] = g.dirs[d]
	}
	return names
}

// Roots returns, sorted, the directories among Dependents(dir) (plus dir
// itself if it is not a module) that are not themselves used as modules:
// the root projects a change in dir affects. It does not check that dir
// holds configuration; a directory the graph does not know is its own root.
func (g *ModuleGraph) Roots(dir string) []string {
	dir = path.Clean(dir)
	i, ok := g.index[dir]
	if !ok || len(g.usedBy[i]) == 0 {
		return []string{dir}
	}
	var roots []string
	for _, d := range g.dependentsOf(i) {
		if len(g.usedBy[d]) == 0 {
			roots = append(roots, g.dirs[d])
		}
	}
	return roots
}

// dependentsOf returns the transitive callers of dirs[i], sorted, computing
// them once per graph. The result is shared and must not be modified.
func (g *ModuleGraph) dependentsOf(i int32) []int32 {
	if len(g.usedBy[i]) == 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if deps, ok := g.dependents[i]; ok {
		return deps
	}
	seen := make([]bool, len(g.dirs))
	seen[i] = true
	var deps []int32
	stack := []int32{i}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range g.usedBy[n] {
			if !seen[c] {
				seen[c] = true
				deps = append(deps, c)
				stack = append(stack, c)
			}
		}
	}
	// Indices follow the sorted order of dirs, so this sorts by name too.
	slices.Sort(deps)
	g.dependents[i] = deps
	return deps
}

// findConfigFiles walks repoDir for configuration files, leaving out .git,
// .terraform and the directories skip reports.
func findConfigFiles(repoDir string, skip func(dir string) bool) ([]configFile, error) {
	var files []configFile
	var walk func(dir string) error
	walk = func(dir string) error {
		if skip != nil && skip(dir) {
			return nil
		}
		abs := filepath.Join(repoDir, filepath.FromSlash(dir))
		entries, err := os.ReadDir(abs)
		if err != nil {
			return fmt.Errorf("loading module graph: %w", err)
		}
		for _, e := range entries {
			switch name := e.Name(); {
			case e.IsDir() && name != ".git" && name != ".terraform":
				if err := walk(path.Join(dir, name)); err != nil {
					return err
				}
			case e.Type().IsRegular() && isConfigFile(name):
				files = append(files, configFile{dir: dir, path: filepath.Join(abs, name)})
			}
		}
		return nil
	}
	if err := walk("."); err != nil {
		return nil, err
	}
	return files, nil
}

// readModuleSources returns the literal sources of each file's module
// blocks, in the order of files, reading and parsing on every CPU.
func readModuleSources(files []configFile) ([][]string, error) {
	sources := make([][]string, len(files))
	workers := min(runtime.GOMAXPROCS(0), len(files))
	errs := make([]error, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				src, err := os.ReadFile(files[i].path)
				if err != nil {
					errs[w] = fmt.Errorf("loading module graph: %w", err)
					return
				}
				sources[i] = moduleSources(files[i].path, src)
			}
		})
	}
	wg.Wait()
	return sources, errors.Join(errs...)
}

var moduleBlock = hcl.BlockHeaderSchema{Type: "module", LabelNames: []string{"name"}}

// moduleSources returns the literal source of every top-level module block
// in the configuration file name holding src.
func moduleSources(name string, src []byte) []string {
	// Native syntax cannot escape a block type, so a file that never spells
	// "module" has no module block; most files don't, and looking is much
	// cheaper than parsing.
	if isJSON(name) {
		return blockStrings(parseConfig(name, src), moduleBlock, "source")
	}
	if !bytes.Contains(src, []byte("module")) {
		return nil
	}
	if sources, ok := skimModuleSources(src); ok {
		return sources
	}
	return blockStrings(parseConfig(name, src), moduleBlock, "source")
}

// resolveLocalSource resolves a module source found in dir to the
// directory it names, if it is a local path inside the repository.
func resolveLocalSource(dir, source string) (string, bool) {
	// Like OpenTofu and Terraform, accept Windows separators in local paths.
	source = strings.ReplaceAll(source, `\`, "/")
	if !strings.HasPrefix(source, "./") && !strings.HasPrefix(source, "../") {
		return "", false
	}
	target := path.Join(dir, source)
	if target == ".." || strings.HasPrefix(target, "../") {
		return "", false
	}
	return target, true
}

var terraformBlock = hcl.BlockHeaderSchema{Type: "terraform"}

// RequiredVersion returns the required_version constraint from a
// `terraform { required_version = "..." }` block in the configuration files
// of dir (relative to repoDir), "" when there is none. If several files set
// it, the constraints are joined with ", " in file name order
// (go-version reads that as "all of"). As in LoadModuleGraph, syntax errors
// are left for the plan to report and a constraint that is not a literal
// string is ignored.
func RequiredVersion(repoDir, dir string) (string, error) {
	abs := filepath.Join(repoDir, filepath.FromSlash(dir))
	entries, err := os.ReadDir(abs)
	if err != nil {
		return "", fmt.Errorf("reading required_version in %s: %w", dir, err)
	}
	var constraints []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !isConfigFile(e.Name()) {
			continue
		}
		name := filepath.Join(abs, e.Name())
		src, err := os.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("reading required_version in %s: %w", dir, err)
		}
		constraints = append(constraints, blockStrings(parseConfig(name, src), terraformBlock, "required_version")...)
	}
	return strings.Join(constraints, ", "), nil
}

func isJSON(name string) bool { return strings.HasSuffix(name, ".json") }

// parseConfig parses src as HCL's native syntax or, for a .json file, its
// JSON syntax. Diagnostics are dropped: the file holds what HCL could
// recover, and a plan will report the errors.
func parseConfig(name string, src []byte) *hcl.File {
	if isJSON(name) {
		f, _ := hcljson.Parse(src, name)
		return f
	}
	f, _ := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	return f
}

// blockStrings returns the values of attribute attr in the top-level
// blocks of f that block describes, where those are literal strings.
func blockStrings(f *hcl.File, block hcl.BlockHeaderSchema, attr string) []string {
	if f == nil {
		return nil
	}
	var values []string
	add := func(expr hcl.Expression) {
		if v, ok := literalString(expr); ok {
			values = append(values, v)
		}
	}
	// Native syntax: walk the syntax tree, far cheaper than decoding it.
	if body, ok := f.Body.(*hclsyntax.Body); ok {
		for _, b := range body.Blocks {
			if b.Type == block.Type {
				if a, ok := b.Body.Attributes[attr]; ok {
					add(a.Expr)
				}
			}
		}
		return values
	}
	content, _, _ := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{block}})
	for _, b := range content.Blocks {
		c, _, _ := b.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: attr}}})
		if a, ok := c.Attributes[attr]; ok {
			add(a.Expr)
		}
	}
	return values
}

// literalString returns the value of expr if it is a string that needs no
// evaluation context: no variables, no function calls.
func literalString(expr hcl.Expression) (string, bool) {
	v, diags := expr.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}
