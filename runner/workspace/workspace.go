// Package workspace owns the checkouts that jobs run in: one work tree
// and git directory per repository, pull request and tool workspace, held
// by one job at a time; one store of git objects per repository (its
// mirror) that they all borrow from, fetched into with the forge's
// credentials in git's environment only; and the files atoll itself
// reads from or writes into a checkout, which it treats as hostile.
package workspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/atoll-iac/atoll/workflows"
)

// Workspaces hands out one checkout directory per repository, pull request
// and workspace under a root directory, and lets one job at a time use each.
//
// Under the root, a repository's files are at forge/owner/name (a path
// element for each part of its name): its mirror at @objects, which holds
// the git objects of all its pull requests, and each pull request's
// workspaces at @N/WORKSPACE (see PullPath). A workspace's directory
// holds repo, the work tree that steps may write; git, its git directory,
// which borrows the mirror's objects and holds few of its own; and home,
// the tool's. Steps write no more than repo and home, so the git
// directory and the mirror, whose config and hooks git heeds, are out of
// their reach, and git is always told where its git directory is and
// where the work tree is: a .git that a step makes in the work tree is
// never read.
//
// A checkout fetches from the forge only the commits its repository's
// mirror lacks, and a commit on top of ones the mirror holds costs what
// it changed; one fetch at a time goes into a mirror, the mirrors of
// different repositories fill in parallel. Mirrors only grow: see
// mirrorName for why, and what the growth is.
type Workspaces struct {
	root string
	env  []string // git's environment

	mu      sync.Mutex
	busy    map[string]chan struct{} // directory → released when its job ends
	mirrors map[string]chan struct{} // mirror → full while a git writes to it
}

// NewWorkspaces returns workspaces kept under root. Git runs with env,
// which should be scrubbed of secrets (tool.ScrubEnv).
func NewWorkspaces(root string, env []string) *Workspaces {
	env = append(slices.Clip(env),
		"GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1",
		// Only web URLs: no ext::, file:// or ssh commands from a clone URL.
		"GIT_ALLOW_PROTOCOL=http:https",
		"GIT_AUTHOR_NAME=atoll", "GIT_AUTHOR_EMAIL=atoll@localhost",
		"GIT_COMMITTER_NAME=atoll", "GIT_COMMITTER_EMAIL=atoll@localhost",
	)
	return &Workspaces{root: root, env: env, busy: map[string]chan struct{}{}, mirrors: map[string]chan struct{}{}}
}

// CheckoutSpec says what to check out, and where from.
type CheckoutSpec struct {
	// Forge names the forge the repository is on ("github", "gitlab").
	Forge string
	// Repo is the repository's full name: "owner/name", or a path with
	// subgroups, "group/sub/name".
	Repo string
	// CloneURL is the HTTPS URL to fetch from, without credentials.
	CloneURL string
	// Auth is the value of the Authorization header git sends; it is given
	// to git through its environment only, never written to disk.
	Auth      string
	Pull      int
	Workspace string
	// SHA is the commit to check out.
	SHA string
}

// Workspace is a checkout held by one job until Close.
type Workspace struct {
	// Name is the tool workspace the checkout serves.
	Name string
	// Dir is the root of the checked-out repository: its work tree only,
	// with no .git; the git directory is kept beside it.
	Dir  string
	root string
	done func()
	// ws and spec fetch more into the checkout (ChangedFrom).
	ws   *Workspaces
	spec CheckoutSpec
}

// Home is the tool's home directory, emptied for each job.
func (w *Workspace) Home() string { return filepath.Join(w.root, "home") }

// Close lets the next job use the workspace.
func (w *Workspace) Close() { w.done() }

var (
	safeName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	shaRE    = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
)

// Checkout waits until no other job uses the workspace for spec, then makes
// its directory hold exactly spec.SHA, fetched into the repository's
// mirror unless there already.
func (ws *Workspaces) Checkout(ctx context.Context, spec CheckoutSpec) (*Workspace, error) {
	root, err := ws.dir(spec)
	if err != nil {
		return nil, err
	}
	done, err := ws.acquire(ctx, root)
	if err != nil {
		return nil, err
	}
	w := &Workspace{Name: spec.Workspace, Dir: workTree(root), root: root, done: done, ws: ws, spec: spec}
	if err := ws.checkout(ctx, root, spec); err != nil {
		done()
		return nil, fmt.Errorf("workspace: checking out %s#%d at %s: %w", spec.Repo, spec.Pull, spec.SHA, err)
	}
	// Each job starts the tool with an empty home: nothing one job's tool
	// run leaves there reaches the next.
	if err := os.RemoveAll(w.Home()); err != nil {
		done()
		return nil, fmt.Errorf("workspace: clearing the tool's home: %w", err)
	}
	return w, nil
}

func (ws *Workspaces) dir(spec CheckoutSpec) (string, error) {
	pull, err := PullPath(spec.Forge, spec.Repo, spec.Pull)
	if err != nil {
		return "", err
	}
	if err := workflows.ValidateWorkspace(spec.Workspace); err != nil {
		return "", fmt.Errorf("workspace: %w", err)
	}
	if !shaRE.MatchString(spec.SHA) {
		return "", fmt.Errorf("workspace: commit %q is not a full hex sha", spec.SHA)
	}
	if u, err := url.Parse(spec.CloneURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("workspace: clone URL %q is not an http(s) URL without credentials", spec.CloneURL)
	}
	return filepath.Join(ws.root, pull, spec.Workspace), nil
}

// PullPath is where, relative to a root, the files of pull request pull
// of repository repo ("owner/name", "group/sub/name") on forge go:
// forge/owner/name/@pull, a path element for each part of the name, and
// the number behind an "@", which no repository path holds. So no two
// pull requests share a directory, and none leads out of the root.
func PullPath(forge, repo string, pull int) (string, error) {
	parts := strings.Split(repo, "/")
	if !safeName.MatchString(forge) || len(parts) < 2 {
		return "", fmt.Errorf("workspace: unsafe repository name %q on %q", repo, forge)
	}
	for _, part := range parts {
		if !safeName.MatchString(part) || part == "." || part == ".." {
			return "", fmt.Errorf("workspace: unsafe repository name %q", repo)
		}
	}
	elems := append(append([]string{forge}, parts...), "@"+strconv.Itoa(pull))
	return filepath.Join(elems...), nil
}

// acquire waits for the directory to be free and marks it busy.
func (ws *Workspaces) acquire(ctx context.Context, dir string) (func(), error) {
	for {
		ws.mu.Lock()
		held, busy := ws.busy[dir]
		if !busy {
			ch := make(chan struct{})
			ws.busy[dir] = ch
			ws.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					ws.mu.Lock()
					delete(ws.busy, dir)
					ws.mu.Unlock()
					close(ch)
				})
			}, nil
		}
		ws.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// workTree and gitDir are where, in the directory root of a workspace,
// its work tree and git directory are.
func workTree(root string) string { return filepath.Join(root, "repo") }
func gitDir(root string) string   { return filepath.Join(root, "git") }

// checkout makes the work tree of the workspace in root hold exactly
// spec.SHA.
func (ws *Workspaces) checkout(ctx context.Context, root string, spec CheckoutSpec) error {
	// No git reads a .git in the work tree, but git clean leaves it, and a
	// step's git would find it: whatever a step made there goes, as does
	// the git directory of a workspace from before it was kept outside.
	if err := os.RemoveAll(filepath.Join(workTree(root), ".git")); err != nil {
		return err
	}
	// A workspace without a git directory of its own is new, or from
	// before: its clone starts afresh, its work tree made to match below.
	_, err := os.Stat(gitDir(root))
	fresh := errors.Is(err, os.ErrNotExist)
	// A work tree that was not there holds only what the checkout writes:
	// nothing to clean.
	_, err = os.Stat(workTree(root))
	empty := errors.Is(err, os.ErrNotExist)
	if empty {
		if err := os.MkdirAll(workTree(root), 0o755); err != nil {
			return err
		}
	}
	if fresh {
		if err := ws.git(ctx, root, "", "init", "--quiet", "--template="); err != nil {
			return err
		}
	} else if err := removeStaleGitLocks(gitDir(root)); err != nil {
		return err
	}
	if err := ws.borrow(ctx, root, spec, spec.SHA, fresh); err != nil {
		return err
	}
	if err := ws.git(ctx, root, "", "checkout", "--quiet", "--force", "--detach", spec.SHA); err != nil {
		// The mirror's ref for the commit may have outlived its objects
		// (a crash, a hand's cleanup): fetch it again, once.
		if err := ws.refetch(ctx, spec); err != nil {
			return err
		}
		if err := ws.git(ctx, root, "", "checkout", "--quiet", "--force", "--detach", spec.SHA); err != nil {
			return err
		}
	}
	if empty {
		return nil
	}
	// Keep what init made, so that a re-plan need not download providers
	// again and an apply finds the providers its plan was made with, and
	// local state, so that an apply is seen by the next plan.
	return ws.git(ctx, root, "", "clean", "--quiet", "-ffdx",
		"--exclude=.terraform", "--exclude=.terraform.lock.hcl",
		"--exclude=terraform.tfstate", "--exclude=terraform.tfstate.backup", "--exclude=terraform.tfstate.d")
}

// removeStaleGitLocks deletes the lock files a git killed mid-command
// leaves behind (index.lock, HEAD.lock, a ref's lock …), which would fail
// every later command in the clone. No git runs in a workspace but its
// job's, and the caller holds it: any lock there is stale.
func removeStaleGitLocks(gitDir string) error {
	return filepath.WalkDir(gitDir, func(path string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && path != gitDir && !strings.HasPrefix(path+string(filepath.Separator), filepath.Join(gitDir, "refs")+string(filepath.Separator)):
			return filepath.SkipDir // objects, hooks, logs: no locks a checkout trips on
		case !d.IsDir() && strings.HasSuffix(d.Name(), ".lock"):
			return os.Remove(path)
		}
		return nil
	})
}

// git runs one git command on the workspace in root. auth, when set,
// reaches git through its environment as an extra HTTP header: not in a
// URL, a config file or argv.
func (ws *Workspaces) git(ctx context.Context, root, auth string, args ...string) error {
	_, err := ws.run(ctx, inWorkspace(root), auth, nil, args...)
	return err
}

// gitOutput is git, returning what the command printed.
func (ws *Workspaces) gitOutput(ctx context.Context, root, auth string, args ...string) ([]byte, error) {
	return ws.run(ctx, inWorkspace(root), auth, nil, args...)
}

// A place is where a git command works: a git directory and, for a
// workspace, its work tree; a mirror has none.
type place struct{ gitDir, workTree string }

func inWorkspace(root string) place { return place{gitDir: gitDir(root), workTree: workTree(root)} }

// run runs one git command in p, given stdin, returning what it printed.
func (ws *Workspaces) run(ctx context.Context, p place, auth string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	// Stopped with SIGTERM, git removes its lock files itself; a git that
	// will not stop is killed a little later.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = p.gitDir
	if p.workTree != "" {
		cmd.Dir = p.workTree
	}
	cmd.Env = ws.gitEnv(p, auth)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if auth != "" {
			msg = strings.ReplaceAll(msg, auth, "[redacted]")
		}
		return nil, &gitError{command: args[0], err: err, stderr: msg}
	}
	return stdout.Bytes(), nil
}

// gitEnv is git's environment in p: its git directory and work tree
// named, so that git looks for no .git; no hooks and no fsmonitor, should
// the git directory ever hold any; no automatic gc, which could prune
// from a mirror what a workspace borrows (see mirrorName); and auth, when
// set, as an extra HTTP header.
func (ws *Workspaces) gitEnv(p place, auth string) []string {
	config := [][2]string{
		{"core.hooksPath", "/dev/null"}, {"core.fsmonitor", "false"},
		{"gc.auto", "0"}, {"maintenance.auto", "false"},
	}
	if auth != "" {
		config = append(config, [2]string{"http.extraHeader", "Authorization: " + auth})
	}
	env := append(slices.Clip(ws.env), "GIT_DIR="+p.gitDir)
	if p.workTree != "" {
		env = append(env, "GIT_WORK_TREE="+p.workTree)
	}
	env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(config)))
	for i, kv := range config {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return env
}

// gitError is a git command that failed, with what it printed on stderr
// (the auth value scrubbed).
type gitError struct {
	command string
	err     error
	stderr  string
}

func (e *gitError) Error() string {
	return fmt.Sprintf("workspace: git %s: %v: %s", e.command, e.err, e.stderr)
}

func (e *gitError) Unwrap() error { return e.err }

// ChangedFrom lists the files that differ between commit base and the
// checkout's head, fetching base if the mirror lacks it: what a pull
// request whose merge base is base changes, however many files that is.
func (w *Workspace) ChangedFrom(ctx context.Context, base string) ([]string, error) {
	if !shaRE.MatchString(base) {
		return nil, fmt.Errorf("workspace: commit %q is not a full hex sha", base)
	}
	if err := w.ws.borrow(ctx, w.root, w.spec, base, false); err != nil {
		return nil, err
	}
	out, err := w.ws.gitOutput(ctx, w.root, "", "diff", "-z", "--name-only", "--no-renames", base, w.spec.SHA, "--")
	if err != nil {
		return nil, err
	}
	return strings.FieldsFunc(string(out), func(r rune) bool { return r == 0 }), nil
}

// ChangedFiles lists the files that differ between the checkout at
// repoDir, uncommitted changes included, and its merge base with base: what
// a pull request from it against base would change.
func ChangedFiles(ctx context.Context, repoDir, base string) ([]string, error) {
	if strings.HasPrefix(base, "-") {
		return nil, fmt.Errorf("workspace: base %q is not a git revision", base)
	}
	cmd := exec.CommandContext(ctx, "git", "diff", "-z", "--name-only", "--no-renames", "--merge-base", base, "--")
	cmd.Dir = repoDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("workspace: git diff against %s: %w: %s", base, err, strings.TrimSpace(stderr.String()))
	}
	return strings.FieldsFunc(string(out), func(r rune) bool { return r == 0 }), nil
}
