package server

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// testLimits are bodyLimits small enough to exhaust in a test.
func testLimits(budget int64) bodyLimits {
	return bodyLimits{
		budget:   newByteBudget(budget),
		large:    8,
		big:      newBigBuffer(16),
		chunk:    4,
		progress: 100 * time.Millisecond,
		wait:     50 * time.Millisecond,
		grace:    200 * time.Millisecond,
		rate:     1000,
		most:     time.Second,
	}
}

func TestBodyDeadline(t *testing.T) {
	t.Parallel()
	l := testLimits(100)
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		n    int64
		want time.Duration
	}{
		{0, 200 * time.Millisecond},
		{100, 300 * time.Millisecond},
		{800, time.Second},
		{1 << 40, time.Second},
	} {
		if got := l.deadline(start, tc.n).Sub(start); got != tc.want {
			t.Errorf("deadline of %d bytes: %v after the start, want %v", tc.n, got, tc.want)
		}
	}
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// budget is the limits' budget, held the bytes of it held by
		// others, bigHeld whether the big buffer is.
		budget, held int64
		bigHeld      bool
		// n is the length declared; sent is what the client sends, then
		// it stalls unless it closes.
		n      int64
		sent   string
		closes bool
		want   error
	}{
		{name: "empty", budget: 10, n: 0, sent: ""},
		{name: "within the head", budget: 10, n: 3, sent: "abc"},
		{name: "longer than the head", budget: 10, n: 8, sent: "01234567"},
		{name: "short", budget: 10, n: 8, sent: "01234", closes: true, want: io.ErrUnexpectedEOF},
		{name: "no memory for the head", budget: 10, held: 8, n: 8, sent: "01234567", want: errNoMemory},
		{name: "no memory for the rest", budget: 10, held: 4, n: 8, sent: "01234567", want: errNoMemory},
		{name: "nothing comes", budget: 10, n: 8, sent: "", want: errTooSlow},
		{name: "the head comes, the rest not", budget: 10, n: 8, sent: "0123", want: errTooSlow},
		{name: "the rest stops short", budget: 10, n: 8, sent: "012345", want: errTooSlow},
		{name: "large", budget: 10, n: 16, sent: "0123456789abcdef"},
		{name: "large with a small budget", budget: 4, n: 16, sent: "0123456789abcdef"},
		{name: "large while another is in", budget: 10, bigHeld: true, n: 16, sent: "0123456789abcdef", want: errNoMemory},
		{name: "large, stops short", budget: 10, n: 16, sent: "0123456789", want: errTooSlow},
		{name: "large, short", budget: 10, n: 16, sent: "0123456789", closes: true, want: io.ErrUnexpectedEOF},
		{name: "too large", budget: 100, n: 17, sent: "0123456789abcdefg", want: errTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := testLimits(tc.budget)
			if !l.budget.take(t.Context(), tc.held) {
				t.Fatal("cannot hold the budget")
			}
			if tc.bigHeld {
				l.big.take(t.Context(), 1)
			}
			server, client := net.Pipe()
			defer server.Close()
			go func() {
				io.WriteString(client, tc.sent)
				if tc.closes {
					client.Close()
				}
			}()
			defer client.Close()

			body, done, err := l.read(t.Context(), server, server, tc.n)
			if !errors.Is(err, tc.want) {
				t.Fatalf("read: %v, want %v", err, tc.want)
			}
			if err != nil {
				if free := l.budget.free; free != tc.budget-tc.held {
					t.Errorf("after %v, %d bytes of the budget free, want %d", err, free, tc.budget-tc.held)
				}
				if _, ok := l.big.take(within(t, time.Second), 1); !ok && !tc.bigHeld {
					t.Errorf("after %v, the big buffer is not given back", err)
				}
				return
			}
			if string(body) != tc.sent {
				t.Errorf("body %q, want %q", body, tc.sent)
			}
			held := tc.n // in the budget, or else in the big buffer
			if tc.n > l.large {
				held = 0
				if _, ok := l.big.take(within(t, 10*time.Millisecond), 1); ok {
					t.Error("the big buffer is free while a large body is held")
				}
			}
			if free := l.budget.free; free != tc.budget-tc.held-held {
				t.Errorf("while the body is held, %d bytes free, want %d", free, tc.budget-tc.held-held)
			}
			done()
			done()
			if free := l.budget.free; free != tc.budget-tc.held {
				t.Errorf("once done, %d bytes free, want %d", free, tc.budget-tc.held)
			}
			if _, ok := l.big.take(within(t, time.Second), 1); !ok && !tc.bigHeld {
				t.Error("the big buffer is not given back")
			}
		})
	}
}

// A body that fits goes ahead of one waiting for more than there is.
func TestByteBudgetLetsTheSmallGoFirst(t *testing.T) {
	t.Parallel()
	b := newByteBudget(10)
	if !b.take(t.Context(), 8) {
		t.Fatal("took nothing from a full budget")
	}
	big := make(chan bool)
	go func() { big <- b.take(t.Context(), 5) }()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if !b.take(ctx, 2) {
		t.Fatal("2 bytes of the 2 free were not taken")
	}
	b.give(8)
	select {
	case ok := <-big:
		if !ok {
			t.Error("the waiting taker got nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting taker still waits once there is room")
	}
	ctx, cancel = context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if b.take(ctx, 4) {
		t.Error("took 4 bytes with 3 free")
	}
}

// within is t's context, done after d.
func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// The big buffer is kept for the next large body, until the garbage
// collector runs.
func TestBigBufferIsLetGo(t *testing.T) {
	t.Parallel()
	b := newBigBuffer(1 << 20)
	p, _ := b.take(t.Context(), 10)
	copy(p, "kept")
	b.give(p)
	if p, _ := b.take(t.Context(), 10); string(p[:4]) != "kept" {
		t.Error("the next body got another buffer")
	} else {
		b.give(p)
	}
	runtime.GC()
	if b.kept.Value() != nil {
		t.Error("the buffer outlives a garbage collection")
	}
}

// A body holds memory for what has come of it, twice that at most, and
// lets go of it once it stalls: within progress, long before its
// deadline.
func TestReadBodyMemoryFollowsTheBytes(t *testing.T) {
	t.Parallel()
	l := testLimits(1000)
	l.large, l.big = 100, newBigBuffer(100)
	l.progress = time.Second
	l.grace, l.most = time.Minute, time.Minute
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	read := make(chan error, 1)
	go func() {
		_, _, err := l.read(t.Context(), server, server, 100)
		read <- err
	}()
	held := func() int64 {
		l.budget.mu.Lock()
		defer l.budget.mu.Unlock()
		return 1000 - l.budget.free
	}
	time.Sleep(l.progress / 10)
	if h := held(); h != 0 {
		t.Errorf("%d bytes held before any came", h)
	}
	for _, step := range []struct {
		send string
		held int64
	}{
		{"0", 4}, {"123", 4}, {"4", 8}, {"567", 8}, {"8", 16}, {"9abcdef", 16}, {"g", 32},
	} {
		client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(client, step.send); err != nil {
			t.Fatalf("sending %q: %v", step.send, err)
		}
		for wait := time.Now().Add(5 * time.Second); held() != step.held && time.Now().Before(wait); {
			time.Sleep(time.Millisecond)
		}
		if h := held(); h != step.held {
			t.Fatalf("%d bytes held once %q came, want %d", h, step.send, step.held)
		}
	}
	stalled := time.Now()
	select {
	case err := <-read:
		if !errors.Is(err, errTooSlow) {
			t.Errorf("read: %v, want %v", err, errTooSlow)
		}
		t.Logf("a stalled body was let go after %v", time.Since(stalled))
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled body is still read after 10 s")
	}
	if h := held(); h != 0 {
		t.Errorf("%d bytes still held by a stalled body let go", h)
	}
}
