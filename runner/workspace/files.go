package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/atoll-iac/atoll/workflows"
)

// Remove deletes every workspace of a pull request, each once no job
// uses it, and lets go of the commits it held in its repository's mirror.
func (ws *Workspaces) Remove(ctx context.Context, forge, repo string, pull int) error {
	dir, err := ws.each(ctx, forge, repo, pull, os.RemoveAll)
	if err != nil {
		return err
	}
	os.Remove(dir) // now empty, unless a job started meanwhile
	return ws.dropRefs(ctx, forge, repo, pull)
}

// WaitIdle waits until no job of this process uses a workspace of the
// pull request: a job cut short may still be winding down in one, and
// what it writes must not mix with what comes next.
func (ws *Workspaces) WaitIdle(ctx context.Context, forge, repo string, pull int) error {
	_, err := ws.each(ctx, forge, repo, pull, func(string) error { return nil })
	return err
}

// each calls fn with the root of each workspace of the pull request,
// holding the workspace meanwhile, and returns the pull request's
// directory.
func (ws *Workspaces) each(ctx context.Context, forge, repo string, pull int, fn func(root string) error) (string, error) {
	rel, err := PullPath(forge, repo, pull)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(ws.root, rel)
	roots, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return "", err
	}
	for _, root := range roots {
		done, err := ws.acquire(ctx, root)
		if err != nil {
			return "", err
		}
		err = fn(root)
		done()
		if err != nil {
			return "", fmt.Errorf("workspace: %s: %w", root, err)
		}
	}
	return dir, nil
}

// ReadFile reads the file name (slash-separated, relative to the
// checkout's root) when it is a regular file inside the checkout, of at
// most max bytes, as workflows.ReadFile does; nil when there is no such
// file, or it is something else, such as a link, which a pull request
// could point at any file of the server.
func (w *Workspace) ReadFile(name string, max int64) ([]byte, error) {
	root, err := os.OpenRoot(w.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	b, err := workflows.ReadFile(root, name, max)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, workflows.ErrNotRegular) {
		return nil, nil
	}
	return b, err
}

// WriteFile puts data as the file name (slash-separated, relative to the
// checkout's root), inside the checkout only, replacing whatever the
// checkout had there: a link is replaced, not what it points to.
func (w *Workspace) WriteFile(name string, data []byte) error {
	root, err := os.OpenRoot(w.Dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tmp := name + ".atoll-tmp"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err := errors.Join(err, f.Close()); err != nil {
		root.Remove(tmp)
		return err
	}
	return root.Rename(tmp, name)
}
