package tool

import (
	"bytes"
	"io"
	"sync"
)

// maxHeld bounds what a live writer holds back waiting for a line's end
// or a private key's: past it, what is held goes out, redacted as one.
const maxHeld = 64 << 10

// liveWriter passes a step's output on to w as it comes, redacted, a
// whole line at a time: a value the redactor knows never spans lines
// (one that does makes the writer hold everything until Close), and a
// PEM private key, which does, is held from its BEGIN line to its END
// line and redacted whole. It is safe for concurrent use (stdout and
// stderr).
type liveWriter struct {
	mu      sync.Mutex
	w       io.Writer
	redact  *Redactor
	pending bytes.Buffer
	// wholeOnly holds all output until Close, up to maxOutput: a
	// redacted value spans lines, and could be cut at one.
	wholeOnly bool
}

func newLiveWriter(w io.Writer, r *Redactor) *liveWriter {
	return &liveWriter{w: w, redact: r, wholeOnly: r.multiline}
}

func (l *liveWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wholeOnly {
		// Held until Close, as much as the step's own output keeps.
		l.pending.Write(p[:min(len(p), max(maxOutput-l.pending.Len(), 0))])
		return len(p), nil
	}
	l.pending.Write(p)
	l.flush(false)
	return len(p), nil
}

// Close sends what is held.
func (l *liveWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flush(true)
	return nil
}

// flush sends the whole lines pending, redacted, up to a private key
// not yet ended; all of it at the end, or when it holds too much. The
// caller holds mu. A failing w is not the step's failure: its output
// is still captured whole.
func (l *liveWriter) flush(end bool) {
	b := l.pending.Bytes()
	cut := bytes.LastIndexByte(b, '\n') + 1
	if begin := bytes.LastIndex(b[:cut], []byte("-----BEGIN ")); begin >= 0 && !bytes.Contains(b[begin:cut], []byte("-----END ")) {
		cut = bytes.LastIndexByte(b[:begin], '\n') + 1
	}
	if end || len(b) > maxHeld {
		cut = len(b)
	}
	if cut == 0 {
		return
	}
	l.w.Write([]byte(l.redact.Redact(string(b[:cut]))))
	l.pending.Next(cut)
}
