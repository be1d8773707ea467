package server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// BenchmarkBurst100 opens 100 pull requests at once, each changing one
// project of one resource, and sends their webhooks concurrently to an
// `atoll server` process (the built binary, with its default confinement)
// of parallelism P, which has planned one pull request of the repository
// before (it has the repository's objects, as a server in service has).
// It measures the time from the first webhook to the
// last plan comment, and in the same run the time of the same 100
// `tofu init && tofu plan` by hand, P at a time, each in a fresh
// directory, before the server starts and after it stops: the raw time
// is the mean of the two, so that a change in the load of the machine
// weighs on both sides alike. It reports:
//
//   - x-raw: atoll's time ÷ the raw time;
//   - s-atoll, s-raw: the two times, in seconds;
//   - rss-MB: the server's peak resident memory (VmHWM), the tools, its
//     child processes, not counted; anon-MB and file-MB, what is
//     resident at the end of its heap and of the files it maps;
//   - max-overtaken: the most pull requests that arrived after one and
//     got their plan comment before it, the webhooks' answers giving the
//     order of arrival, ties and all (see arrivalTie);
//   - unfair-waits: how many pull requests were overtaken by more than P
//     that arrived more than arrivalTie after them;
//   - overtake-lead-ms: the longest a pull request's (P+1)th overtaker
//     arrived after it;
//   - cpu-s-server, cpu-s-tools, cpu-s-forge, cpu-s-raw: CPU seconds of
//     the server, of its children (the tools and git), of this process
//     (the fake forge, less its git), and of the tools run by hand;
//   - api-req/job: the forge API requests the server made, per job;
//   - ms-PHASE: the average job's time in each phase, from the server's
//     atoll_job_phase_seconds_total.
func BenchmarkBurst100(b *testing.B) {
	const pulls = 100
	for _, p := range []int{2} {
		b.Run(fmt.Sprintf("P=%d", p), func(b *testing.B) {
			bin := buildServerBinary(b)
			tofu := reachableTofu(b)
			for b.Loop() {
				gh := newTestGitHub(b)
				gh.CreateRepo(b, "acme/infra", nil)
				var prs []vcstest.Pull
				var payloads [][]byte
				for i := range pulls {
					pr := gh.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: map[string]string{fmt.Sprintf("p%03d/main.tf", i): oneResource}})
					prs = append(prs, pr)
					payloads = append(payloads, gh.Payload(b, "pull_request", "opened", pr, pr.Author, ""))
				}
				beforeCPU := childrenCPU()
				before := rawPlans(b, tofu, oneResource, pulls, p)
				beforeCPU = childrenCPU() - beforeCPU
				srv := startAtollProcess(b, gh, bin, tofu, "--parallelism", strconv.Itoa(p))
				// A server that has checked the repository out before, as
				// one in service has: it prefetches the queued pull
				// requests' commits from where it fetched it.
				warm := gh.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: map[string]string{"warm/main.tf": oneResource}})
				deliverAtOnce(b, gh, srv.url+"/events", [][]byte{gh.Payload(b, "pull_request", "opened", warm, warm.Author, "")})
				waitPlanned(b, gh, []vcstest.Pull{warm}, time.Minute)
				server0, tools0 := srv.cpu(b)
				phases0 := srv.phases(b)

				self, api := selfCPU(), gh.APIStats().Requests
				start := time.Now()
				answered := deliverAtOnce(b, gh, srv.url+"/events", payloads)
				done := waitPlanned(b, gh, prs, 10*time.Minute)
				atoll := slices.MaxFunc(done, time.Time.Compare).Sub(start)
				forge := selfCPU() - self
				api = gh.APIStats().Requests - api
				srv.reportMemory(b)
				server, tools := srv.cpu(b)
				server, tools = server-server0, tools-tools0
				phases := srv.phases(b)
				for phase, d := range phases0 {
					phases[phase] -= d
				}
				srv.stop(b)

				children := childrenCPU()
				raw := (before + rawPlans(b, tofu, oneResource, pulls, p)) / 2
				children = (childrenCPU() - children + beforeCPU) / 2

				overtakers := overtaken(answered, done, 0)
				unfair := overtaken(answered, done, arrivalTie)
				if dir := os.Getenv(benchLogEnv); dir != "" {
					var times strings.Builder
					for i := range answered {
						fmt.Fprintf(&times, "pr=%d answered_us=%d planned_us=%d\n", prs[i].Number, answered[i].Sub(start).Microseconds(), done[i].Sub(start).Microseconds())
					}
					keepLog(b, dir, "times", []byte(times.String()))
				}
				b.ReportMetric(atoll.Seconds()/raw.Seconds(), "x-raw")
				b.ReportMetric(atoll.Seconds(), "s-atoll")
				b.ReportMetric(raw.Seconds(), "s-raw")
				b.ReportMetric(float64(slices.Max(overtakers)), "max-overtaken")
				b.ReportMetric(float64(len(slices.DeleteFunc(unfair, func(n int) bool { return n <= p }))), "unfair-waits")
				b.ReportMetric(float64(overtakeLead(answered, done, p).Microseconds())/1e3, "overtake-lead-ms")
				b.ReportMetric(server.Seconds(), "cpu-s-server")
				b.ReportMetric(tools.Seconds(), "cpu-s-tools")
				b.ReportMetric(forge.Seconds(), "cpu-s-forge")
				b.ReportMetric(children.Seconds(), "cpu-s-raw")
				b.ReportMetric(float64(api)/pulls, "api-req/job")
				for phase, d := range phases {
					b.ReportMetric(float64(d.Microseconds())/1e3/pulls, "ms-"+phase)
				}
			}
		})
	}
}

// BenchmarkLongPlan measures one plan that takes some 10 seconds by hand
// (20,000 terraform_data resources, some 4 MB of output), from the pull
// request's webhook to its plan comment, and reports it as a multiple of
// running `tofu init && tofu plan` by hand on the same configuration
// (x-raw), with both times (s-atoll, s-raw). "process" runs the built
// binary with its default confinement; "inprocess" runs the server in the
// benchmark, unconfined, for -cpuprofile and -memprofile.
func BenchmarkLongPlan(b *testing.B) {
	const resources = 20000
	src := countResources(resources)
	b.Run("process", func(b *testing.B) {
		bin := buildServerBinary(b)
		tofu := reachableTofu(b)
		gh := newTestGitHub(b)
		gh.CreateRepo(b, "acme/infra", nil)
		srv := startAtollProcess(b, gh, bin, tofu, "--parallelism", "1")
		longPlan(b, gh, srv.url+"/events", tofu, src, func() (time.Duration, time.Duration) { return srv.cpu(b) })
		srv.reportMemory(b)
	})
	b.Run("inprocess", func(b *testing.B) {
		e := newTestEnv(b, testOptions{})
		e.gh.CreateRepo(b, "acme/infra", nil)
		// The server and the fake forge share the process; the tools
		// are its children, as are the tools run by hand, which
		// longPlan does not run meanwhile.
		longPlan(b, e.gh, e.events, testTool(b).Path, src, func() (time.Duration, time.Duration) { return selfCPU(), childrenCPU() })
	})
}

// longPlan opens a pull request of src once per iteration, waits for its
// plan comment, and plans src by hand before and after: the raw time is
// the mean of the two, so that a change in the machine's load during the
// run weighs on both sides alike. It reports the ratio, and when the last
// of the comments the output is split into came (s-all-comments).
//
// cpu returns the CPU time the server, and the tools it ran, have used so
// far: the CPU figures compare what the job and the tool by hand used,
// which the load of a shared machine bends less than it does times.
func longPlan(b *testing.B, gh *vcstest.GitHub, events, tofu, src string, cpu func() (server, tools time.Duration)) {
	var atoll, all, raw, serverCPU, toolsCPU, rawCPU time.Duration
	i := 0
	for b.Loop() {
		i++
		b.StopTimer()
		c := childrenCPU()
		before := rawPlans(b, tofu, src, 1, 1)
		rawCPU += childrenCPU() - c
		pr := gh.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: map[string]string{fmt.Sprintf("long%d/main.tf", i): src}})
		payload := gh.Payload(b, "pull_request", "opened", pr, pr.Author, "")
		server0, tools0 := cpu()
		b.StartTimer()

		start := time.Now()
		mustStatus(b, gh.Deliver(b, events, "pull_request", payload, vcstest.DeliverOptions{}), http.StatusAccepted, "queued")
		done := waitPlanned(b, gh, []vcstest.Pull{pr}, 10*time.Minute)
		atoll += done[0].Sub(start)
		first := gh.Comments(pr.Repo, pr.Number)[0].Body
		if !strings.Contains(first, "Plan: 20000 to add") {
			b.Fatalf("the plan comment lacks the summary:\n%.2000s", first)
		}
		n := 1
		if _, after, ok := strings.Cut(first, "it follows in comments 2 to "); ok {
			fmt.Sscanf(after, "%d", &n)
		}
		gh.WaitFor(b, time.Minute, fmt.Sprintf("%d comments", n), func() bool { return len(gh.Comments(pr.Repo, pr.Number)) >= n })
		all += time.Since(start)

		b.StopTimer()
		server1, tools1 := cpu()
		serverCPU, toolsCPU = serverCPU+server1-server0, toolsCPU+tools1-tools0
		c = childrenCPU()
		raw += (before + rawPlans(b, tofu, src, 1, 1)) / 2
		rawCPU += childrenCPU() - c
		b.StartTimer()
	}
	rawCPU /= 2
	b.ReportMetric((serverCPU+toolsCPU).Seconds()/rawCPU.Seconds(), "cpu-x-raw")
	b.ReportMetric(serverCPU.Seconds()/float64(i), "cpu-s-server")
	b.ReportMetric(toolsCPU.Seconds()/float64(i), "cpu-s-tools")
	b.ReportMetric(rawCPU.Seconds()/float64(i), "cpu-s-raw")
	b.ReportMetric(atoll.Seconds()/raw.Seconds(), "x-raw")
	b.ReportMetric(atoll.Seconds()/float64(i), "s-atoll")
	b.ReportMetric(all.Seconds()/float64(i), "s-all-comments")
	b.ReportMetric(raw.Seconds()/float64(i), "s-raw")
}

// countResources is a configuration of n terraform_data resources.
func countResources(n int) string {
	return fmt.Sprintf(`resource "terraform_data" "r" {
  count = %d
  input = "value-${count.index}"
}
`, n)
}

// deliverAtOnce sends every payload as a pull_request webhook at once,
// one goroutine each, and returns when each was answered, in the order
// of payloads. Every one must be queued.
func deliverAtOnce(b *testing.B, gh *vcstest.GitHub, events string, payloads [][]byte) []time.Time {
	b.Helper()
	answered := make([]time.Time, len(payloads))
	failed := make([]string, len(payloads))
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i, payload := range payloads {
		wg.Go(func() {
			t := &goT{TB: b}
			defer func() { failed[i] = t.failed }()
			<-ready
			d := gh.Deliver(t, events, "pull_request", payload, vcstest.DeliverOptions{})
			answered[i] = time.Now()
			if d.Status != http.StatusAccepted {
				t.failed = fmt.Sprintf("webhook %d answered %d %s", i, d.Status, d.Body)
			}
		})
	}
	close(ready)
	wg.Wait()
	for _, f := range failed {
		if f != "" {
			b.Fatal(f)
		}
	}
	return answered
}

// goT is a vcstest.T for a goroutine other than the benchmark's: Fatalf
// records the failure and ends the goroutine, for the benchmark to report.
type goT struct {
	testing.TB
	failed string
}

func (t *goT) Fatalf(format string, args ...any) {
	t.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// waitPlanned waits until each pull request has a finished comment and
// returns when each was first seen, in the order of prs.
func waitPlanned(b *testing.B, gh *vcstest.GitHub, prs []vcstest.Pull, timeout time.Duration) []time.Time {
	b.Helper()
	done := make([]time.Time, len(prs))
	left := len(prs)
	gh.WaitFor(b, timeout, fmt.Sprintf("plan comments on %d pull requests", len(prs)), func() bool {
		now := time.Now()
		for i, pr := range prs {
			if !done[i].IsZero() {
				continue
			}
			cs := gh.Comments(pr.Repo, pr.Number)
			if len(cs) > 0 && !slices.ContainsFunc(cs, func(c vcstest.Comment) bool { return strings.HasPrefix(c.Body, "⏳") }) {
				done[i] = now
				left--
			}
		}
		return left == 0
	})
	return done
}

// arrivalTie is how far apart two webhooks' answers must be for one to
// have arrived after the other. The server queues concurrent webhooks in
// one commit of its store, in an order of its own, and answers them all
// at once: within a few milliseconds, in whatever order its goroutines
// are scheduled.
const arrivalTie = 10 * time.Millisecond

// overtaken returns, for each pull request, how many that arrived more
// than tie after it (were answered later) were planned before it (had
// their comment sooner).
func overtaken(answered, done []time.Time, tie time.Duration) []int {
	n := make([]int, len(answered))
	for i := range answered {
		for j := range answered {
			if answered[j].Sub(answered[i]) > tie && done[j].Before(done[i]) {
				n[i]++
			}
		}
	}
	return n
}

// childrenCPU is the CPU time of this process's children that it waited
// for: the tools run by hand.
func childrenCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// overtakeLead returns how much later than a pull request its (p+1)th
// overtaker arrived, at most: the largest such lead over all pull
// requests, or 0 when none was overtaken by more than p. A lead within
// arrivalTie is no unfairness.
func overtakeLead(answered, done []time.Time, p int) time.Duration {
	var worst time.Duration
	for i := range answered {
		var leads []time.Duration
		for j := range answered {
			if answered[j].After(answered[i]) && done[j].Before(done[i]) {
				leads = append(leads, answered[j].Sub(answered[i]))
			}
		}
		if len(leads) > p {
			slices.Sort(leads)
			worst = max(worst, leads[len(leads)-1-p])
		}
	}
	return worst
}

// selfCPU is the CPU time this process has used: the benchmark and the
// fake forge it serves.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawPlans runs `tofu init && tofu plan` by hand n times, p at a time,
// each in a fresh directory of src, as atoll's steps run them: the same
// arguments, TF_IN_AUTOMATION, TF_INPUT=0, CHECKPOINT_DISABLE and a
// private HOME and TMPDIR. It returns the time they took, the directories
// made beforehand.
func rawPlans(b *testing.B, tofu, src string, n, p int) time.Duration {
	b.Helper()
	root := b.TempDir()
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "HOME", "TMPDIR", "TF_IN_AUTOMATION", "TF_INPUT", "CHECKPOINT_DISABLE", "TF_WORKSPACE", "TF_CLI_ARGS", "TF_PLUGIN_CACHE_DIR":
			return true
		}
		return strings.HasPrefix(name, "ATOLL_")
	})
	env = append(env, "TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1")
	dirs := make(chan string, n)
	for i := range n {
		dir := filepath.Join(root, strconv.Itoa(i))
		if err := os.MkdirAll(filepath.Join(dir, "home", "tmp"), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
		dirs <- dir
	}
	close(dirs)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for range p {
		wg.Go(func() {
			for dir := range dirs {
				home := filepath.Join(dir, "home")
				for _, args := range [][]string{{"init", "-input=false", "-no-color"}, {"plan", "-input=false", "-no-color", "-out=" + filepath.Join(home, "plan")}} {
					cmd := exec.Command(tofu, args...)
					cmd.Dir = dir
					cmd.Env = append(slices.Clip(env), "HOME="+home, "TMPDIR="+filepath.Join(home, "tmp"))
					if out, err := cmd.CombinedOutput(); err != nil {
						errs <- fmt.Errorf("tofu %s in %s: %v\n%.4000s", args[0], dir, err, out)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return elapsed
}

// buildServerBinary builds ./cmd/atoll into a temporary directory.
func buildServerBinary(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "atoll")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/atoll").CombinedOutput(); err != nil {
		b.Fatalf("building atoll: %v\n%s", err, out)
	}
	return bin
}

// reachableTofu returns the benchmarks' tofu linked, or copied, into a
// directory any user may pass: the server, run as root, runs its steps as
// nobody.
func reachableTofu(b *testing.B) string {
	b.Helper()
	real, err := filepath.EvalSymlinks(testTool(b).Path)
	if err != nil {
		b.Fatal(err)
	}
	dir := reachableDir(b)
	dst := filepath.Join(dir, "tofu")
	if os.Link(real, dst) == nil {
		return dst
	}
	bin, err := os.ReadFile(real)
	if err == nil {
		err = os.WriteFile(dst, bin, 0o755)
	}
	if err != nil {
		b.Fatal(err)
	}
	return dst
}

// reachableDir is a new temporary directory that any user may pass
// through, as may its parents up to the system's temporary directory.
func reachableDir(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// benchLogEnv names a directory where, when set, the benchmarks keep
// the server's debug log and the burst's times, for a look at where the
// time goes.
const benchLogEnv = "BENCH_LOG_DIR"

// keepLog writes what, of kind, to the directory dir, in a file named
// after the benchmark.
func keepLog(b *testing.B, dir, kind string, what []byte) {
	name := strings.NewReplacer("/", "_", "=", "").Replace(b.Name())
	path := filepath.Join(dir, fmt.Sprintf("%s.%s.%d.log", name, kind, time.Now().Unix()))
	if err := os.WriteFile(path, what, 0o644); err != nil {
		b.Error(err)
	}
}

// atollProcess is an `atoll server` process serving a fake GitHub.
type atollProcess struct {
	cmd  *exec.Cmd
	url  string
	log  string // the file its stderr goes to
	done chan struct{}
	once sync.Once
}

// startAtollProcess runs bin as a server of gh's acme/infra, on a free
// loopback port, with tofu and args, waits until it answers /healthz and
// stops it when the benchmark ends.
func startAtollProcess(b *testing.B, gh *vcstest.GitHub, bin, tofu string, args ...string) *atollProcess {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logs, err := os.Create(filepath.Join(b.TempDir(), "atoll.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logs.Close()
	p := &atollProcess{url: fmt.Sprintf("http://127.0.0.1:%d", port), log: logs.Name(), done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"server",
		"--bind-addr", "127.0.0.1", "--port", strconv.Itoa(port),
		"--data-dir", reachableDir(b),
		"--repo-allowlist", "acme/*",
		"--gh-api-url", gh.APIURL(), "--gh-token", testToken, "--gh-webhook-secret", testSecret,
		"--tf-bin", tofu, "--tf-download=false",
	}, args...)...)
	keep := os.Getenv(benchLogEnv)
	if keep != "" {
		p.cmd.Args = append(p.cmd.Args, "--log-level", "debug")
	}
	p.cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "ATOLL_") })
	p.cmd.Stdout, p.cmd.Stderr = logs, logs
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	b.Cleanup(func() {
		p.stop(b)
		out, _ := os.ReadFile(p.log)
		if b.Failed() {
			b.Logf("atoll server log:\n%s", out)
		}
		if keep != "" {
			keepLog(b, keep, "server", out)
		}
	})
	gh.WaitFor(b, 30*time.Second, "atoll server to answer /healthz", func() bool {
		select {
		case <-p.done:
			out, _ := os.ReadFile(p.log)
			b.Fatalf("atoll server exited: %v\n%s", p.cmd.ProcessState, out)
		default:
		}
		resp, err := http.Get(p.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// stop ends the server as SIGTERM does and waits until it has.
func (p *atollProcess) stop(b *testing.B) {
	p.once.Do(func() { p.cmd.Process.Signal(syscall.SIGTERM) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
		p.cmd.Process.Kill()
		<-p.done
		b.Errorf("atoll server did not stop within 2 minutes of SIGTERM")
	}
}

// cpu returns the CPU time the server has used so far, and its children
// that it waited for: the tools.
func (p *atollProcess) cpu(b *testing.B) (own, children time.Duration) {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command's name, which ends at the last ')':
	// state is the first; utime, stime, cutime, cstime the 12th to 15th.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	tick := func(i int) time.Duration {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		return time.Duration(n) * time.Second / 100 // USER_HZ
	}
	return tick(11) + tick(12), tick(13) + tick(14)
}

// phases returns where the server's autoplans' time went, from its
// /metrics (atoll_job_phase_seconds_total), by phase.
func (p *atollProcess) phases(b *testing.B) map[string]time.Duration {
	b.Helper()
	phases := map[string]time.Duration{}
	for phase, s := range phaseSplit(scrapeURL(b, p.url+"/metrics"), "autoplan") {
		phases[phase] = time.Duration(s * float64(time.Second))
	}
	return phases
}

// memory returns the server's peak resident memory so far (VmHWM), of
// its own process alone, and how much is resident now of its anonymous
// memory (RssAnon: the Go heap, stacks) and of the files it maps
// (RssFile: its binary, the bbolt files), in bytes.
func (p *atollProcess) memory(b *testing.B) (peak, anon, file int64) {
	b.Helper()
	m := procMemory(b, p.cmd.Process.Pid, "VmHWM", "RssAnon", "RssFile")
	return m[0], m[1], m[2]
}

// reportMemory reports the server's memory, in MB: rss-MB its peak,
// anon-MB and file-MB what is resident now of either kind.
func (p *atollProcess) reportMemory(b *testing.B) {
	peak, anon, file := p.memory(b)
	b.ReportMetric(float64(peak)/(1<<20), "rss-MB")
	b.ReportMetric(float64(anon)/(1<<20), "anon-MB")
	b.ReportMetric(float64(file)/(1<<20), "file-MB")
}
