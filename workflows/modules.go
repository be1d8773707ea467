package workflows

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path"
	"path/filepath"
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
	w := &moduleWalker{repoDir: repoDir, skip: skip, helpers: make(chan struct{}, moduleReadersPerCPU*runtime.GOMAXPROCS(0)-1)}
	w.visit(".")
	w.wg.Wait()
	return w.found, w.err
}

// moduleWalker is the state of readModuleDirs.
type moduleWalker struct {
	repoDir string
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
// subdirectories and, if it holds configuration, what its module blocks
// say.
func (w *moduleWalker) read(dir string) (subdirs []string, found *moduleDir, err error) {
	abs := filepath.Join(w.repoDir, filepath.FromSlash(dir))
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case e.IsDir() && name != ".git" && name != ".terraform":
			subdirs = append(subdirs, path.Join(dir, name))
		case e.Type().IsRegular() && isConfigFile(name):
			file := filepath.Join(abs, name)
			src, err := os.ReadFile(file)
			if err != nil {
				return nil, nil, err
			}
			if found == nil {
				found = &moduleDir{dir: dir}
			}
			found.sources = append(found.sources, moduleSources(file, src)...)
		}
	}
	return subdirs, found, nil
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
		constraints = append(constraints, hclBlockStrings(parseHCL(name, src), terraformBlockSchema, "required_version")...)
	}
	return strings.Join(constraints, ", "), nil
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

// skimModuleSources returns the literal sources of the top-level module
// blocks in src, a file in HCL's native syntax, without building a syntax
// tree: parsing a whole file costs far more than the few attributes that
// matter here. It follows only what decides where items begin (quoted
// strings, template sequences, heredocs, comments and brackets, as
// hclsyntax's scanner does) and hands each source expression to hclsyntax.
// ok is false when src does not hold together (an unterminated string,
// comment or heredoc, a stray bracket): the caller then leaves it to
// hclsyntax's error recovery.
func skimModuleSources(src []byte) (sources []string, ok bool) {
	s := skimmer{src: bytes.TrimPrefix(src, []byte("\xef\xbb\xbf")), atItem: true, source: -1}
	for s.i < len(s.src) {
		var ok bool
		switch s.top().kind {
		case '"':
			ok = s.quoted()
		case '<':
			ok = s.heredoc()
		default:
			ok = s.code()
		}
		if !ok {
			return nil, false
		}
	}
	return s.sources, len(s.stack) == 0
}

// skimmer is the state of skimModuleSources.
type skimmer struct {
	src     []byte
	i       int         // the next byte to read
	stack   []skimFrame // what is open at i, innermost last
	atItem  bool        // in code, the next token begins a body item
	atLine  bool        // in a heredoc, i is at the start of a line
	source  int         // where the pending source expression begins, or -1
	sources []string
}

// skimFrame is a bracket, template sequence, string or heredoc open at the
// skimmer's position.
type skimFrame struct {
	// kind is '{', '[', '(' or '$' (a template sequence: code until its
	// '}'), '"' (a quoted string) or '<' (a heredoc); 0 for the top level.
	kind   byte
	module bool   // a top-level module block's body
	marker []byte // a heredoc's closing marker
}

func (s *skimmer) top() skimFrame {
	if len(s.stack) == 0 {
		return skimFrame{}
	}
	return s.stack[len(s.stack)-1]
}

func (s *skimmer) push(f skimFrame) { s.stack = append(s.stack, f) }

func (s *skimmer) pop() { s.stack = s.stack[:len(s.stack)-1] }

// inModule reports whether the skimmer is directly in a module block's body.
func (s *skimmer) inModule() bool { return len(s.stack) == 1 && s.stack[0].module }

// code reads one token of code.
func (s *skimmer) code() bool {
	src, i := s.src, s.i
	switch c := src[i]; {
	case c == '\n':
		if s.inModule() {
			s.endSource(i + 1) // a heredoc needs its newline
		}
		s.atItem = true
		s.i++
	case c == ' ' || c == '\t' || c == '\r':
		s.i++
	case c == '#' || c == '/' && s.at(i+1) == '/':
		s.i = s.lineEnd(i) // the newline still ends the item
	case c == '/' && s.at(i+1) == '*':
		end := bytes.Index(src[i+2:], []byte("*/"))
		if end < 0 {
			return false
		}
		s.i = i + 2 + end + 2
	case c == '"':
		s.push(skimFrame{kind: '"'})
		s.i++
		s.atItem = false
	case c == '<' && s.at(i+1) == '<':
		if marker, next, ok := s.heredocStart(i + 2); ok {
			s.push(skimFrame{kind: '<', marker: marker})
			s.i = next
			s.atLine = true
		} else {
			s.i++
		}
		s.atItem = false
	case c == '{' || c == '[' || c == '(':
		s.push(skimFrame{kind: c})
		s.i++
		s.atItem = c == '{'
	case c == '}' || c == ']' || c == ')':
		open := s.top().kind
		if c == '}' && open != '{' && open != '$' || c == ']' && open != '[' || c == ')' && open != '(' {
			return false
		}
		if s.inModule() {
			s.endSource(i)
		}
		s.pop()
		s.i++
		s.atItem = false
		s.atLine = false // back in a heredoc, if any, mid-line
	case isHCLWordByte(c):
		s.word()
	default:
		s.i++
		s.atItem = false
	}
	return true
}

// word reads an identifier or number, noting where a module block's body
// or its source expression begins.
func (s *skimmer) word() {
	end := s.wordEnd(s.i)
	w, atItem := s.src[s.i:end], s.atItem
	s.i, s.atItem = end, false
	switch {
	case atItem && len(s.stack) == 0 && string(w) == "module":
		s.moduleHeader()
	case atItem && s.inModule() && string(w) == "source":
		if j := s.skipBlank(end); s.at(j) == '=' && s.at(j+1) != '=' {
			s.source = j + 1
			s.i = j + 1
		}
	}
}

// moduleHeader reads, after a top-level "module", the labels up to the
// brace that opens the block's body. If they are not a block header, it
// leaves them for code to read.
func (s *skimmer) moduleHeader() {
	for j := s.i; ; {
		j = s.skipBlank(j)
		switch c := s.at(j); {
		case c == '{':
			s.push(skimFrame{kind: '{', module: true})
			s.i, s.atItem = j+1, true
			return
		case c == '"':
			if j = s.labelEnd(j + 1); j < 0 {
				return
			}
		case isHCLWordByte(c):
			j = s.wordEnd(j)
		default:
			return
		}
	}
}

// quoted reads one character of a quoted string.
func (s *skimmer) quoted() bool {
	switch s.src[s.i] {
	case '"':
		s.pop()
		s.i++
	case '\\':
		if c := s.at(s.i + 1); c == '\n' || c == '\r' {
			return false
		}
		s.i += 2
	case '\n', '\r':
		return false
	case '$', '%':
		s.template()
	default:
		s.i++
	}
	return true
}

// heredoc reads one character of a heredoc, or its closing marker.
func (s *skimmer) heredoc() bool {
	if s.atLine {
		end := s.lineEnd(s.i)
		if end < len(s.src) && bytes.Equal(bytes.TrimSpace(s.src[s.i:end]), s.top().marker) {
			s.pop()
			s.i = end // the newline ends the item
			return true
		}
		s.atLine = false
	}
	switch s.src[s.i] {
	case '\n':
		s.atLine = true
		s.i++
	case '$', '%':
		s.template()
	default:
		s.i++
	}
	return true
}

// template reads a '$' or '%' in a string or heredoc: the start of a
// template sequence, an escaped one ("$${", "%%{") or a plain character.
func (s *skimmer) template() {
	c, i := s.src[s.i], s.i
	switch {
	case s.at(i+1) == c && s.at(i+2) == '{':
		s.i += 3
	case s.at(i+1) == '{':
		s.push(skimFrame{kind: '$'})
		s.i += 2
		s.atItem, s.atLine = false, false
	default:
		s.i++
	}
}

// endSource takes the pending source expression, which ends at end.
func (s *skimmer) endSource(end int) {
	if s.source < 0 {
		return
	}
	if v, ok := moduleSourceValue(s.src[s.source:end]); ok {
		s.sources = append(s.sources, v)
	}
	s.source = -1
}

// skipBlank returns the index of the first byte from j that is neither a
// space, a tab nor in a /* comment */.
func (s *skimmer) skipBlank(j int) int {
	for j < len(s.src) {
		switch {
		case s.src[j] == ' ' || s.src[j] == '\t':
			j++
		case s.src[j] == '/' && s.at(j+1) == '*':
			end := bytes.Index(s.src[j+2:], []byte("*/"))
			if end < 0 {
				return len(s.src)
			}
			j += 2 + end + 2
		default:
			return j
		}
	}
	return j
}

// moduleSourceValue returns the value of a source expression if it is a literal
// string.
func moduleSourceValue(expr []byte) (string, bool) {
	// Nearly every source is a plain quoted string, to be taken as it is.
	if lit, ok := bytes.CutPrefix(bytes.TrimSpace(expr), []byte(`"`)); ok {
		if lit, ok := bytes.CutSuffix(lit, []byte(`"`)); ok && !bytes.ContainsAny(lit, "\"\\$%\r\n") {
			return string(lit), true
		}
	}
	e, diags := hclsyntax.ParseExpression(expr, "", hcl.InitialPos)
	if diags.HasErrors() {
		return "", false
	}
	return hclLiteralString(e)
}

// heredocStart reads a heredoc's introducer after its "<<": an optional
// '-', the marker and a newline. It returns the marker and where the
// heredoc's first line begins.
func (s *skimmer) heredocStart(j int) (marker []byte, next int, ok bool) {
	if s.at(j) == '-' {
		j++
	}
	start := j
	if c := s.at(j); !isHCLWordByte(c) || '0' <= c && c <= '9' || c == '-' {
		return nil, 0, false
	}
	j = s.wordEnd(j)
	marker = s.src[start:j]
	if s.at(j) == '\r' {
		j++
	}
	if s.at(j) != '\n' {
		return nil, 0, false
	}
	return marker, j + 1, true
}

// labelEnd returns the index after the closing quote of a block label
// whose text begins at j, or -1 if the label does not close on its line.
func (s *skimmer) labelEnd(j int) int {
	for ; j < len(s.src); j++ {
		switch s.src[j] {
		case '"':
			return j + 1
		case '\\':
			j++
		case '\n', '\r':
			return -1
		}
	}
	return -1
}

// at returns the byte at i, or 0 past the end.
func (s *skimmer) at(i int) byte {
	if i < len(s.src) {
		return s.src[i]
	}
	return 0
}

// lineEnd returns the index of the newline that ends the line holding i,
// or the end of the source.
func (s *skimmer) lineEnd(i int) int {
	if n := bytes.IndexByte(s.src[i:], '\n'); n >= 0 {
		return i + n
	}
	return len(s.src)
}

// isHCLWordByte reports whether c can be part of an identifier or a number.
// Bytes of multi-byte characters count: outside strings and comments,
// valid HCL holds them only in identifiers.
func isHCLWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c >= 0x80
}

// wordEnd returns the index after the word that begins at j.
func (s *skimmer) wordEnd(j int) int {
	for j < len(s.src) && isHCLWordByte(s.src[j]) {
		j++
	}
	return j
}
