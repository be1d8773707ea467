package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// The tests here attack /events as anyone who can reach it could,
// without a signature: slowly, and with large bodies.

// serveLikeRun serves s as Run does, with its HTTP server's limits, and
// returns the URL of its /events.
func serveLikeRun(t testing.TB, s *Server) string {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	hs.Config = s.httpServer(t.Context())
	hs.Start()
	t.Cleanup(hs.Close)
	return hs.URL + "/events"
}

// slowBodies opens n connections to events that each send a webhook's
// headers, announcing a body of a megabyte, and one byte of it; then
// nothing.
func slowBodies(t testing.TB, events string, n int) []net.Conn {
	t.Helper()
	return stalledBodies(t, events, n, 1<<20, 1)
}

// answerOf reads the status of the answer on c, waiting at most wait: 0
// when none came, or the connection closed without one.
func answerOf(c net.Conn, wait time.Duration) int {
	c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A client that sends a body slowly, or not at all, holds little and
// not for long: a signed webhook sent meanwhile is answered at once.
func TestSlowBodiesDoNotHoldOffWebhooks(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	events := serveLikeRun(t, e.server)
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	payload := e.gh.Payload(t, "issue_comment", "created", pr, "alice", "atoll help")

	slow := slowBodies(t, events, 200)
	time.Sleep(300 * time.Millisecond) // for the server to start reading them all
	answeredAmong(t, e, events, payload, slow, "200 slow bodies")
}

// answeredAmong delivers payload to events while the connections held
// hold bodies back (what says how), and checks that it is queued within
// seconds, and that each held body is then let go, told it was too slow.
func answeredAmong(t *testing.T, e *testEnv, events string, payload []byte, held []net.Conn, what string) {
	t.Helper()
	start := time.Now()
	d := e.gh.Deliver(t, events, "issue_comment", payload, vcstest.DeliverOptions{})
	took := time.Since(start)
	mustStatus(t, d, http.StatusAccepted, "queued")
	t.Logf("a webhook among %s was answered in %v", what, took)
	// Generous: the point is an answer, not a 503 nor one after the held
	// bodies time out; the machine may be busy.
	if took > 5*time.Second {
		t.Errorf("a webhook among %s was answered in %v", what, took)
	}
	// Each is let go within seconds, well before its deadline plus the
	// machine's load.
	var codes []int
	for _, c := range held {
		codes = append(codes, answerOf(c, 30*time.Second))
	}
	if i := slices.IndexFunc(codes, func(code int) bool { return code != http.StatusRequestTimeout }); i >= 0 {
		t.Errorf("held body %d answered %d, want 408; all answered %v", i, codes[i], codes)
	}
}

// bigBodies sends n unsigned webhooks of size bytes to events at once and
// returns their answers' statuses, or fails t if any is not answered.
func bigBodies(t testing.TB, events string, n, size int) []int {
	t.Helper()
	body := bytes.Repeat([]byte(" "), size)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, events, bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("X-GitHub-Event", "issue_comment")
			req.Header.Set("X-GitHub-Delivery", fmt.Sprint(i))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("big body %d: %v", i, err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	return codes
}

// Many large unsigned bodies at once are all answered, by a refusal; the
// memory they take is measured by BenchmarkBigUnsignedBodies.
func TestBigUnsignedBodiesAreRefused(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	events := serveLikeRun(t, e.server)
	codes := bigBodies(t, events, 64, 24<<20)
	count := map[int]int{}
	for _, code := range codes {
		count[code]++
	}
	t.Logf("answers to 64 unsigned bodies of 24 MB, by status: %v", count)
	for code := range count {
		switch code {
		case http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable:
		default:
			t.Errorf("%d big bodies answered %d, want 401, 413 or 503", count[code], code)
		}
	}
	// The server is still itself.
	e.gh.CreateRepo(t, "acme/infra", nil)
	pr := e.gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{"main.tf": oneResource}})
	mustStatus(t, e.gh.SendPullComment(t, events, pr, "alice", "atoll help"), http.StatusAccepted, "queued")
}

// A body of no stated length is refused unread: how much memory it
// needs is unknown.
func TestBodyOfUnknownLengthIsRefused(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, testOptions{})
	events := serveLikeRun(t, e.server)
	// A reader of unknown length: the client sends the body chunked.
	body := io.MultiReader(bytes.NewReader([]byte(`{"action":"created"}`)))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, events, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", "issue_comment")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusLengthRequired {
		t.Errorf("a chunked body answered %d, want 411", resp.StatusCode)
	}
}
