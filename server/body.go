package server

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"
	"weak"
)

// Anyone who can reach /events can send a body, and its signature is
// checked only once the whole body is in memory. So before that, bodies
// are bounded three ways: in size (maxWebhookBody), in the memory all of
// them hold at once (a byteBudget), and in time (bodyLimits.deadline),
// so that a client that sends slowly, or not at all, lets go soon.

// byteBudget bounds the bytes held at once by those who take from it.
// Unlike a queue, it lets any taker that fits go first: a small body is
// not kept waiting behind a large one. It is safe for concurrent use.
type byteBudget struct {
	mu   sync.Mutex
	free int64
	// freed is closed, and replaced, whenever bytes are given back.
	freed chan struct{}
}

func newByteBudget(n int64) *byteBudget {
	return &byteBudget{free: n, freed: make(chan struct{})}
}

// take takes n bytes, waiting for them until ctx is done, and reports
// whether it got them.
func (b *byteBudget) take(ctx context.Context, n int64) bool {
	for {
		b.mu.Lock()
		if n <= b.free {
			b.free -= n
			b.mu.Unlock()
			return true
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		}
	}
}

// give gives back n bytes taken before.
func (b *byteBudget) give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free += n
	close(b.freed)
	b.freed = make(chan struct{})
}

// Errors of bodyLimits.read, which the handler turns into statuses.
var (
	// errTooLarge: the body is longer than any read.
	errTooLarge = errors.New("server: body too large")
	// errNoMemory: the budget had no room for the body in time.
	errNoMemory = errors.New("server: no memory for the body now")
	// errTooSlow: the body did not arrive by its deadline.
	errTooSlow = errors.New("server: body too slow")
)

// bodyLimits bounds the reading of request bodies.
type bodyLimits struct {
	// budget holds the memory of the bodies being read or parsed, but
	// for the rest of a large one, which big holds.
	budget *byteBudget
	// large is the length past which a body is large.
	large int64
	big   *bigBuffer
	// head is how much of a body gets memory before any of it arrives:
	// a body longer than that gets the rest once its head has come, so
	// a client that sends nothing holds little.
	head int64
	// wait is how long a body waits for memory.
	wait time.Duration
	// grace, rate and most set a body's deadline: grace plus its length
	// at rate bytes a second, most in all.
	grace time.Duration
	rate  int64
	most  time.Duration
}

// maxWebhookBody is the longest webhook body read; GitHub caps its
// payloads at 25 MB.
const maxWebhookBody = 25 << 20

// webhookLimits are the limits of /events. The forges' payloads are
// some tens of kilobytes: the budget holds hundreds of them, or of the
// heads of bodies still to come; GitHub's largest, 25 MB, are rare
// enough to take turns. GitHub and GitLab both give up on a delivery
// not answered within 10 seconds, so no body is waited for longer.
func webhookLimits() bodyLimits {
	return bodyLimits{
		budget: newByteBudget(16 << 20),
		large:  1 << 20,
		big:    newBigBuffer(maxWebhookBody),
		head:   32 << 10,
		wait:   time.Second,
		grace:  2 * time.Second,
		rate:   1 << 20,
		most:   10 * time.Second,
	}
}

// deadline is when n bytes of body that began at start must have come.
func (l bodyLimits) deadline(start time.Time, n int64) time.Time {
	transfer := l.most // and more: checked first, n*time.Second could overflow
	if n < int64(l.most/time.Second)*l.rate {
		transfer = time.Duration(n) * time.Second / time.Duration(l.rate)
	}
	return start.Add(min(l.grace+transfer, l.most))
}

// readDeadliner sets the deadline of the reads of a request body, as
// http.ResponseController does.
type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

// read reads a body of exactly n bytes from r, which conn sets read
// deadlines for. It returns the body with
// the function that gives its memory back, to call once the body is no
// longer needed: the body must not be used, nor kept, after. Its head
// must come by the head's deadline, the rest by the whole body's. Errors
// are errTooLarge (past the big buffer's size), errNoMemory, errTooSlow,
// or what reading r returned (io.ErrUnexpectedEOF for a short body).
func (l bodyLimits) read(ctx context.Context, conn readDeadliner, r io.Reader, n int64) ([]byte, func(), error) {
	if n > l.big.size {
		return nil, nil, errTooLarge
	}
	start := time.Now()
	head := min(n, l.head)
	if !l.takeWithin(ctx, head) {
		return nil, nil, errNoMemory
	}
	body := make([]byte, head)
	if err := l.fill(conn, r, body, l.deadline(start, head)); err != nil {
		l.budget.give(head)
		return nil, nil, err
	}
	done := func() { l.budget.give(head) }
	var err error
	switch {
	case n > l.large:
		body, done, err = l.readLarge(ctx, conn, r, body, n, l.deadline(start, n))
	case n > head:
		body, done, err = l.readRest(ctx, conn, r, body, n, l.deadline(start, n))
	}
	if err != nil {
		return nil, nil, err
	}
	return body, sync.OnceFunc(done), nil
}

// readRest reads the rest of a body of n bytes whose head has come, once
// the budget has memory for it, by deadline. It returns the body and the
// function that gives its memory back, the head's too, which an error
// gives back at once.
func (l bodyLimits) readRest(ctx context.Context, conn readDeadliner, r io.Reader, head []byte, n int64, deadline time.Time) ([]byte, func(), error) {
	if !l.takeWithin(ctx, n-int64(len(head))) {
		l.budget.give(int64(len(head)))
		return nil, nil, errNoMemory
	}
	done := func() { l.budget.give(n) }
	body := make([]byte, n)
	copy(body, head)
	if err := l.fill(conn, r, body[len(head):], deadline); err != nil {
		done()
		return nil, nil, err
	}
	return body, done, nil
}

// readLarge is readRest for a large body, which it reads into the big
// buffer, once its turn comes; it gives the head's memory back as it
// returns.
func (l bodyLimits) readLarge(ctx context.Context, conn readDeadliner, r io.Reader, head []byte, n int64, deadline time.Time) ([]byte, func(), error) {
	defer l.budget.give(int64(len(head)))
	ctx, cancel := context.WithTimeout(ctx, l.wait)
	defer cancel()
	body, ok := l.big.take(ctx, n)
	if !ok {
		return nil, nil, errNoMemory
	}
	done := func() { l.big.give(body) }
	copy(body, head)
	if err := l.fill(conn, r, body[len(head):], deadline); err != nil {
		done()
		return nil, nil, err
	}
	return body, done, nil
}

// takeWithin takes n bytes of the budget, waiting at most l.wait.
func (l bodyLimits) takeWithin(ctx context.Context, n int64) bool {
	ctx, cancel := context.WithTimeout(ctx, l.wait)
	defer cancel()
	return l.budget.take(ctx, n)
}

// fill reads len(p) bytes from r by deadline. Once done it lifts the
// deadline, which would otherwise outlive the body: the server reads on
// after it, for the next request of the connection, under its own
// timeouts.
func (l bodyLimits) fill(conn readDeadliner, r io.Reader, p []byte, deadline time.Time) error {
	// Without deadlines (not a connection of net/http's server) the
	// server's own read timeout is the only bound.
	_ = conn.SetReadDeadline(deadline)
	_, err := io.ReadFull(r, p)
	if err == nil {
		_ = conn.SetReadDeadline(time.Time{})
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errTooSlow
	}
	return err
}

// discard reads the rest of a body of n bytes that began at start into
// nothing, until its deadline at the latest.
func (l bodyLimits) discard(conn readDeadliner, r io.Reader, start time.Time, n int64) {
	_ = conn.SetReadDeadline(l.deadline(start, n))
	_, _ = io.Copy(io.Discard, r)
}

// bigBuffer is memory for large bodies, which take turns in it. Each
// large body in memory of its own would leave the garbage collector tens
// of megabytes to find, while the next one arrives: under a flood of
// them, the heap would grow to several times what is read at once. The
// buffer is kept between turns until the collector next runs, which
// lets it go once large bodies stop coming.
type bigBuffer struct {
	// turn holds a token while a body uses the buffer.
	turn chan struct{}
	size int64
	// kept is the buffer between turns; the holder of the turn alone
	// reads or sets it.
	kept weak.Pointer[[]byte]
}

func newBigBuffer(size int64) *bigBuffer {
	return &bigBuffer{turn: make(chan struct{}, 1), size: size}
}

// take waits for its turn until ctx is done, and returns the buffer's
// first n bytes, as the last body left them; false if the turn did not
// come.
func (b *bigBuffer) take(ctx context.Context, n int64) ([]byte, bool) {
	select {
	case b.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, false
	}
	if buf := b.kept.Value(); buf != nil {
		return (*buf)[:n], true
	}
	return make([]byte, b.size)[:n], true
}

// give gives back p, taken before, for the next turn.
func (b *bigBuffer) give(p []byte) {
	p = p[:cap(p)]
	b.kept = weak.Make(&p)
	<-b.turn
}
