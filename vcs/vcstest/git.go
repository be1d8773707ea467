package vcstest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	gh "github.com/google/go-github/v60/github"
)

// findGit locates the git binary; the fake is of no use without it.
func findGit(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("fake github needs git: %v", err)
	}
	return path
}

// gitHandler serves the bare repositories under /git/ with git
// http-backend (smart HTTP, fetch only), behind basic auth whose password
// must be the token, as GitHub accepts x-access-token:TOKEN.
func (g *GitHub) gitHandler() http.Handler {
	backend := &cgi.Handler{
		Path: g.gitBin,
		Args: []string{"http-backend"},
		Root: "/git",
		Dir:  g.root,
		Env: []string{
			"HOME=" + g.home,
			"XDG_CONFIG_HOME=" + g.home,
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_PROJECT_ROOT=" + g.root,
			"GIT_HTTP_EXPORT_ALL=1",
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != g.token {
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		// Only the repositories CreateRepo made, as GitHub answers.
		owner, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/git/"), "/")
		name, _, _ := strings.Cut(rest, ".git/")
		g.mu.Lock()
		known := g.repos[owner+"/"+name] != nil
		if known {
			g.gitRequests++
		}
		g.mu.Unlock()
		if !known {
			http.Error(w, "Repository not found.", http.StatusNotFound)
			return
		}
		backend.ServeHTTP(w, r)
	})
}

// env is the whole environment of a git process the fake runs: nothing is
// inherited but PATH, so the user's and the system's git config cannot
// change the outcome.
func (g *GitHub) env() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + g.home,
		"XDG_CONFIG_HOME=" + g.home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
		"GIT_AUTHOR_NAME=octocat",
		"GIT_AUTHOR_EMAIL=octocat@users.noreply.github.com",
		"GIT_COMMITTER_NAME=GitHub",
		"GIT_COMMITTER_EMAIL=noreply@github.com",
	}
}

// git runs git in dir with extra environment variables and returns its
// standard output.
func (g *GitHub) git(ctx context.Context, dir string, extraEnv []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, g.gitBin, args...)
	cmd.Dir = dir
	cmd.Env = append(g.env(), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// mustGit is git for test helpers: a failure fails the test.
func (g *GitHub) mustGit(t testing.TB, dir string, extraEnv []string, args ...string) string {
	t.Helper()
	out, err := g.git(t.Context(), dir, extraEnv, args...)
	if err != nil {
		t.Fatalf("fake github: %v", err)
	}
	return strings.TrimSpace(out)
}

// revParse resolves rev in a bare repository.
func (g *GitHub) revParse(ctx context.Context, bare, rev string) (string, error) {
	out, err := g.git(ctx, bare, nil, "rev-parse", "--verify", "--end-of-options", rev+"^{commit}")
	return strings.TrimSpace(out), err
}

// changedFiles lists the files head changes against its merge base with
// base (usually main), as GitHub's pulls/N/files does: renames detected,
// counts from numstat (0 for binary files).
func (g *GitHub) changedFiles(ctx context.Context, bare, base, head string) ([]*gh.CommitFile, error) {
	base, err := g.git(ctx, bare, nil, "merge-base", base, head)
	if err != nil {
		return nil, err
	}
	base = strings.TrimSpace(base)
	raw, err := g.git(ctx, bare, nil, "diff", "--raw", "-z", "-M", "--no-abbrev", base, head)
	if err != nil {
		return nil, err
	}
	numstat, err := g.git(ctx, bare, nil, "diff", "--numstat", "-z", "-M", base, head)
	if err != nil {
		return nil, err
	}
	files, err := parseRaw(raw)
	if err != nil {
		return nil, err
	}
	counts := parseNumstat(numstat)
	if len(counts) != len(files) {
		return nil, fmt.Errorf("git diff: %d files in --raw, %d in --numstat", len(files), len(counts))
	}
	for i, f := range files {
		f.Additions, f.Deletions = gh.Int(counts[i][0]), gh.Int(counts[i][1])
		f.Changes = gh.Int(counts[i][0] + counts[i][1])
	}
	return files, nil
}

// parseRaw reads `git diff --raw -z --no-abbrev`: per file a
// ":oldmode newmode oldsha newsha STATUS" field, then one path, or two
// (old, new) for renames and copies.
func parseRaw(out string) ([]*gh.CommitFile, error) {
	fields := strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
	var files []*gh.CommitFile
	for i := 0; i < len(fields) && fields[i] != ""; {
		meta := strings.Fields(strings.TrimPrefix(fields[i], ":"))
		if len(meta) != 5 || i+1 >= len(fields) {
			return nil, fmt.Errorf("git diff --raw: unexpected record %q", fields[i])
		}
		oldSHA, newSHA, code := meta[2], meta[3], meta[4][:1]
		f := &gh.CommitFile{SHA: gh.String(newSHA), Filename: gh.String(fields[i+1])}
		i += 2
		switch code {
		case "A":
			f.Status = gh.String("added")
		case "D":
			f.Status, f.SHA = gh.String("removed"), gh.String(oldSHA)
		case "M":
			f.Status = gh.String("modified")
		case "T":
			f.Status = gh.String("changed")
		case "R", "C":
			if i >= len(fields) {
				return nil, fmt.Errorf("git diff --raw: rename without new path")
			}
			f.PreviousFilename, f.Filename = f.Filename, gh.String(fields[i])
			f.Status = gh.String(map[string]string{"R": "renamed", "C": "copied"}[code])
			i++
		default:
			return nil, fmt.Errorf("git diff --raw: unknown status %q", meta[4])
		}
		files = append(files, f)
	}
	return files, nil
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
