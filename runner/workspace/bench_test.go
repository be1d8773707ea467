package workspace

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Shape of the benchmark's repository: bigFiles files in every commit,
// bigHistory commits on main each rewriting all of them with random,
// incompressible contents of bigFileSize bytes on average: about 1 GB of
// history, a fifth of it in the tip's tree.
const (
	bigFiles    = 50_000
	bigHistory  = 5
	bigFileSize = 4 << 10
)

// BenchmarkSecondPullCheckout checks out two pull requests of one large
// repository, served over smart HTTP, each a few files changed on top of
// main: what the first costs, what the second costs when the first is
// already there (wall-clock and the gits' CPU time, the bytes the forge
// sends), and the disk the second adds (all of it, and what is not its
// work tree).
//
//	go test ./runner/workspace -run '^$' -bench SecondPullCheckout -benchtime 1x -count 3
//
// The repository is made once under the user's cache directory
// (atoll-bench/bigrepo) and reused. GIT_TRACE_PERFORMANCE=/tmp/perf.log
// splits the time by git command. Writing the work tree, 50,000 files,
// is most of a checkout's time, and its system time varies threefold
// with the machine's other disk traffic.
func BenchmarkSecondPullCheckout(b *testing.B) {
	if testing.Short() {
		b.Skip("a 1 GB repository")
	}
	repo, pulls := bigRepo(b)
	var served atomic.Int64 // bytes the forge sent
	backend := &cgi.Handler{
		Path: gitPath(b),
		Args: []string{"http-backend"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + filepath.Dir(repo),
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + b.TempDir(),
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backend.ServeHTTP(countingWriter{w, &served}, r)
	}))
	b.Cleanup(srv.Close)
	cloneURL := srv.URL + "/" + filepath.Base(repo)

	var first, second, secondCPU, fetched, added, addedGit float64
	for b.Loop() {
		root, err := os.MkdirTemp("", "atoll-bench-")
		if err != nil {
			b.Fatal(err)
		}
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root}
		if trace, ok := os.LookupEnv("GIT_TRACE_PERFORMANCE"); ok {
			env = append(env, "GIT_TRACE_PERFORMANCE="+trace)
		}
		ws := NewWorkspaces(root, env)
		spec := CheckoutSpec{Forge: "github", Repo: "acme/big", CloneURL: cloneURL, Workspace: "default"}
		// checkout returns the wall-clock time of a checkout, and the CPU
		// time of the gits it ran, server's and client's: on a shared
		// machine, the steadier figure.
		checkout := func(pull int) (wall, cpu time.Duration) {
			syscall.Sync() // the previous one's writes go now, not during this one
			spec.Pull, spec.SHA = pull, pulls[pull-1]
			cpu0 := childCPU(b)
			start := time.Now()
			w, err := ws.Checkout(b.Context(), spec)
			if err != nil {
				b.Fatal(err)
			}
			w.Close()
			return time.Since(start), childCPU(b) - cpu0
		}
		wall, _ := checkout(1)
		first += wall.Seconds()
		before := diskUsage(b, root, "")
		beforeGit := diskUsage(b, root, "repo")
		sent := served.Load()
		wall, cpu := checkout(2)
		second += wall.Seconds()
		secondCPU += cpu.Seconds()
		fetched += float64(served.Load()-sent) / (1 << 20)
		added += float64(diskUsage(b, root, "")-before) / (1 << 20)
		addedGit += float64(diskUsage(b, root, "repo")-beforeGit) / (1 << 20)
		if err := os.RemoveAll(root); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(first/n, "pr1-s")
	b.ReportMetric(second/n, "pr2-s")
	b.ReportMetric(secondCPU/n, "pr2-cpu-s")
	b.ReportMetric(fetched/n, "pr2-fetched-MB")
	b.ReportMetric(added/n, "pr2-MB")
	b.ReportMetric(addedGit/n, "pr2-git-MB")
}

// countingWriter counts the bytes of a response.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

func (w countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// childCPU is the CPU time, user and system, of the processes this one
// started that have ended.
func childCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// diskUsage is the disk the files under root take, as du counts it,
// leaving out directories named skip.
func diskUsage(b *testing.B, root, skip string) int64 {
	b.Helper()
	var total int64
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == skip {
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return total
}

func gitPath(b *testing.B) string {
	b.Helper()
	path, err := exec.LookPath("git")
	if err != nil {
		b.Skip("no git")
	}
	return path
}

// bigRepo returns the bare repository the benchmark serves, made on first
// use, and the heads of its two pull requests.
func bigRepo(b *testing.B) (string, []string) {
	b.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		b.Skip(err)
	}
	dir := filepath.Join(cache, "atoll-bench", "bigrepo")
	repo := filepath.Join(dir, "big.git")
	if _, err := os.Stat(filepath.Join(dir, "pulls")); err != nil {
		start := time.Now()
		if err := makeBigRepo(dir); err != nil {
			b.Fatalf("making the benchmark's repository: %v", err)
		}
		b.Logf("made %s in %s", repo, time.Since(start).Round(time.Second))
	}
	pulls, err := os.ReadFile(filepath.Join(dir, "pulls"))
	if err != nil {
		b.Fatal(err)
	}
	return repo, strings.Fields(string(pulls))
}

// makeBigRepo writes the benchmark's repository into dir with git
// fast-import: main, then refs/pull/N/head for two pull requests, each
// three files changed on main, their shas in dir/pulls.
func makeBigRepo(dir string) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	repo := filepath.Join(tmp, "big.git")
	git := func(stdin io.Reader, args ...string) ([]byte, error) {
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_DIR="+repo, "GIT_CONFIG_NOSYSTEM=1")
		cmd.Stdin = stdin
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("git %s: %w: %s", args[0], err, stderr.String())
		}
		return out, nil
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	if _, err := git(nil, "init", "--quiet", "--bare", repo); err != nil {
		return err
	}
	if _, err := git(nil, "config", "uploadpack.allowAnySHA1InWant", "true"); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeBigHistory(pw)) }()
	if _, err := git(pr, "fast-import", "--quiet"); err != nil {
		return err
	}
	var pulls []string
	for _, ref := range []string{"refs/pull/1/head", "refs/pull/2/head"} {
		sha, err := git(nil, "rev-parse", ref)
		if err != nil {
			return err
		}
		pulls = append(pulls, strings.TrimSpace(string(sha)))
	}
	if err := os.WriteFile(filepath.Join(tmp, "pulls"), []byte(strings.Join(pulls, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// writeBigHistory writes the fast-import stream of the benchmark's
// repository.
func writeBigHistory(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 2*bigFileSize)
	date := int64(1_700_000_000)
	commit := func(ref, msg string, from string, files []int) {
		date++
		fmt.Fprintf(bw, "commit %s\ncommitter atoll <atoll@localhost> %d +0000\ndata %d\n%s\n", ref, date, len(msg), msg)
		if from != "" {
			fmt.Fprintf(bw, "from %s\n", from)
		}
		for _, f := range files {
			data := buf[:1+rng.IntN(len(buf)-1)]
			for i := 0; i+8 <= len(data); i += 8 {
				v := rng.Uint64()
				for j := range 8 {
					data[i+j] = byte(v >> (8 * j))
				}
			}
			fmt.Fprintf(bw, "M 100644 inline d%03d/f%05d.tf\ndata %d\n", f/100, f, len(data))
			bw.Write(data)
			bw.WriteString("\n")
		}
		bw.WriteString("\n")
	}
	all := make([]int, bigFiles)
	for i := range all {
		all[i] = i
	}
	for i := range bigHistory {
		commit("refs/heads/main", fmt.Sprintf("history %d", i), "", all)
	}
	commit("refs/pull/1/head", "pull 1", "refs/heads/main", []int{1, 20_000, 40_000})
	commit("refs/pull/2/head", "pull 2", "refs/heads/main", []int{2, 20_001, 40_001})
	return bw.Flush()
}
