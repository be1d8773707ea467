package vcstest

import (
	"bytes"
	"context"
	"fmt"
	"net/http/cgi"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// gitHost is the git half of a fake forge, shared by the fake GitHub and
// the fake GitLab: bare repositories under root, served over smart HTTP
// by git http-backend, and work clones in which the test helpers commit
// and push.
type gitHost struct {
	forge  string // "fake github", to begin messages
	gitBin string
	root   string // bare repositories: root/PATH.git
	home   string // HOME of every git process
	id     gitIdentity

	opMu    sync.Mutex // serialises whatever commits and pushes
	commits int        // commits made so far; dates each one; guarded by opMu
}

// gitIdentity is whom a forge's commits are by.
type gitIdentity struct {
	author         string // of the first commit, and of any commit made without commitEnv
	emailDomain    string // an author's e-mail is LOGIN@emailDomain
	committerName  string
	committerEmail string
}

// newGitHost makes the git half of a fake forge named forge, with its
// directories under t.TempDir().
func newGitHost(t T, forge string, id gitIdentity) *gitHost {
	t.Helper()
	return &gitHost{forge: forge, gitBin: findGit(t, forge), root: t.TempDir(), home: t.TempDir(), id: id}
}

// findGit locates the git binary; the fake is of no use without it.
func findGit(t T, forge string) string {
	t.Helper()
	path, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("%s needs git: %v", forge, err)
	}
	return path
}

// backend is git http-backend serving the bare repositories (smart HTTP,
// fetch only) at the URL path prefix root.
func (h *gitHost) backend(root string) *cgi.Handler {
	return &cgi.Handler{
		Path: h.gitBin,
		Args: []string{"http-backend"},
		Root: root,
		Dir:  h.root,
		Env: []string{
			"HOME=" + h.home,
			"XDG_CONFIG_HOME=" + h.home,
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_PROJECT_ROOT=" + h.root,
			"GIT_HTTP_EXPORT_ALL=1",
		},
	}
}

// initRepo makes the bare repository root/name.git, which serves fetches
// of any commit it has, and a work clone of it under t.TempDir() whose
// first commit, by the forge's author, holds files on main. The caller
// holds opMu.
func (h *gitHost) initRepo(t T, name string, files map[string]string) (bare, work string) {
	t.Helper()
	bare = filepath.Join(h.root, filepath.FromSlash(name)+".git")
	h.mustGit(t, h.root, nil, "init", "-q", "--bare", "--initial-branch=main", bare)
	for _, kv := range [][2]string{
		{"uploadpack.allowAnySHA1InWant", "true"},
		{"uploadpack.allowReachableSHA1InWant", "true"},
		{"http.receivepack", "false"},
	} {
		h.mustGit(t, bare, nil, "config", kv[0], kv[1])
	}

	work = filepath.Join(t.TempDir(), path.Base(name))
	h.mustGit(t, h.root, nil, "init", "-q", "--initial-branch=main", work)
	h.mustGit(t, work, nil, "remote", "add", "origin", bare)
	h.writeFiles(t, work, files)
	h.commit(t, work, h.id.author, "Initial commit")
	h.mustGit(t, work, nil, "push", "-q", "origin", "main")
	return bare, work
}

// env is the whole environment of a git process the fake runs: nothing is
// inherited but PATH, so the user's and the system's git config cannot
// change the outcome.
func (h *gitHost) env() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + h.home,
		"XDG_CONFIG_HOME=" + h.home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
		"GIT_AUTHOR_NAME=" + h.id.author,
		"GIT_AUTHOR_EMAIL=" + h.id.author + "@" + h.id.emailDomain,
		"GIT_COMMITTER_NAME=" + h.id.committerName,
		"GIT_COMMITTER_EMAIL=" + h.id.committerEmail,
	}
}

// git runs git in dir with extra environment variables and returns its
// standard output.
func (h *gitHost) git(ctx context.Context, dir string, extraEnv []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, h.gitBin, args...)
	cmd.Dir = dir
	cmd.Env = append(h.env(), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// mustGit is git for test helpers: a failure fails the test.
func (h *gitHost) mustGit(t T, dir string, extraEnv []string, args ...string) string {
	t.Helper()
	out, err := h.git(t.Context(), dir, extraEnv, args...)
	if err != nil {
		t.Fatalf("%s: %v", h.forge, err)
	}
	return strings.TrimSpace(out)
}

// revParse resolves rev in a bare repository.
func (h *gitHost) revParse(ctx context.Context, bare, rev string) (string, error) {
	out, err := h.git(ctx, bare, nil, "rev-parse", "--verify", "--end-of-options", rev+"^{commit}")
	return strings.TrimSpace(out), err
}

// countCommits counts the commits reachable from to but not from from.
func (h *gitHost) countCommits(ctx context.Context, bare, from, to string) (int, error) {
	out, err := h.git(ctx, bare, nil, "rev-list", "--count", from+".."+to)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// commit stages everything in work and commits it as author.
func (h *gitHost) commit(t T, work, author, msg string) string {
	t.Helper()
	h.mustGit(t, work, nil, "add", "-A")
	h.mustGit(t, work, h.commitEnv(author), "-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "--no-verify", "-m", msg)
	return h.mustGit(t, work, nil, "rev-parse", "HEAD")
}

// commitEnv is the environment of a git process that commits as author,
// dated a second after the fake's previous commit. The caller holds opMu.
func (h *gitHost) commitEnv(author string) []string {
	h.commits++
	date := fmt.Sprintf("@%d +0000", firstCommit+h.commits)
	return []string{
		"GIT_AUTHOR_NAME=" + author,
		"GIT_AUTHOR_EMAIL=" + author + "@" + h.id.emailDomain,
		"GIT_AUTHOR_DATE=" + date,
		"GIT_COMMITTER_DATE=" + date,
	}
}

// mergeInto merges head into main in the work clone work, by method
// (merge, squash or rebase), committing as committer, and pushes main. It
// returns main before and after. A conflict leaves the clone as it was.
// The caller holds opMu.
func (h *gitHost) mergeInto(ctx context.Context, work, committer, head, method, msg string) (base, sha string, err error) {
	ctx = context.WithoutCancel(ctx) // a client hanging up must not leave the clone mid-merge
	env := h.commitEnv(committer)
	run := func(args ...string) (string, error) {
		out, err := h.git(ctx, work, env, args...)
		return strings.TrimSpace(out), err
	}
	if _, err := run("checkout", "-q", "main"); err != nil {
		return "", "", err
	}
	if base, err = run("rev-parse", "HEAD"); err != nil {
		return "", "", err
	}
	switch method {
	case "merge":
		_, err = run("-c", "commit.gpgsign=false", "merge", "-q", "--no-ff", "--no-verify", "-m", msg, head)
	case "squash":
		if _, err = run("merge", "-q", "--squash", head); err == nil {
			_, err = run("-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty", "--no-verify", "-m", msg)
		}
	case "rebase":
		_, err = run("-c", "commit.gpgsign=false", "cherry-pick", "--allow-empty", "--keep-redundant-commits", "main.."+head)
	}
	if err != nil {
		_, _ = run("reset", "-q", "--hard", base) // also ends a failed merge or cherry-pick
		_, _ = run("cherry-pick", "--abort")
		return "", "", err
	}
	if sha, err = run("rev-parse", "HEAD"); err != nil {
		return "", "", err
	}
	if _, err := run("push", "-q", "origin", "main"); err != nil {
		_, _ = run("reset", "-q", "--hard", base)
		return "", "", err
	}
	return base, sha, nil
}

// rawChange is one file of `git diff --raw`.
type rawChange struct {
	status           byte // A, D, M, T, R or C
	oldMode, newMode string
	oldSHA, newSHA   string
	path             string
	oldPath          string // renames and copies
}

// rawChanges runs `git diff --raw -M` from base to head in a bare
// repository.
func (h *gitHost) rawChanges(ctx context.Context, bare, base, head string) ([]rawChange, error) {
	raw, err := h.git(ctx, bare, nil, "diff", "--raw", "-z", "-M", "--no-abbrev", base, head)
	if err != nil {
		return nil, err
	}
	return parseRaw(raw)
}

// parseRaw reads `git diff --raw -z --no-abbrev`: per file a
// ":oldmode newmode oldsha newsha STATUS" field, then one path, or two
// (old, new) for renames and copies.
func parseRaw(out string) ([]rawChange, error) {
	fields := strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
	var changes []rawChange
	for i := 0; i < len(fields) && fields[i] != ""; {
		meta := strings.Fields(strings.TrimPrefix(fields[i], ":"))
		if len(meta) != 5 || i+1 >= len(fields) {
			return nil, fmt.Errorf("git diff --raw: unexpected record %q", fields[i])
		}
		c := rawChange{status: meta[4][0], oldMode: meta[0], newMode: meta[1], oldSHA: meta[2], newSHA: meta[3], path: fields[i+1]}
		i += 2
		switch c.status {
		case 'A', 'D', 'M', 'T':
		case 'R', 'C':
			if i >= len(fields) {
				return nil, fmt.Errorf("git diff --raw: rename without new path")
			}
			c.oldPath, c.path = c.path, fields[i]
			i++
		default:
			return nil, fmt.Errorf("git diff --raw: unknown status %q", meta[4])
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// parseNumstat reads `git diff --numstat -z` into [additions, deletions]
// per file; a rename's record is "A\tD\t" followed by two paths.
func parseNumstat(out string) [][2]int {
	fields := strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
	var counts [][2]int
	for i := 0; i < len(fields) && fields[i] != ""; i++ {
		parts := strings.SplitN(fields[i], "\t", 3)
		if len(parts) != 3 {
			continue
		}
		add, _ := strconv.Atoi(parts[0]) // "-" for binary files: 0
		del, _ := strconv.Atoi(parts[1])
		counts = append(counts, [2]int{add, del})
		if parts[2] == "" {
			i += 2 // rename: old and new path follow
		}
	}
	return counts
}
