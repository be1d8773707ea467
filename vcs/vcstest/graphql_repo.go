package vcstest

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// repositoryField answers Query.repository(owner, name) for field f: the
// repository's nameWithOwner and pullRequest(number) { number
// reviewDecision }, or null and a NOT_FOUND error, as GitHub answers,
// also for a repository an installation token tok (nil for the personal
// token) does not reach.
func (g *GitHub) repositoryField(f gqlField, vars map[string]any, tok *instToken) (any, []gqlError) {
	owner, _ := gqlArg(f.args, "owner", vars).(string)
	name, _ := gqlArg(f.args, "name", vars).(string)
	fullName := owner + "/" + name
	g.mu.Lock()
	known := g.repos[fullName] != nil && (tok == nil || tok.covers(owner, name))
	g.mu.Unlock()
	if !known {
		return nil, []gqlError{{Type: "NOT_FOUND", Path: []string{f.key},
			Message: "Could not resolve to a Repository with the name '" + fullName + "'."}}
	}
	out := map[string]any{}
	var errs []gqlError
	for _, sub := range f.sel {
		path := []string{f.key, sub.key}
		if sub.name != "pullRequest" {
			v, subErrs := repositoryObject(fullName, nil).project([]gqlField{sub}, []string{f.key})
			out[sub.key], errs = v[sub.key], append(errs, subErrs...)
			continue
		}
		number, ok := gqlArg(sub.args, "number", vars).(int)
		g.mu.Lock()
		var p *pull
		if ok {
			p = g.statePullLocked(fullName, number)
		}
		var decision any
		if p != nil && p.reviewDecision != "" {
			decision = p.reviewDecision
		}
		g.mu.Unlock()
		if p == nil {
			out[sub.key], errs = nil, append(errs, gqlError{Type: "NOT_FOUND", Path: path,
				Message: fmt.Sprintf("Could not resolve to a PullRequest with the number of %v.", gqlArg(sub.args, "number", vars))})
			continue
		}
		v, subErrs := pullObject(number, decision).project(sub.sel, path)
		out[sub.key], errs = v, append(errs, subErrs...)
	}
	return out, errs
}

// repositoryObject is a Repository; pull is its pullRequest, a blank one
// when nil, for checking a query's fields.
func repositoryObject(fullName string, pull *gqlObject) *gqlObject {
	if pull == nil {
		pull = pullObject(0, nil)
	}
	return &gqlObject{typename: "Repository", fields: map[string]any{
		"nameWithOwner": fullName, "pullRequest": pull,
	}}
}

// pullObject is a PullRequest: its number and reviewDecision (a string,
// or nil for null).
func pullObject(number int, decision any) *gqlObject {
	return &gqlObject{typename: "PullRequest", fields: map[string]any{
		"number": number, "reviewDecision": decision,
	}}
}

// gqlArgs matches each "name: value" in a field's argument text, an
// input object's included.
var gqlArgs = regexp.MustCompile(`(?:^|[\s,({])(\w+)\s*:\s*(\$\w+|"(?:[^"\\]|\\.)*"|-?\d+|\w+)`)

// gqlArg is the value of argument name in a field's argument text: a
// variable's value, a string, an int, or an enum value's name; nil when
// absent. JSON numbers in variables are ints when whole.
func gqlArg(args, name string, vars map[string]any) any {
	found := gqlArgs.FindAllStringSubmatch(args, -1)
	i := slices.IndexFunc(found, func(m []string) bool { return m[1] == name })
	if i < 0 {
		return nil
	}
	v := found[i][2]
	switch {
	case strings.HasPrefix(v, "$"):
		val := vars[v[1:]]
		if f, ok := val.(float64); ok && f == float64(int(f)) {
			return int(f)
		}
		return val
	case strings.HasPrefix(v, `"`):
		s, _ := strconv.Unquote(v)
		return s
	}
	if n, err := strconv.Atoi(v); err == nil {
		return n
	}
	return v
}
