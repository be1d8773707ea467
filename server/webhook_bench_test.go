package server

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/runner/tool"
	"github.com/atoll-iac/atoll/vcs/github"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// BenchmarkWebhookUnderSlowBodies measures how long a signed webhook
// waits for its answer while 200 connections hold a body open, having
// sent one byte of it: ms-answer, the median, and the share of webhooks
// refused, refused-share.
func BenchmarkWebhookUnderSlowBodies(b *testing.B) {
	e := newTestEnv(b, testOptions{})
	events := serveLikeRun(b, e.server)
	e.gh.CreateRepo(b, "acme/infra", nil)
	pr := e.gh.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	payload := e.gh.Payload(b, "issue_comment", "created", pr, "alice", "LGTM")
	var took []time.Duration
	refused := 0
	for b.Loop() {
		slow := slowBodies(b, events, 200)
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		d := e.gh.Deliver(b, events, "issue_comment", payload, vcstest.DeliverOptions{})
		took = append(took, time.Since(start))
		if d.Status != http.StatusOK {
			refused++
		}
		for _, c := range slow {
			c.Close()
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-answer")
	b.ReportMetric(float64(refused)/float64(len(took)), "refused-share")
}

// BenchmarkBigUnsignedBodies sends 64 unsigned webhooks of 24 MB at once
// to a server alone in a process of its own, and reports that process's
// peak resident memory (peak-RSS-MB), as it was before the first
// (idle-RSS-MB), and the share of the bodies refused unread for want of
// memory (503-share); the rest are read and refused for their signature.
func BenchmarkBigUnsignedBodies(b *testing.B) {
	target := startAttackTarget(b)
	idle := target.memory(b, "VmHWM")
	var answers, busy int
	for b.Loop() {
		for _, code := range bigBodies(b, target.events, 64, 24<<20) {
			answers++
			if code == http.StatusServiceUnavailable {
				busy++
			}
		}
	}
	b.ReportMetric(float64(target.memory(b, "VmHWM"))/1e6, "peak-RSS-MB")
	b.ReportMetric(float64(idle)/1e6, "idle-RSS-MB")
	b.ReportMetric(float64(busy)/float64(answers), "503-share")
}

// attackTarget is a server in a process of its own, which
// TestAttackTarget runs.
type attackTarget struct {
	pid    int
	events string
}

// startAttackTarget runs the test binary again, as a server for
// BenchmarkBigUnsignedBodies to attack, until b ends.
func startAttackTarget(b *testing.B) attackTarget {
	b.Helper()
	cmd := exec.CommandContext(b.Context(), os.Args[0], "-test.run=^TestAttackTarget$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ATOLL_ATTACK_TARGET=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		b.Fatalf("the attack target said %q, %v", line, err)
	}
	return attackTarget{pid: cmd.Process.Pid, events: "http://" + addr + "/events"}
}

// memory returns one of the memory figures of the target's
// /proc/PID/status (VmHWM, VmRSS), in bytes.
func (a attackTarget) memory(b *testing.B, field string) int64 {
	b.Helper()
	return procMemory(b, a.pid, field)[0]
}

// procMemory returns memory figures of process pid's /proc/PID/status
// (VmHWM, VmRSS, RssAnon …), in bytes, in the order of fields.
func procMemory(b *testing.B, pid int, fields ...string) []int64 {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	values := make([]int64, len(fields))
	found := 0
	for line := range strings.Lines(string(status)) {
		name, value, _ := strings.Cut(line, ":")
		i := slices.Index(fields, name)
		if i < 0 {
			continue
		}
		kB, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			b.Fatalf("reading /proc/%d/status: %q: %v", pid, line, err)
		}
		values[i] = kB << 10
		found++
	}
	if found < len(fields) {
		b.Fatalf("not all of %v in /proc/%d/status", fields, pid)
	}
	return values
}

// TestAttackTarget is no test of its own: it serves a GitHub server as
// Run does for BenchmarkBigUnsignedBodies, in the process that benchmark
// starts, until its standard input closes.
func TestAttackTarget(t *testing.T) {
	if os.Getenv("ATOLL_ATTACK_TARGET") == "" {
		t.Skip("the server BenchmarkBigUnsignedBodies attacks")
	}
	allow, err := ParseAllowlist("*")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		DataDir:       t.TempDir(),
		RepoAllowlist: allow,
		// Never run: no webhook gets past its signature.
		Tool:   tool.Tool{Path: os.Args[0]},
		GitHub: github.Config{Token: testToken, WebhookSecret: testSecret, APIURL: "http://127.0.0.1:1/"},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(t.Context())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := s.httpServer(t.Context())
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Printf("listening %s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
}

// BenchmarkWebhookBurst sends 200 signed comment commands at once, each
// on a connection of its own, to a server whose workers are not started
// (so that only the intake is measured), and reports the answer times'
// median, 95th and 99th percentiles over every iteration (p50-ms,
// p95-ms, p99-ms). Every answer is a 202: the work is recorded.
func BenchmarkWebhookBurst(b *testing.B) {
	const burst, pulls = 200, 20
	e := newTestEnv(b, testOptions{idle: true, configure: quietLogs})
	events := serveLikeRun(b, e.server)
	e.gh.CreateRepo(b, "acme/infra", nil)
	var prs []vcstest.Pull
	for range pulls {
		prs = append(prs, e.gh.OpenPull(b, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}}))
	}
	var took []time.Duration
	for b.Loop() {
		b.StopTimer()
		payloads := make([][]byte, burst)
		for i := range payloads {
			payloads[i] = e.gh.Payload(b, "issue_comment", "created", prs[i%pulls], "alice", "atoll help")
		}
		b.StartTimer()
		answers := make(chan time.Duration, burst)
		statuses := make(chan int, burst)
		start := make(chan struct{})
		for _, p := range payloads {
			go func() {
				<-start
				t0 := time.Now()
				d := e.gh.Deliver(b, events, "issue_comment", p, vcstest.DeliverOptions{})
				answers <- time.Since(t0)
				statuses <- d.Status
			}()
		}
		close(start)
		for range burst {
			took = append(took, <-answers)
			if s := <-statuses; s != http.StatusAccepted {
				b.Fatalf("a webhook of the burst was answered %d", s)
			}
		}
	}
	slices.Sort(took)
	at := func(q float64) float64 {
		return float64(took[min(int(q*float64(len(took))), len(took)-1)].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.95), "p95-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// quietLogs makes a benchmark's server log as a server does by default,
// at level info, to nowhere: not to the benchmark's log, whose lock and
// buffer would weigh on what is measured.
func quietLogs(c *Config) { c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) }
