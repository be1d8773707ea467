package workspace

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A repository's mirror is the one store of the git objects of all its
// pull requests' workspaces: a bare repository, at @objects beside the
// pull requests' directories (forge/owner/name/@objects), which no pull
// request's path can be, since those are @ and a number. Commits are
// fetched into it from the forge one at a time, only when it lacks them,
// and without their history (--depth=1), so a commit on top of ones it
// holds costs what changed, and the workspaces' git directories borrow
// its objects (objects/info/alternates) instead of holding their own.
//
// Every commit a pull request checks out, or compares with, is held by a
// ref of the pull request's, refs/atoll/PULL/SHA, until Remove: those
// refs are what a fetch tells the forge the mirror has.
//
// Nothing is ever pruned from a mirror, and git's automatic gc is off, in
// mirrors and workspaces alike. Each commit a workspace has used stays
// referenced until its pull request goes, so pruning would not take what
// a workspace reads; but giving back a removed pull request's objects
// means rewriting the mirror's whole pack, the size of the repository's
// tree, while every checkout of the repository waits, to win back what
// its commits changed. A mirror holds one copy of the tree and what each
// commit checked out changed: it grows as a clone following the
// repository's branches would. Deleted while atoll is stopped, it is
// fetched afresh; the workspaces that borrowed from it work on.
//
// The mirror is outside every work tree and tool home, so no step can
// write to it; atoll writes to it only under its lock, git reads from it
// while a fetch adds to it, which git makes safe (a pack or object
// appears whole or not at all).
const mirrorName = "@objects"

// mirrorOf is the mirror of repository repo on forge.
func (ws *Workspaces) mirrorOf(forge, repo string) (place, error) {
	pull, err := PullPath(forge, repo, 0)
	if err != nil {
		return place{}, err
	}
	return place{gitDir: filepath.Join(ws.root, filepath.Dir(pull), mirrorName)}, nil
}

// pullRefs is where, in a mirror, the refs of pull request pull are, and
// pullRef the one holding its commit sha.
func pullRefs(pull int) string            { return "refs/atoll/" + strconv.Itoa(pull) }
func pullRef(pull int, sha string) string { return pullRefs(pull) + "/" + sha }

// lockMirror waits until no git of this process writes to the mirror
// dir, and lets no other write until the returned function is called.
func (ws *Workspaces) lockMirror(ctx context.Context, dir string) (func(), error) {
	ws.mu.Lock()
	held, ok := ws.mirrors[dir]
	if !ok {
		held = make(chan struct{}, 1)
		ws.mirrors[dir] = held
	}
	ws.mu.Unlock()
	select {
	case held <- struct{}{}:
		return func() { <-held }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// borrow makes commit sha of spec's repository readable in the workspace
// in root, which the caller holds: fetched into the repository's mirror
// unless there already, and held there by a ref of spec's pull request.
// fresh says the workspace's git directory was just made: it holds no
// objects of its own.
func (ws *Workspaces) borrow(ctx context.Context, root string, spec CheckoutSpec, sha string, fresh bool) error {
	m, err := ws.mirrorOf(spec.Forge, spec.Repo)
	if err != nil {
		return err
	}
	ref := pullRef(spec.Pull, sha)
	// A re-plan of a commit finds it held already, and waits for no fetch
	// of another pull request's. The ref is read as git writes it, a file
	// (no gc packs the mirror's refs), rather than by starting a git.
	if !holds(m, ref, sha) {
		if err := ws.fill(ctx, root, m, spec, sha, ref, fresh); err != nil {
			return err
		}
	}
	if err := linkMirror(root, m); err != nil {
		return err
	}
	return shareShallow(root, m)
}

// fill makes the mirror m hold commit sha as ref, fetching it unless the
// mirror has it; a workspace in root from before the mirrors, which has
// the commit itself, needs neither; a fresh one has none.
func (ws *Workspaces) fill(ctx context.Context, root string, m place, spec CheckoutSpec, sha, ref string, fresh bool) error {
	unlock, err := ws.holdMirror(ctx, m)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := ws.run(ctx, m, "", nil, "cat-file", "-e", sha+"^{commit}"); err == nil {
		_, err := ws.run(ctx, m, "", nil, "update-ref", ref, sha)
		return err
	}
	if err := linkMirror(root, m); err != nil {
		return err
	}
	if !fresh && ws.git(ctx, root, "", "cat-file", "-e", sha+"^{commit}") == nil {
		return nil // in the workspace's own objects, from before the mirrors
	}
	return ws.fetch(ctx, m, spec, sha, ref)
}

// holds reports whether ref of mirror m holds commit sha, read as git
// writes it, a file (no gc packs the mirror's refs), rather than by
// starting a git.
func holds(m place, ref, sha string) bool {
	held, err := os.ReadFile(filepath.Join(m.gitDir, filepath.FromSlash(ref)))
	return err == nil && strings.TrimSpace(string(held)) == sha
}

// Prefetch fetches into the mirror of their repository, in one fetch,
// the commits of specs (pull requests of one repository, fetched with
// the first's URL and credentials) that it does not hold, so that their
// checkouts find them there: for pull requests that wait behind others.
// Nothing depends on it: a checkout fetches what the mirror lacks. It
// fetches only from the URL that a checkout fetched the repository from
// last, which came from the forge's API, since specs' URL may come from
// an event: the credentials go nowhere else.
func (ws *Workspaces) Prefetch(ctx context.Context, specs []CheckoutSpec) error {
	if len(specs) == 0 {
		return nil
	}
	first := specs[0]
	m, err := ws.mirrorOf(first.Forge, first.Repo)
	if err != nil {
		return err
	}
	if trusted, err := os.ReadFile(filepath.Join(m.gitDir, fetchedFrom)); err != nil || string(trusted) != first.CloneURL {
		return fmt.Errorf("workspace: not prefetching %s from %s, which no checkout fetched it from", first.Repo, first.CloneURL)
	}
	var refspecs []string
	for _, spec := range specs {
		if _, err := ws.dir(spec); err != nil {
			return err
		}
		if spec.Forge != first.Forge || spec.Repo != first.Repo {
			return fmt.Errorf("workspace: prefetching %s and %s at once", first.Repo, spec.Repo)
		}
		if ref := pullRef(spec.Pull, spec.SHA); !holds(m, ref, spec.SHA) {
			refspecs = append(refspecs, "+"+spec.SHA+":"+ref)
		}
	}
	if len(refspecs) == 0 {
		return nil
	}
	unlock, err := ws.holdMirror(ctx, m)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = ws.run(ctx, m, first.Auth, nil, fetchArgs(first.CloneURL, refspecs...)...)
	return err
}

// fetchedFrom is the file, in a mirror, that holds the URL a checkout
// last fetched it from.
const fetchedFrom = "atoll-fetched-from"

// refetch fetches spec's commit into its mirror again, for a checkout
// that found its objects missing there. The pull request's ref to it goes
// first, so that git does not tell the forge it has the commit.
func (ws *Workspaces) refetch(ctx context.Context, spec CheckoutSpec) error {
	m, err := ws.mirrorOf(spec.Forge, spec.Repo)
	if err != nil {
		return err
	}
	unlock, err := ws.lockMirror(ctx, m.gitDir)
	if err != nil {
		return err
	}
	defer unlock()
	ref := pullRef(spec.Pull, spec.SHA)
	if _, err := ws.run(ctx, m, "", nil, "update-ref", "-d", ref); err != nil {
		return err
	}
	return ws.fetch(ctx, m, spec, spec.SHA, ref)
}

// holdMirror waits until no other git of this process writes to the
// mirror m, which it makes unless made, and lets none write until the
// returned function is called.
func (ws *Workspaces) holdMirror(ctx context.Context, m place) (func(), error) {
	unlock, err := ws.lockMirror(ctx, m.gitDir)
	if err != nil {
		return nil, err
	}
	if err := ws.initMirror(ctx, m); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// initMirror makes the mirror m, unless made, or cleans up after a git
// killed in it. The caller holds the mirror: any lock or temporary file
// there is stale.
func (ws *Workspaces) initMirror(ctx context.Context, m place) error {
	if _, err := os.Stat(filepath.Join(m.gitDir, "HEAD")); err == nil {
		// A fetch killed mid-download leaves its pack half written, as
		// large as what it downloaded, and no gc will clear it.
		tmp, _ := filepath.Glob(filepath.Join(m.gitDir, "objects", "pack", "tmp_*"))
		for _, path := range tmp {
			if err := os.Remove(path); err != nil {
				return err
			}
		}
		return removeStaleGitLocks(m.gitDir)
	}
	if err := os.MkdirAll(m.gitDir, 0o755); err != nil {
		return err
	}
	// No templates: no sample hooks, no info/exclude; a mirror needs none.
	_, err := ws.run(ctx, m, "", nil, "init", "--quiet", "--bare", "--template=")
	return err
}

// dropRefs deletes the refs of pull request pull from the mirror of repo
// on forge, if there is one.
func (ws *Workspaces) dropRefs(ctx context.Context, forge, repo string, pull int) error {
	m, err := ws.mirrorOf(forge, repo)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(m.gitDir, "HEAD")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	unlock, err := ws.lockMirror(ctx, m.gitDir)
	if err != nil {
		return err
	}
	defer unlock()
	if err := removeStaleGitLocks(m.gitDir); err != nil {
		return err
	}
	refs, err := ws.run(ctx, m, "", nil, "for-each-ref", "--format=delete %(refname)", pullRefs(pull))
	if err != nil || len(refs) == 0 {
		return err
	}
	_, err = ws.run(ctx, m, "", refs, "update-ref", "--stdin")
	return err
}

// linkMirror makes the git directory of the workspace in root read the
// objects of the mirror m as well as its own (those of a workspace from
// before the mirrors). The path is relative, so that the whole root may
// move.
func linkMirror(root string, m place) error {
	objects := filepath.Join(gitDir(root), "objects")
	rel, err := filepath.Rel(objects, filepath.Join(m.gitDir, "objects"))
	if err != nil {
		return err
	}
	path := filepath.Join(objects, "info", "alternates")
	if b, err := os.ReadFile(path); err == nil && string(b) == rel+"\n" {
		return nil
	}
	return writeGitFile(path, []byte(rel+"\n"))
}

// shareShallow adds to the workspace in root the mirror's list of the
// commits whose parents it lacks (its shallow file). Without it, git in
// the workspace, which reads the mirror's objects but not that list,
// dies on a missing parent in any command that walks history.
func shareShallow(root string, m place) error {
	theirs, err := os.ReadFile(filepath.Join(m.gitDir, "shallow"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	path := filepath.Join(gitDir(root), "shallow")
	ours, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	shas := map[string]bool{}
	for _, sha := range strings.Fields(string(ours)) {
		shas[sha] = true
	}
	n := len(shas)
	for _, sha := range strings.Fields(string(theirs)) {
		shas[sha] = true
	}
	if len(shas) == n {
		return nil
	}
	return writeGitFile(path, []byte(strings.Join(slices.Sorted(maps.Keys(shas)), "\n")+"\n"))
}

// writeGitFile replaces the file at path, in a git directory, whole: no
// git reads half of it.
func writeGitFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".atoll-tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("workspace: %w", err)
	}
	return nil
}
