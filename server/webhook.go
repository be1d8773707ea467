package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

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
	log := s.log.With("forge", forge.Name(), "repo", ev.Repo.FullName, "pr", ev.Pull.Number, "delivery", ev.DeliveryID)
	if !s.allow.Allows(ev.Repo.FullName) {
		log.Info("ignoring event from a repository outside the allowlist")
		respond(w, http.StatusOK, "ignored: repository not in the allowlist")
		return
	}
	job, why := s.decide(forge, ev)
	if job == nil {
		respond(w, http.StatusOK, "ignored: "+why)
		return
	}
	id := newJobID()
	log = log.With("job", id)
	// Not cut short by the client hanging up: the forge would retry a
	// delivery it thinks failed.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	s.queueing.RLock()
	if s.storeClosed {
		s.queueing.RUnlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	isNew, err := s.enqueue(ectx, forge, ev, id)
	s.queueing.RUnlock()
	switch {
	case err != nil:
		log.Error("queueing job", "err", err)
		http.Error(w, "cannot queue work now", http.StatusServiceUnavailable)
		return
	case !isNew:
		respond(w, http.StatusOK, "ignored: delivery already received")
		return
	}
	log.Info("queued", "event", ev.Type.String(), "work", why)
	respond(w, http.StatusAccepted, fmt.Sprintf("queued: %s (job %s)", why, id))
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

func (s *Server) forgeFor(h http.Header) vcs.Forge {
	for _, f := range s.forges {
		if f.Handles(h) {
			return f
		}
	}
	return nil
}

func respond(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func newJobID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
