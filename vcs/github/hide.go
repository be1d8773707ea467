package github

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/atoll-iac/atoll/vcs"
)

const minimizeMutation = `mutation($id: ID!, $classifier: ReportedContentClassifiers!) {
  minimizeComment(input: {subjectId: $id, classifier: $classifier}) { minimizedComment { isMinimized } }
}`

// HideComment implements vcs.CommentHider: the comment is minimized as
// outdated, which GitHub offers only through GraphQL.
func (f *Forge) HideComment(ctx context.Context, repo vcs.Repo, number int, id int64) error {
	owner, name := splitRepo(repo.FullName)
	c, _, err := f.client.Issues.GetComment(ctx, owner, name, id)
	if err != nil {
		return fmt.Errorf("github: fetching comment %d on %s: %w", id, repo.FullName, err)
	}
	vars := map[string]any{"id": c.GetNodeID(), "classifier": "OUTDATED"}
	if err := f.graphQL(forOwner(ctx, repo.FullName), minimizeMutation, vars, nil); err != nil {
		return fmt.Errorf("github: minimizing comment %d on %s: %w", id, repo.FullName, err)
	}
	return nil
}

// graphQL sends query with vars to the GraphQL endpoint and decodes the
// answer's data into data (when not nil); an answer with errors is the
// first one's message. For an App, ctx says whose repositories the query
// is about (forOwner): the endpoint's path does not.
func (f *Forge) graphQL(ctx context.Context, query string, vars map[string]any, data any) error {
	req, err := f.client.NewRequest("POST", f.graphQLURL(), map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	var resp struct {
		Data   any                        `json:"data"`
		Errors []struct{ Message string } `json:"errors"`
	}
	resp.Data = data
	if _, err := f.client.Do(ctx, req, &resp); err != nil {
		return err
	}
	if len(resp.Errors) > 0 {
		return errors.New(resp.Errors[0].Message)
	}
	return nil
}

// graphQLURL is the GraphQL endpoint beside the REST root: api.github.com's
// is /graphql, GitHub Enterprise's /api/graphql beside /api/v3/.
func (f *Forge) graphQLURL() string {
	u := *f.client.BaseURL
	if strings.HasSuffix(u.Path, "/api/v3/") {
		u.Path = strings.TrimSuffix(u.Path, "v3/") + "graphql"
	} else {
		u.Path += "graphql"
	}
	return u.String()
}
