package server

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// stalledBodies opens n connections to events that each send an unsigned
// webhook's headers, announcing a body of length bytes, and the first
// sent bytes of it; then nothing.
func stalledBodies(t testing.TB, events string, n, length, sent int) []net.Conn {
	t.Helper()
	u, err := url.Parse(events)
	if err != nil {
		t.Fatal(err)
	}
	request := "POST /events HTTP/1.1\r\nHost: " + u.Host + "\r\n" +
		"X-GitHub-Event: issue_comment\r\nX-GitHub-Delivery: 1\r\nX-Hub-Signature-256: sha256=00\r\n" +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(length) + "\r\n\r\n" +
		"{" + strings.Repeat(" ", sent-1)
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			t.Fatalf("opening stalled connection %d: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, request); err != nil {
			t.Fatal(err)
		}
	}
	return conns
}

// Bodies that send part of themselves, then stall, hold memory for what
// came only, and not for long: a signed webhook sent meanwhile is
// answered, and the stalled bodies are soon told they were too slow.
func TestStalledBodiesDoNotHoldOffWebhooks(t *testing.T) {
	e := newTestEnv(t, testOptions{})
	events := serveLikeRun(t, e.server)
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	payload := e.gh.Payload(t, "issue_comment", "created", pr, "alice", "atoll help")

	// 100 bodies of a megabyte that stop past 32 KB: before, each held
	// its whole megabyte from then on, 16 of them the whole budget.
	stalled := stalledBodies(t, events, 100, 1<<20, 32<<10+1)
	time.Sleep(300 * time.Millisecond) // for the server to read their heads
	answeredAmong(t, e, events, payload, stalled, "100 stalled bodies")
}

// A large body that stalls while it has the big buffer loses it soon: a
// large body waiting for the buffer gets it.
func TestStalledLargeBodyLetsTheNextIn(t *testing.T) {
	e := newTestEnv(t, testOptions{})
	events := serveLikeRun(t, e.server)
	// Past its head: it has the big buffer, and holds it.
	stalled := stalledBodies(t, events, 1, maxWebhookBody, 256<<10)
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	codes := bigBodies(t, events, 1, 2<<20)
	t.Logf("a 2 MB body while a stalled 25 MB body held the buffer: %v after %v", codes, time.Since(start))
	if codes[0] != http.StatusUnauthorized {
		t.Errorf("an unsigned 2 MB body answered %d, want 401", codes[0])
	}
	if code := answerOf(stalled[0], 30*time.Second); code != http.StatusRequestTimeout {
		t.Errorf("the stalled large body answered %d, want 408", code)
	}
}
