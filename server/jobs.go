package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/atoll-iac/atoll/runner/joblog"
)

// How a live tail follows a job: the store is read this often for new
// output, a chunk at a time, and the stream is ended after a while so a
// forgotten tab holds nothing for long (the browser reconnects).
const (
	tailEvery   = 300 * time.Millisecond
	tailChunk   = 64 << 10
	tailMaxTime = 30 * time.Minute
)

// job shows a job: its record and its output so far, which the page's
// script then follows live (tail).
func (w *web) job(rw http.ResponseWriter, r *http.Request, user string) {
	d := w.data(r, user, "Job · atoll")
	out, rec, err := w.s.records.Output(r.Context(), r.PathValue("id"), 0, joblog.MaxOutput)
	if errors.Is(err, joblog.ErrNotFound) {
		rw.WriteHeader(http.StatusNotFound)
		d.Error = "atoll keeps no job " + r.PathValue("id") + ": it never ran here, or it was forgotten after the retention period."
		w.render(rw, "job.html", d, nil)
		return
	}
	if err == nil {
		d.Job, d.Output = &rec, string(out)
		d.Title = fmt.Sprintf("%s %s#%d · atoll", rec.Command, rec.Repo, rec.Pull)
		if rec.Pull == 0 {
			d.Title = fmt.Sprintf("%s %s@%s · atoll", rec.Command, rec.Repo, rec.Ref)
		}
	}
	w.render(rw, "job.html", d, err)
}

// tail streams a job's output from ?offset= on as Server-Sent Events: an
// "output" event per chunk (its id the offset after it, so a browser
// that reconnects sends Last-Event-ID and misses nothing), and an "end"
// event with the job's final state once it has ended and all its output
// is sent.
func (w *web) tail(rw http.ResponseWriter, r *http.Request, _ string) {
	id := r.PathValue("id")
	offset, _ := strconv.ParseInt(cmp.Or(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("offset")), 10, 64)
	flusher, ok := rw.(http.Flusher)
	if !ok {
		http.Error(rw, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), tailMaxTime)
	defer cancel()
	if _, err := w.s.records.Get(ctx, id); err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, joblog.ErrNotFound) {
			status = http.StatusNotFound
		}
		http.Error(rw, http.StatusText(status), status)
		return
	}
	// Streamed for longer than the server's write timeout allows.
	http.NewResponseController(rw).SetWriteDeadline(time.Time{})
	rw.Header().Set("Content-Type", "text/event-stream")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(http.StatusOK)
	flusher.Flush()
	tick := time.NewTicker(tailEvery)
	defer tick.Stop()
	for {
		out, rec, err := w.s.records.Output(ctx, id, max(offset, 0), tailChunk)
		switch {
		case err != nil && ctx.Err() == nil:
			w.s.log.Warn("web: following a job's output", "job", id, "err", err)
		case len(out) > 0:
			offset += int64(len(out))
			fmt.Fprintf(rw, "event: output\nid: %d\n", offset)
			writeSSEData(rw, string(out))
			flusher.Flush()
			continue // more may be there already
		case rec.State.Ended():
			fmt.Fprintf(rw, "event: end\ndata: %s\n\n", rec.State)
			flusher.Flush()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// writeSSEData writes s as an event's data, each line its own data line,
// and ends the event.
func writeSSEData(rw http.ResponseWriter, s string) {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '\n' {
			fmt.Fprintf(rw, "data: %s\n", s[start:i])
			start = i + 1
		}
	}
	fmt.Fprint(rw, "\n")
}
