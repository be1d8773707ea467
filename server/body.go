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
// them hold at once (a byteBudget), given as the bytes come, and in
// time (bodyLimits.deadline, and progress for each chunk), so that a
// client that sends slowly, or stops, lets go soon.

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
	if n == 0 {
		return
	}
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
	// chunk is the memory a body gets first, once its first byte has
	// come: a client that sends nothing holds nothing. progress is how
	// long each chunk of a body may take to come, so that a client that
	// stops lets go soon of what it holds, the big buffer included.
	chunk    int64
	progress time.Duration
	// wait is how long a body waits for memory; for the big buffer,
	// progress longer, which a body that stalls holds it for at most.
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
// some tens of kilobytes, and come at once: the budget holds hundreds
// of them, or of bodies still coming; GitHub's largest, 25 MB, are rare
// enough to take turns. GitHub and GitLab both give up on a delivery
// not answered within 10 seconds, so no body is waited for longer.
func webhookLimits() bodyLimits {
	return bodyLimits{
		budget:   newByteBudget(16 << 20),
		large:    1 << 20,
		big:      newBigBuffer(maxWebhookBody),
		chunk:    64 << 10,
		progress: time.Second,
		wait:     time.Second,
		grace:    2 * time.Second,
		rate:     1 << 20,
		most:     10 * time.Second,
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
// deadlines for. It returns the body with the function that gives its
// memory back, to call once the body is no longer needed: the body must
// not be used, nor kept, after.
//
// Memory follows the bytes that come. A body gets a chunk of the budget
// once its first byte has come, and once it has filled that, as much
// again as it holds when the next byte comes: it holds at most a chunk,
// or twice what has come. A large body reads its first chunk so, then
// waits its turn in the big buffer. Each chunk must come within
// l.progress, the whole body by its deadline. Errors are errTooLarge
// (past the big buffer's size), errNoMemory, errTooSlow, or what
// reading r returned (io.ErrUnexpectedEOF for a short body).
func (l bodyLimits) read(ctx context.Context, conn readDeadliner, r io.Reader, n int64) ([]byte, func(), error) {
	if n > l.big.size {
		return nil, nil, errTooLarge
	}
	b := bodyRead{l: l, conn: conn, r: r, end: l.deadline(time.Now(), n)}
	var body []byte
	var done func()
	var err error
	if n > l.large {
		body, done, err = b.readLarge(ctx, n)
	} else {
		body, err = b.grow(ctx, nil, n)
		done = func() { l.budget.give(int64(cap(body))) }
	}
	if err != nil {
		return nil, nil, err
	}
	// The deadline would otherwise outlive the body: the server reads
	// on after it, for the next request of the connection, under its
	// own timeouts.
	_ = conn.SetReadDeadline(time.Time{})
	return body, sync.OnceFunc(done), nil
}

// bodyRead is the reading of one body, from r, whose reads conn sets
// deadlines for, by end.
type bodyRead struct {
	l    bodyLimits
	conn readDeadliner
	r    io.Reader
	end  time.Time
}

// grow reads body on until it has n bytes, in memory of the budget, of
// which body holds cap(body) bytes. It takes more once the next byte
// has come: a chunk, or as much again as it holds, so that it copies
// the body few times; it waits for it until ctx is done, l.wait at
// most. It returns the body, which holds cap(body) bytes of the budget;
// an error gives them back.
func (b bodyRead) grow(ctx context.Context, body []byte, n int64) ([]byte, error) {
	for int64(len(body)) < n {
		next, err := b.next()
		size := min(n, max(2*int64(cap(body)), b.l.chunk))
		if err == nil && !b.l.takeWithin(ctx, size-int64(cap(body))) {
			err = errNoMemory
		}
		if err != nil {
			b.l.budget.give(int64(cap(body)))
			return nil, err
		}
		// The body it grows out of is garbage once copied.
		body = append(append(make([]byte, 0, size), body...), next)
		if err := b.fill(body[len(body):size]); err != nil {
			b.l.budget.give(size)
			return nil, err
		}
		body = body[:size]
	}
	return body, nil
}

// readLarge reads a large body of n bytes: its first chunk in memory of
// the budget, then all of it in the big buffer, once its turn comes. It
// returns the body and the function that gives the buffer back, which
// an error gives back at once.
func (b bodyRead) readLarge(ctx context.Context, n int64) ([]byte, func(), error) {
	head, err := b.grow(ctx, nil, min(n, b.l.chunk))
	if err != nil {
		return nil, nil, err
	}
	defer b.l.budget.give(int64(cap(head)))
	ctx, cancel := context.WithTimeout(ctx, b.l.wait+b.l.progress)
	defer cancel()
	body, ok := b.l.big.take(ctx, n)
	if !ok {
		return nil, nil, errNoMemory
	}
	done := func() { b.l.big.give(body) }
	copy(body, head)
	if err := b.fill(body[len(head):]); err != nil {
		done()
		return nil, nil, err
	}
	return body, done, nil
}

// next reads the next byte of the body, within l.progress.
func (b bodyRead) next() (byte, error) {
	var p [1]byte
	err := b.fill(p[:])
	return p[0], err
}

// fill reads len(p) bytes of the body, each chunk of them within
// l.progress, all by the body's deadline.
func (b bodyRead) fill(p []byte) error {
	for len(p) > 0 {
		k := min(int64(len(p)), b.l.chunk)
		deadline := time.Now().Add(b.l.progress)
		if b.end.Before(deadline) {
			deadline = b.end
		}
		// Without deadlines (not a connection of net/http's server) the
		// server's own read timeout is the only bound.
		_ = b.conn.SetReadDeadline(deadline)
		_, err := io.ReadFull(b.r, p[:k])
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return errTooSlow
		case err == io.EOF: // ReadFull's, of a body short by p
			return io.ErrUnexpectedEOF
		case err != nil:
			return err
		}
		p = p[k:]
	}
	return nil
}

// takeWithin takes n bytes of the budget, waiting at most l.wait.
func (l bodyLimits) takeWithin(ctx context.Context, n int64) bool {
	ctx, cancel := context.WithTimeout(ctx, l.wait)
	defer cancel()
	return l.budget.take(ctx, n)
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
