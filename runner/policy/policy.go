// Package policy owns policy checks of plans: Rego policies, read from
// the server's file system (never from a pull request), evaluated
// in-process with the Open Policy Agent on a plan's JSON (`tofu show
// -json`), with conftest's conventions, so that a policy written for
// conftest runs unchanged: deny, violation and warn rules (and rules
// named deny_…, violation_…, warn_…) in the package main, or in the
// namespaces a set names. Policies written in Rego v0 (conftest's older
// syntax) are read as such.
package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Set is a policy set as the server config names it.
type Set struct {
	Name string
	// Path is a .rego file, or a directory whose .rego files (but the
	// _test.rego ones) are read, below it too.
	Path string
	// Namespaces are the packages whose rules count; "main" when empty.
	Namespaces []string
}

// Limits on what a policy set may hold: a policy is the server's, but a
// path set by mistake should not read a whole disk.
const (
	maxFiles    = 1000
	maxFileSize = 1 << 20
)

// Checker evaluates policy sets. It is safe for concurrent use.
type Checker struct {
	sets []loaded
}

// loaded is a set with its policies compiled.
type loaded struct {
	Set
	query rego.PreparedEvalQuery
}

// Load reads and compiles the policy sets. An error names the set and
// the file that cannot be used.
func Load(ctx context.Context, sets []Set) (*Checker, error) {
	c := &Checker{}
	for _, s := range sets {
		modules, err := readModules(s.Path)
		if err != nil {
			return nil, fmt.Errorf("policy set %s: %w", s.Name, err)
		}
		if len(modules) == 0 {
			return nil, fmt.Errorf("policy set %s: no .rego file in %s", s.Name, s.Path)
		}
		if len(s.Namespaces) == 0 {
			s.Namespaces = []string{"main"}
		}
		// A set whose rules are all elsewhere would pass every plan.
		if !slices.ContainsFunc(modules, func(m *ast.Module) bool { return counts(m, s.Namespaces) }) {
			return nil, fmt.Errorf("policy set %s: no deny, violation or warn rule in package %s", s.Name, strings.Join(s.Namespaces, ", "))
		}
		opts := []func(*rego.Rego){rego.Query("data")}
		for _, m := range modules {
			opts = append(opts, rego.ParsedModule(m))
		}
		q, err := rego.New(opts...).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("policy set %s: %w", s.Name, err)
		}
		c.sets = append(c.sets, loaded{Set: s, query: q})
	}
	return c, nil
}

// counts reports whether m, in one of namespaces, has a rule that counts.
func counts(m *ast.Module, namespaces []string) bool {
	pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
	if !slices.Contains(namespaces, pkg) {
		return false
	}
	return slices.ContainsFunc(m.Rules, func(r *ast.Rule) bool { return ruleName.MatchString(r.Head.Name.String()) })
}

// readModules parses the policies at path: Rego v1, or v0 for a file
// that only parses as such.
func readModules(path string) ([]*ast.Module, error) {
	var files []string
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() || !strings.HasSuffix(p, ".rego") || strings.HasSuffix(p, "_test.rego"):
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s is not a regular file", p)
		case len(files) == maxFiles:
			return fmt.Errorf("more than %d .rego files under %s", maxFiles, path)
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var modules []*ast.Module
	for _, f := range files {
		b, err := readBounded(f)
		if err != nil {
			return nil, err
		}
		m, err := ast.ParseModuleWithOpts(f, string(b), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			var v0err error
			if m, v0err = ast.ParseModuleWithOpts(f, string(b), ast.ParserOptions{RegoVersion: ast.RegoV0}); v0err != nil {
				return nil, err // the v1 error: what a new policy should read
			}
		}
		modules = append(modules, m)
	}
	return modules, nil
}

func readBounded(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	return os.ReadFile(path)
}

// Result is what one policy set said of a plan.
type Result struct {
	Set string
	// Failures are the messages of deny and violation rules; Warnings
	// those of warn rules. A set passes without failures.
	Failures, Warnings []string
}

// Passed reports whether the set found nothing to deny.
func (r Result) Passed() bool { return len(r.Failures) == 0 }

// ruleName matches the rules that count, as conftest reads them.
var ruleName = regexp.MustCompile(`^(deny|violation|warn)(_[A-Za-z0-9_]+)?$`)

// Check evaluates each set on plan, a plan's JSON, and returns a result
// per set, in the order they were loaded.
func (c *Checker) Check(ctx context.Context, plan []byte) ([]Result, error) {
	var input any
	if err := json.Unmarshal(plan, &input); err != nil {
		return nil, fmt.Errorf("policy: the plan's JSON: %w", err)
	}
	var results []Result
	for _, s := range c.sets {
		rs, err := s.query.Eval(ctx, rego.EvalInput(input))
		if err != nil {
			return nil, fmt.Errorf("policy set %s: %w", s.Name, err)
		}
		res := Result{Set: s.Name}
		if len(rs) > 0 && len(rs[0].Expressions) > 0 {
			data, _ := rs[0].Expressions[0].Value.(map[string]any)
			for _, ns := range s.Namespaces {
				collect(&res, lookup(data, strings.Split(ns, ".")))
			}
		}
		results = append(results, res)
	}
	return results, nil
}

// lookup walks data down path, a package's name parts.
func lookup(data map[string]any, path []string) map[string]any {
	for _, p := range path {
		next, ok := data[p].(map[string]any)
		if !ok {
			return nil
		}
		data = next
	}
	return data
}

// collect adds the messages of pkg's rules that count to res.
func collect(res *Result, pkg map[string]any) {
	names := make([]string, 0, len(pkg))
	for name := range pkg {
		if ruleName.MatchString(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		msgs := messages(pkg[name])
		if strings.HasPrefix(name, "warn") {
			res.Warnings = append(res.Warnings, msgs...)
		} else {
			res.Failures = append(res.Failures, msgs...)
		}
	}
}

// messages are what a rule's value says: its strings, the msg of its
// objects (violation's shape), or "true" for a rule that is only true.
func messages(v any) []string {
	switch v := v.(type) {
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, messages(e)...)
		}
		slices.Sort(out)
		return out
	case string:
		return []string{v}
	case map[string]any:
		if msg, ok := v["msg"].(string); ok {
			return []string{msg}
		}
		b, _ := json.Marshal(v)
		return []string{string(b)}
	case bool:
		if v {
			return []string{"true"}
		}
		return nil
	}
	return []string{fmt.Sprint(v)}
}
