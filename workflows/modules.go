package workflows

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"

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

	mu         sync.Mutex        // guards dependents
	dependents map[int32][]int32 // memoised transitive closures of usedBy, sorted
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
//
// Symbolic links are not followed. Directories are read concurrently, but
// skip is called from one goroutine at a time.
func LoadModuleGraph(repoDir string, skip func(dir string) bool) (*ModuleGraph, error) {
	found, err := readModuleDirs(repoDir, skip)
	if err != nil {
		return nil, err
	}

	g := &ModuleGraph{dependents: make(map[int32][]int32)}
	slices.SortFunc(found, func(a, b moduleDir) int { return strings.Compare(a.dir, b.dir) })
	g.dirs = make([]string, len(found))
	g.index = make(map[string]int32, len(found))
	for i, d := range found {
		g.dirs[i] = d.dir
		g.index[d.dir] = int32(i)
	}

	type edge struct{ module, caller int32 }
	var edges []edge
	for caller, d := range found {
		for _, src := range d.sources {
			target, ok := resolveLocalSource(d.dir, src)
			if !ok {
				continue
			}
			if module, ok := g.index[target]; ok && module != int32(caller) {
				edges = append(edges, edge{module, int32(caller)})
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

// Dirs are the directories that hold configuration, sorted.
func (g *ModuleGraph) Dirs() []string { return slices.Clone(g.dirs) }

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

// moduleDir is a directory holding configuration, with the literal sources
// of its module blocks.
type moduleDir struct {
	dir     string // relative to the repository root, slash-separated, "." for the root
	sources []string
}

// moduleReadersPerCPU is how many goroutines per CPU read the repository: file
// system calls spend more time waiting than computing.
const moduleReadersPerCPU = 4

// readModuleDirs walks repoDir, leaving out .git, .terraform and the
// directories skip reports, and returns every directory holding
// configuration. Several directories are read at once, but skip is called
// from one goroutine at a time.
func readModuleDirs(repoDir string, skip func(dir string) bool) ([]moduleDir, error) {
	if skip != nil && skip(".") {
		return nil, nil
	}
	root, err := os.OpenRoot(repoDir)
	if err != nil {
		return nil, fmt.Errorf("loading module graph: %w", err)
	}
	defer root.Close()
	w := &moduleWalker{root: root, skip: skip, helpers: make(chan struct{}, moduleReadersPerCPU*runtime.GOMAXPROCS(0)-1)}
	w.visit(".")
	w.wg.Wait()
	return w.found, w.err
}

// moduleWalker is the state of readModuleDirs.
type moduleWalker struct {
	root    *os.Root // the checkout
	skip    func(dir string) bool
	helpers chan struct{} // a slot for each goroutine helping the first
	wg      sync.WaitGroup

	mu    sync.Mutex // guards calls to skip and what follows
	found []moduleDir
	err   error // the first error, after which the walk winds down
}

// visit reads dir, then visits its subdirectories: on a new goroutine
// while there is a free slot for one, else on this one.
func (w *moduleWalker) visit(dir string) {
	subdirs, found, err := w.read(dir)

	w.mu.Lock()
	switch {
	case w.err != nil:
		subdirs = nil
	case err != nil:
		w.err = fmt.Errorf("loading module graph: %w", err)
		subdirs = nil
	case found != nil:
		w.found = append(w.found, *found)
	}
	if w.skip != nil {
		subdirs = slices.DeleteFunc(subdirs, w.skip)
	}
	w.mu.Unlock()

	for _, sub := range subdirs {
		select {
		case w.helpers <- struct{}{}:
			w.wg.Go(func() {
				defer func() { <-w.helpers }()
				w.visit(sub)
			})
		default:
			w.visit(sub)
		}
	}
}

// read lists dir and reads its configuration files. It returns dir's
// subdirectories, not the links among them, and, if it holds
// configuration, what its module blocks say.
func (w *moduleWalker) read(dir string) (subdirs []string, found *moduleDir, err error) {
	d, err := w.root.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	defer d.Close()
	entries, err := fs.ReadDir(d.FS(), ".")
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case e.IsDir() && name != ".git" && name != ".terraform":
			subdirs = append(subdirs, path.Join(dir, name))
		case e.Type().IsRegular() && isConfigFile(name):
			// Every file counts, x.tf beside x.tofu too, though OpenTofu
			// reads only the second and Terraform only the first: the
			// graph serves projects of either distribution, and a module
			// source too many at worst plans a project more, never fewer.
			src, err := readHCL(d, name)
			if err != nil {
				return nil, nil, err
			}
			if found == nil {
				found = &moduleDir{dir: dir}
			}
			found.sources = append(found.sources, moduleSources(path.Join(dir, name), src)...)
		}
	}
	return subdirs, found, nil
}

// readHCL reads the configuration file name in dir, a directory of the
// checkout. One that ReadFile will not read (too large, or no longer a
// regular file) reads as empty: like a file that does not parse, it is
// left for the plan to report.
func readHCL(dir *os.Root, name string) ([]byte, error) {
	src, err := ReadFile(dir, name, maxHCLFile)
	if fe := (*FileError)(nil); errors.As(err, &fe) {
		return nil, nil
	}
	return src, err
}

var moduleBlockSchema = hcl.BlockHeaderSchema{Type: "module", LabelNames: []string{"name"}}

// moduleSources returns the literal source of every top-level module block
// in the configuration file name holding src.
func moduleSources(name string, src []byte) []string {
	if isJSONConfig(name) {
		return hclBlockStrings(parseHCL(name, src), moduleBlockSchema, "source")
	}
	// Native syntax cannot escape a block type, so a file that never spells
	// "module" has no module block; most files don't, and looking is much
	// cheaper than even skimming.
	if !bytes.Contains(src, []byte("module")) {
		return nil
	}
	if sources, ok := skimModuleSources(src); ok {
		return sources
	}
	return hclBlockStrings(parseHCL(name, src), moduleBlockSchema, "source")
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

var terraformBlockSchema = hcl.BlockHeaderSchema{Type: "terraform"}

// RequiredVersion returns the required_version constraint from a
// `terraform { required_version = "..." }` block in the configuration files
// of dir (relative to repoDir), "" when there is none. It reads the files
// that distribution reads: Terraform ignores .tofu and .tofu.json files;
// OpenTofu (also for the zero Distribution: it is atoll's default) reads
// x.tofu instead of x.tf and x.tofu.json instead of x.tf.json when a
// directory has both. If several files set it, the constraints are joined
// with ", " in file name order (go-version reads that as "all of"). As in
// LoadModuleGraph, syntax errors are left for the plan to report and a
// constraint that is not a literal string is ignored.
func RequiredVersion(repoDir, dir string, distribution Distribution) (string, error) {
	if distribution != Terraform {
		distribution = OpenTofu
	}
	var constraints []string
	err := eachConfigFile(repoDir, dir, distribution, func(f *hcl.File) {
		constraints = append(constraints, hclBlockStrings(f, terraformBlockSchema, "required_version")...)
	})
	if err != nil {
		return "", fmt.Errorf("reading required_version in %s: %w", dir, err)
	}
	return strings.Join(constraints, ", "), nil
}

// DeclaresBackend reports whether the configuration in dir (relative to
// repoDir) says where its state lives, with a backend or cloud block: the
// mark of a root, even where other directories use it as a module. It
// looks in every file, .tf and .tofu alike: the project may be run by
// either distribution, and a backend in a file one of them ignores still
// marks the directory as meant to be a root.
func DeclaresBackend(repoDir, dir string) (bool, error) {
	found := false
	err := eachConfigFile(repoDir, dir, "", func(f *hcl.File) {
		if f == nil {
			return
		}
		content, _, _ := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{terraformBlockSchema}})
		for _, b := range content.Blocks {
			inner, _, _ := b.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "backend", LabelNames: []string{"type"}}, {Type: "cloud"}}})
			found = found || len(inner.Blocks) > 0
		}
	})
	if err != nil {
		return false, fmt.Errorf("looking for a backend in %s: %w", dir, err)
	}
	return found, nil
}

// eachConfigFile parses each configuration file of dir (relative to
// repoDir), in file name order: the files that distribution reads, or
// every one for the zero Distribution.
func eachConfigFile(repoDir, dir string, distribution Distribution, fn func(*hcl.File)) error {
	_, err := DirPath(repoDir, dir)
	if errors.Is(err, ErrOutsideRepo) {
		return nil // not the repository's files: the plan refuses it
	}
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(repoDir)
	if err != nil {
		return err
	}
	defer root.Close()
	d, err := root.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	entries, err := fs.ReadDir(d.FS(), ".")
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, e := range entries {
		if e.Type().IsRegular() && isConfigFile(e.Name()) {
			present[e.Name()] = true
		}
	}
	for _, e := range entries {
		if !present[e.Name()] || !distribution.reads(e.Name(), present) {
			continue
		}
		src, err := readHCL(d, e.Name())
		if err != nil {
			return err
		}
		fn(parseHCL(path.Join(dir, e.Name()), src))
	}
	return nil
}

func isJSONConfig(name string) bool { return strings.HasSuffix(name, ".json") }

// parseHCL parses src as HCL's native syntax or, for a .json file, its
// JSON syntax. Diagnostics are dropped: the file holds what HCL could
// recover, and a plan will report the errors.
func parseHCL(name string, src []byte) *hcl.File {
	if isJSONConfig(name) {
		f, _ := hcljson.Parse(src, name)
		return f
	}
	f, _ := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	return f
}

// hclBlockStrings returns the values of attribute attr in the top-level
// blocks of f that block describes, where those are literal strings.
func hclBlockStrings(f *hcl.File, block hcl.BlockHeaderSchema, attr string) []string {
	if f == nil {
		return nil
	}
	var values []string
	add := func(expr hcl.Expression) {
		if v, ok := hclLiteralString(expr); ok {
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

// hclLiteralString returns the value of expr if it is a string that needs no
// evaluation context: no variables, no function calls.
func hclLiteralString(expr hcl.Expression) (string, bool) {
	v, diags := expr.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}
