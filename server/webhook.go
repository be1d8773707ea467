package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/atoll-iac/atoll/vcs"
)

// handleEvents answers a webhook at once: it verifies and decodes it, and
// queues whatever it asks for to run after the answer. What can be
// refused from the headers is refused before the body is read.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	forge := s.forgeFor(r.Header)
	if forge == nil {
		s.refuseUnread(w, r, start, http.StatusBadRequest, "not a webhook from a configured forge")
		return
	}
	if s.refused[forge.Name()] {
		s.refuseUnread(w, r, start, http.StatusUnauthorized, "this server finds "+forge.Name()+"'s events itself (polling, or an App's inbox) and takes its webhooks only with a secret")
		return
	}
	body, done, status := s.readBody(w, r)
	switch status {
	case 0:
	case http.StatusServiceUnavailable, http.StatusRequestEntityTooLarge:
		s.refuseUnread(w, r, start, status, http.StatusText(status))
		return
	default:
		refuse(w, status, http.StatusText(status))
		return
	}
	// Given back even should parsing panic: else the memory, or the big
	// buffer's turn, would be lost for good.
	defer done()
	ev, err := forge.ParseWebhook(r.Header, body)
	// The event holds values of its own: the body's memory can go to the
	// next one.
	done()
	switch {
	case errors.Is(err, vcs.ErrIgnored):
		respond(w, http.StatusOK, err.Error())
		return
	case errors.Is(err, vcs.ErrUnauthorized):
		s.log.Warn("webhook refused", "forge", forge.Name(), "remote", r.RemoteAddr, "err", err)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	adm, err := s.admit(r.Context(), forge, ev)
	if err == nil {
		s.delivered(r.Context(), forge, ev.DeliveryID)
	}
	switch {
	case errors.Is(err, errStoreClosed):
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	case err != nil:
		http.Error(w, "cannot queue work now", http.StatusServiceUnavailable)
	case !adm.queued:
		respond(w, http.StatusOK, "ignored: "+adm.why)
	default:
		respond(w, http.StatusAccepted, fmt.Sprintf("queued: %s (job %s)", adm.why, adm.job))
	}
}

// readBody reads a webhook body within s.bodies, once its length is
// known. A non-zero status says why it was not read; else done gives the
// body's memory back, once it is parsed: calls after the first do
// nothing.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, done func(), status int) {
	if r.ContentLength < 0 {
		// Both forges say how long their bodies are; one that does not
		// could only be read by guessing how much memory it needs.
		return nil, nil, http.StatusLengthRequired
	}
	body, done, err := s.bodies.read(r.Context(), http.NewResponseController(w), r.Body, r.ContentLength)
	switch {
	case errors.Is(err, errTooLarge):
		return nil, nil, http.StatusRequestEntityTooLarge
	case errors.Is(err, errNoMemory):
		w.Header().Set("Retry-After", "1")
		return nil, nil, http.StatusServiceUnavailable
	case errors.Is(err, errTooSlow):
		return nil, nil, http.StatusRequestTimeout
	case err != nil:
		return nil, nil, http.StatusBadRequest
	}
	return body, done, 0
}

// refuse answers a request whose body was not read, or not all of it,
// and closes the connection, which the server would otherwise keep open
// to read the rest of the body first.
func refuse(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Connection", "close")
	http.Error(w, msg, code)
}

// refuseUnread refuses a request that began at start before its body is
// read, then reads the rest of the body into nothing, within the body's
// deadline. A client still sending reads the answer then, which it would
// lose if the connection closed on unread data: that resets it. It costs
// time, which the deadline bounds, but no memory.
func (s *Server) refuseUnread(w http.ResponseWriter, r *http.Request, start time.Time, code int, msg string) {
	rc := http.NewResponseController(w)
	// Without it, net/http would not read the body once the answer is
	// sent; an HTTP/2 stream is reset alone, and needs none.
	_ = rc.EnableFullDuplex()
	refuse(w, code, msg)
	_ = rc.Flush()
	s.bodies.discard(rc, r.Body, start, r.ContentLength)
}

// forgeFor returns the configured forge a webhook with headers h comes
// from, or nil.
func (s *Server) forgeFor(h http.Header) vcs.Forge {
	for _, f := range s.forges {
		if f.Handles(h) {
			return f
		}
	}
	return nil
}

// respond answers with a line of plain text.
func respond(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
