package tool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// A server that runs as root runs its steps as another user, unprivileged,
// so that a step is no root even to the files Landlock lets it reach. What
// a step writes is handed to that user before it starts; the directories
// on the way to them, under the data directory, are made traversable.

// User is the user steps run as.
type User struct {
	UID, GID int
}

// handOver gives the step's user what s may write (its checkout, home and
// files, and, for an init, the plugin cache) and what it may read (its
// read files), and opens the way to each, under the sandbox's root.
func (r *Runner) handOver(s Step, pluginCache string) error {
	u := r.sandbox.User
	trees := []string{cmpDir(s.Checkout, s.Dir), s.Home}
	if pluginCache != "" {
		trees = append(trees, pluginCache)
	}
	for _, tree := range trees {
		if err := giveTree(tree, u); err != nil {
			return fmt.Errorf("tool: handing %s to the tool user: %w", tree, err)
		}
	}
	files := slices.Concat(s.Files, s.Reads)
	for _, f := range files {
		if err := os.Lchown(f, u.UID, u.GID); err != nil {
			return fmt.Errorf("tool: handing %s to the tool user: %w", f, err)
		}
	}
	for _, p := range slices.Concat(trees, files) {
		if err := r.openWay(p); err != nil {
			return err
		}
	}
	return nil
}

// giveTree makes u own everything under root, links themselves rather
// than what they point to.
func giveTree(root string, u *User) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return os.Lchown(path, u.UID, u.GID)
	})
}

// openWay lets others through the directories from the sandbox's root
// down to path's parent: the step's user needs to pass them, not to
// list them.
func (r *Runner) openWay(path string) error {
	root := r.sandbox.Root
	if root == "" {
		return nil
	}
	for dir := filepath.Dir(path); within(dir, root); dir = filepath.Dir(dir) {
		fi, err := os.Lstat(dir)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(dir, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("tool: opening the way to %s: %w", path, err)
			}
		}
		if dir == root {
			break
		}
	}
	return nil
}

// within reports whether path is root or beneath it.
func within(path, root string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// Reachable says why u cannot reach path (run it, or pass through it), if
// it cannot: a directory on the way that lets neither u, its group nor
// others through.
func Reachable(u User, path string) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	for p := path; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		mode := fi.Mode().Perm()
		x := mode&0o001 != 0 ||
			int(st.Gid) == u.GID && mode&0o010 != 0 ||
			int(st.Uid) == u.UID && mode&0o100 != 0
		if !x {
			return fmt.Errorf("user %d cannot pass %s (%v, owned by %d:%d): make it traversable (chmod o+x) or put %s elsewhere", u.UID, p, mode, st.Uid, st.Gid, path)
		}
		if p == "/" {
			return nil
		}
	}
}
