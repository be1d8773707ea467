package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
)

// versionLine is the line of `version` output that names the release.
var versionLine = regexp.MustCompile(`(?m)^(?:OpenTofu|Terraform) v\S+`)

// version says which tool, and which version of it, each project of the
// pull request runs with: the binary that made its plan, or the server's.
func (s *Server) version(ctx context.Context, jc *jobContext, forge vcs.Forge, pull vcs.PullRequest) error {
	recs, err := s.workspaces.Records(pull.Repo.FullName, pull.Number)
	if err != nil {
		return err
	}
	versions := map[string]string{} // binary path → first line of `version`
	versionOf := func(t runner.Tool) string {
		if v, ok := versions[t.Path]; ok {
			return v
		}
		home := filepath.Join(s.dataDir, "tmp", "version-home")
		out, err := s.runner.Run(ctx, runner.Step{Tool: t, Dir: os.TempDir(), Home: home, Args: []string{"version"}})
		v := versionLine.FindString(out)
		if err != nil || v == "" {
			jc.log.Error("running version", "tool", t.Path, "err", err)
			v = "unknown: `version` failed"
		}
		versions[t.Path] = v
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
