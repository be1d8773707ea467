package vcstest

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// classifiers are GraphQL's ReportedContentClassifiers.
var classifiers = []string{"SPAM", "ABUSE", "OFF_TOPIC", "OUTDATED", "DUPLICATE", "RESOLVED"}

var inputVar = regexp.MustCompile(`^\s*input\s*:\s*\$(\w+)\s*$`)

// gqlError is one entry of a GraphQL answer's errors.
type gqlError struct {
	Type       string         `json:"type,omitempty"`
	Path       []string       `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
	Message    string         `json:"message"`
}

// graphQL answers POST /api/graphql. The schema is one mutation,
// minimizeComment, on comments posted through the REST API, and one
// query, repository(owner, name) { pullRequest(number) { reviewDecision }
// } (graphql_repo.go); any other field is unknown. As on GitHub, errors
// are answered 200 with an errors array.
func (g *GitHub) graphQL(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if !decodeJSON(w, r, &in) {
		return
	}
	if strings.TrimSpace(in.Query) == "" {
		gqlFail(w, gqlError{Message: "A query attribute must be specified and must be a string."})
		return
	}
	op, fields, err := parseOperation(in.Query)
	if err != nil {
		gqlFail(w, gqlError{Message: err.Error()})
		return
	}
	root := &gqlObject{typename: "Query", fields: map[string]any{"repository": repositoryObject("", nil)}}
	if op == "mutation" {
		root = &gqlObject{typename: "Mutation", fields: map[string]any{"minimizeComment": minimizePayload(true, "")}}
	}
	// Check every field exists before anything changes.
	if _, errs := root.project(fields, nil); len(errs) > 0 {
		gqlFail(w, errs...)
		return
	}

	data := map[string]any{}
	var errs []gqlError
	for _, f := range fields {
		switch f.name {
		case "__typename":
			data[f.key] = root.typename
		case "minimizeComment":
			payload, err := g.minimizeComment(f, in.Variables, g.callerOf(r).token)
			if err != nil {
				err.Path = []string{f.key}
				data[f.key], errs = nil, append(errs, *err)
				continue
			}
			data[f.key], _ = payload.project(f.sel, []string{f.key})
		case "repository":
			var fieldErrs []gqlError
			data[f.key], fieldErrs = g.repositoryField(f, in.Variables, g.callerOf(r).token)
			errs = append(errs, fieldErrs...)
		}
	}
	out := map[string]any{"data": data}
	if len(errs) > 0 {
		out["errors"] = errs
	}
	writeJSON(w, http.StatusOK, out)
}

// minimizeComment carries out the mutation for field f: it minimizes the
// comment input.subjectId names and returns the payload, or nil and why.
// An installation token tok (nil for the personal token) reaches only
// its account's comments.
func (g *GitHub) minimizeComment(f gqlField, vars map[string]any, tok *instToken) (*gqlObject, *gqlError) {
	var id, classifier string
	if m := inputVar.FindStringSubmatch(f.args); m != nil { // githubv4 style: one $input
		input, _ := vars[m[1]].(map[string]any)
		id, _ = input["subjectId"].(string)
		classifier, _ = input["classifier"].(string)
	} else {
		id, _ = gqlArg(f.args, "subjectId", vars).(string)
		classifier, _ = gqlArg(f.args, "classifier", vars).(string)
	}
	if id == "" {
		return nil, &gqlError{Message: "Argument 'subjectId' on InputObject 'MinimizeCommentInput' is required. Expected type ID!"}
	}
	if !slices.Contains(classifiers, classifier) {
		return nil, &gqlError{Message: "Argument 'classifier' on InputObject 'MinimizeCommentInput' has an invalid value (" +
			classifier + "). Expected type 'ReportedContentClassifiers!'."}
	}

	reason := strings.ReplaceAll(strings.ToLower(classifier), "_", "-")
	g.mu.Lock()
	c := g.commentLocked(func(c *comment) bool { return commentNodeID(c.ID) == id })
	forbidden := false
	if c != nil && tok != nil {
		owner, name, _ := strings.Cut(c.repo, "/")
		forbidden = !tok.covers(owner, name)
	}
	if c != nil && !forbidden {
		c.Minimized, c.MinimizedReason = true, reason
	}
	g.mu.Unlock()
	if forbidden {
		return nil, &gqlError{Type: "FORBIDDEN", Message: "Resource not accessible by integration"}
	}
	if c == nil {
		return nil, &gqlError{Type: "NOT_FOUND", Message: "Could not resolve to a node with the global id of '" + id + "'"}
	}
	return minimizePayload(true, reason), nil
}

// minimizePayload is a MinimizeCommentPayload.
func minimizePayload(minimized bool, reason string) *gqlObject {
	return &gqlObject{typename: "MinimizeCommentPayload", fields: map[string]any{
		"clientMutationId": nil,
		"minimizedComment": &gqlObject{typename: "IssueComment", fields: map[string]any{
			"isMinimized": minimized, "minimizedReason": reason, "viewerCanMinimize": true,
		}},
	}}
}

// gqlObject is a value of a GraphQL object type: scalars, or *gqlObject
// for fields of object type.
type gqlObject struct {
	typename string
	fields   map[string]any
}

// project selects fields out of o as GraphQL answers them, keyed by alias,
// or reports the fields o's type does not have.
func (o *gqlObject) project(sel []gqlField, path []string) (map[string]any, []gqlError) {
	out := map[string]any{}
	var errs []gqlError
	for _, f := range sel {
		if f.name == "__typename" {
			out[f.key] = o.typename
			continue
		}
		v, ok := o.fields[f.name]
		if !ok {
			errs = append(errs, gqlError{
				Path:       append(slices.Clone(path), f.key),
				Extensions: map[string]any{"code": "undefinedField", "typeName": o.typename, "fieldName": f.name},
				Message:    "Field '" + f.name + "' doesn't exist on type '" + o.typename + "'",
			})
			continue
		}
		if sub, isObject := v.(*gqlObject); isObject {
			if sub == nil {
				out[f.key] = nil
				continue
			}
			projected, subErrs := sub.project(f.sel, append(slices.Clone(path), f.key))
			out[f.key], errs = projected, append(errs, subErrs...)
			continue
		}
		out[f.key] = v
	}
	return out, errs
}

// gqlFail answers a request that could not run at all: errors, no data.
func gqlFail(w http.ResponseWriter, errs ...gqlError) {
	writeJSON(w, http.StatusOK, map[string]any{"errors": errs})
}
