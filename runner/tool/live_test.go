package tool

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// A live reader gets whole lines, redacted; a secret is never cut where
// a redactor could miss it, even one split across writes or a private
// key spread over lines.
func TestLiveWriter(t *testing.T) {
	t.Parallel()
	const key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nqwertyuiop\n-----END RSA PRIVATE KEY-----\n"
	for _, tt := range []struct {
		name   string
		values []string
		writes []string
		// seen is what the reader has before Close; all, after.
		seen, all string
	}{
		{"lines", nil, []string{"a\nb", "c\nd"}, "a\nbc\n", "a\nbc\nd"},
		{"a secret split across writes", []string{"hunter2hunter2"}, []string{"pass: hunt", "er2hunter2\nnext"}, "pass: [redacted]\n", "pass: [redacted]\nnext"},
		{"a private key held until its end", nil, []string{"before\n", key[:40], key[40:]}, "before\n[redacted]-----END RSA PRIVATE KEY-----\n", "before\n[redacted]-----END RSA PRIVATE KEY-----\n"},
		{"a private key that never ends", nil, []string{"before\n" + key[:50]}, "before\n", "before\n[redacted]"},
		{"a value over lines holds everything", []string{"line1\nline2"}, []string{"x line1\n", "line2 y\n"}, "", "x [redacted] y\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got bytes.Buffer
			l := newLiveWriter(&got, NewRedactor(tt.values...))
			for _, w := range tt.writes {
				l.Write([]byte(w))
			}
			if got.String() != tt.seen {
				t.Errorf("before Close the reader has %q, want %q", got.String(), tt.seen)
			}
			l.Close()
			if got.String() != tt.all {
				t.Errorf("after Close the reader has %q, want %q", got.String(), tt.all)
			}
			if strings.Contains(got.String(), "MIIEow") || strings.Contains(got.String(), "hunter2") {
				t.Errorf("a secret reached the reader: %q", got.String())
			}
		})
	}
}

// Held output goes out once it passes maxHeld, redacted whole.
func TestLiveWriterHoldsBoundedOutput(t *testing.T) {
	t.Parallel()
	var got bytes.Buffer
	l := newLiveWriter(&got, NewRedactor())
	l.Write(bytes.Repeat([]byte("x"), maxHeld+1)) // no newline at all
	if got.Len() != maxHeld+1 {
		t.Errorf("after %d bytes with no line end the reader has %d", maxHeld+1, got.Len())
	}
}

// lockedBuffer is a bytes.Buffer a step writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A step's Live writer has its output while it runs, redacted.
func TestRunLive(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	r := New(Config{Tool: Tool{Path: sh}, Env: []string{"PATH=/usr/bin:/bin"}, Secrets: []string{"hunter2"}})
	var live lockedBuffer
	done := make(chan string)
	go func() {
		out, _ := r.Run(context.Background(), Step{Dir: t.TempDir(), Home: t.TempDir(), Live: &live,
			Args: []string{"-c", "echo first hunter2; sleep 1; echo second"}})
		done <- out
	}()
	deadline := time.Now().Add(10 * time.Second)
	for live.String() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("the step ended before its first line reached the live writer")
	default:
	}
	if got := live.String(); got != "first [redacted]\n" {
		t.Errorf("while running, the live writer has %q", got)
	}
	if out := <-done; out != "first [redacted]\nsecond\n" || live.String() != out {
		t.Errorf("output %q, live %q: want both whole and alike", out, live.String())
	}
}
