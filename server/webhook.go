package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/atoll-iac/atoll/vcs"
)

// maxWebhookBody is the largest webhook body read; GitHub caps its
// payloads at 25 MB.
const maxWebhookBody = 25 << 20

// handleEvents answers a webhook at once: it verifies and decodes it, and
// queues whatever it asks for to run after the answer.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	forge := s.forgeFor(r.Header)
	if forge == nil {
		http.Error(w, "not a webhook from a configured forge", http.StatusBadRequest)
		return
	}
	if s.refused[forge.Name()] {
		http.Error(w, "this server polls "+forge.Name()+" and takes its webhooks only with a secret", http.StatusUnauthorized)
		return
	}
	body, status := s.readBody(w, r)
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	ev, err := forge.ParseWebhook(r.Header, body)
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

// readBody reads a webhook body of at most maxWebhookBody bytes, with a
// bounded number of bodies in memory at once. A non-zero status says why
// it did not.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int) {
	if r.ContentLength > maxWebhookBody {
		return nil, http.StatusRequestEntityTooLarge
	}
	select {
	case s.reading <- struct{}{}:
		defer func() { <-s.reading }()
	default:
		w.Header().Set("Retry-After", "1")
		return nil, http.StatusServiceUnavailable
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, http.StatusRequestEntityTooLarge
	case err != nil:
		return nil, http.StatusBadRequest
	}
	return body, 0
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
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
