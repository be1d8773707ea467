// Package workflows decides what to run for a pull request: which projects
// (directories and workspaces) its changes touch, and which tool steps plan
// them. It reads the repository but never runs a process.
package workflows

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// DefaultWorkspace is the workspace a project uses unless told otherwise.
const DefaultWorkspace = "default"

// Project is one directory planned and applied as a unit, in one workspace.
type Project struct {
	// Dir is relative to the repository root, slash-separated, "." for the root.
	Dir       string
	Workspace string
}

func (p Project) String() string { return p.Dir + "/" + p.Workspace }

// configExts are the file name endings that make a directory a project.
var configExts = []string{".tf", ".tf.json", ".tofu", ".tofu.json"}

func isConfigFile(name string) bool {
	for _, ext := range configExts {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// HasConfig reports whether dir, relative to repoDir, holds a configuration
// file directly. A directory that a symbolic link leads out of the
// repository holds none.
func HasConfig(repoDir, dir string) (bool, error) {
	abs, err := DirPath(repoDir, dir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrOutsideRepo) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", dir, err)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		if os.IsNotExist(err) {
			return false, nil
		}
		return false, fmt.Errorf("reading %s: %w", dir, err)
	}
	return slices.ContainsFunc(entries, func(e fs.DirEntry) bool {
		return e.Type().IsRegular() && isConfigFile(e.Name())
	}), nil
}

// CleanDir validates a project directory given by a user and returns it
// cleaned: relative to the repository root, slash-separated, "." for the
// root. It refuses absolute paths and paths that leave the repository.
func CleanDir(dir string) (string, error) {
	if dir == "" {
		return ".", nil
	}
	if strings.ContainsRune(dir, '\\') || strings.ContainsRune(dir, 0) {
		return "", fmt.Errorf("directory %q: use forward slashes only", dir)
	}
	if !utf8.ValidString(dir) {
		return "", fmt.Errorf("directory %q is not UTF-8", dir)
	}
	if path.IsAbs(dir) {
		return "", fmt.Errorf("directory %q must be relative to the repository root", dir)
	}
	clean := path.Clean(dir)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("directory %q is outside the repository", dir)
	}
	return clean, nil
}

// ErrOutsideRepo is wrapped by DirPath's error for a directory that a
// symbolic link leads out of the repository.
var ErrOutsideRepo = errors.New("outside the repository")

// DirPath returns the absolute path of dir (a cleaned project directory)
// in the checkout at repoDir, refusing one that a symbolic link in the
// checkout leads out of it: a pull request must not point a plan at the
// server's other files.
func DirPath(repoDir, dir string) (string, error) {
	root, err := filepath.EvalSymlinks(repoDir)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(filepath.Join(root, filepath.FromSlash(dir)))
	if err != nil {
		return "", err
	}
	if rel, err := filepath.Rel(root, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("directory %q: %w", dir, ErrOutsideRepo)
	}
	return filepath.Join(repoDir, filepath.FromSlash(dir)), nil
}

var workspaceRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// ValidateWorkspace refuses workspace names that could be read as a flag, a
// path or more than one argument.
func ValidateWorkspace(ws string) error {
	if len(ws) > 90 || !workspaceRE.MatchString(ws) || strings.Contains(ws, "..") {
		return fmt.Errorf("workspace %q: use letters, digits, '_', '-' and '.', not starting with '-' or '.', at most 90 characters", ws)
	}
	return nil
}
