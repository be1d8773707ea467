package tool

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"time"
)

// versionLine is the line of `version` output that names the release.
var versionLine = regexp.MustCompile(`(?m)^(?:OpenTofu|Terraform) v\S+`)

// toolFile identifies a binary as it is on disk, so that one replaced in
// place is asked for its version again.
type toolFile struct {
	path  string
	size  int64
	mtime time.Time
}

// Version returns the release of t, as "OpenTofu v1.10.7", asking the
// binary once for each state of its file.
func (r *Runner) Version(ctx context.Context, t Tool) (string, error) {
	fi, err := os.Stat(t.Path)
	if err != nil {
		return "", err
	}
	key := toolFile{t.Path, fi.Size(), fi.ModTime()}
	r.mu.Lock()
	v, ok := r.versions[key]
	r.mu.Unlock()
	if ok {
		return v, nil
	}
	dir, err := os.MkdirTemp("", "atoll-version-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	out, err := r.Run(ctx, Step{Tool: t, Dir: dir, Home: dir, Args: []string{"version"}})
	if err != nil {
		return "", fmt.Errorf("%s version: %w", t.Path, err)
	}
	if v = versionLine.FindString(out); v == "" {
		return "", fmt.Errorf("%s version printed no release", t.Path)
	}
	r.mu.Lock()
	r.versions[key] = v
	r.mu.Unlock()
	return v, nil
}
