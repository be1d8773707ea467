package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/atoll-iac/atoll/runner/tool"
)

// version says which tool, and which version of it, each project of the
// pull request runs with: the binary that made its plan, or the server's.
func (j *Job) version(ctx context.Context) error {
	recs, err := j.r.plans.Records(ctx, j.plansPull())
	if err != nil {
		return err
	}
	versionOf := func(t tool.Tool) string {
		v, err := j.r.exec.Version(ctx, t)
		if err != nil {
			j.Log.Error("asking the tool for its version", "tool", t.Path, "err", err)
			return "unknown: `version` failed"
		}
		return v
	}
	var b strings.Builder
	if len(recs) == 0 {
		t := j.r.exec.Tool()
		fmt.Fprintf(&b, "No project of this pull request is planned yet; plans will run with **%s** (`%s`).\n", versionOf(t), filepath.Base(t.Path))
	} else {
		b.WriteString("| project | workspace | tool | version |\n| --- | --- | --- | --- |\n")
		for _, rec := range recs {
			fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", rec.Dir, rec.Workspace, rec.Tool.Distribution, versionOf(rec.Tool))
		}
	}
	_, err = j.Forge.Comment(ctx, j.Pull.Repo, j.Pull.Number, b.String())
	return err
}
