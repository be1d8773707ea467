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
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if value, ok := strings.CutPrefix(line, field+":"); ok {
			kB, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kB << 10
		}
	}
	b.Fatalf("no %s in the target's status", field)
	return 0
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
