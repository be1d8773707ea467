package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
)

// version says which tool, and which version of it, each project of the
// pull request runs with: the binary that made its plan, or the server's.
func (s *Server) version(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest) error {
	recs, err := s.workspaces.Records(ctx, pull.Repo.FullName, pull.Number)
	if err != nil {
		return err
	}
	versionOf := func(t runner.Tool) string {
		v, err := s.runner.Version(ctx, t)
		if err != nil {
			jc.log.Error("asking the tool for its version", "tool", t.Path, "err", err)
			return "unknown: `version` failed"
		}
		return v
	}
	var b strings.Builder
	if len(recs) == 0 {
		t := s.runner.Tool()
		fmt.Fprintf(&b, "No project of this pull request is planned yet; plans will run with **%s** (`%s`).\n", versionOf(t), filepath.Base(t.Path))
	} else {
		b.WriteString("| project | workspace | tool | version |\n| --- | --- | --- | --- |\n")
		for _, rec := range recs {
			fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", rec.Dir, rec.Workspace, rec.Tool.Distribution, versionOf(rec.Tool))
		}
	}
	_, err = forge.Comment(ctx, pull.Repo, pull.Number, b.String())
	return err
}
