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

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
)

// maxWebhookBody is the largest webhook body read; GitHub caps its
// payloads at 25 MB.
const maxWebhookBody = 25 << 20

// handleEvents answers a webhook at once: it verifies and decodes it, and
// queues whatever it asks for to run after the answer.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading body failed", http.StatusBadRequest)
		return
	}
	forge := s.forgeFor(r.Header)
	if forge == nil {
		http.Error(w, "not a webhook from a configured forge", http.StatusBadRequest)
		return
	}
	ev, err := forge.ParseWebhook(r.Header, body)
	switch {
	case errors.Is(err, vcs.ErrIgnored):
		reply(w, http.StatusOK, err.Error())
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
		reply(w, http.StatusOK, "ignored: repository not in the allowlist")
		return
	}
	job, why := s.decide(forge, ev)
	if job == nil {
		reply(w, http.StatusOK, "ignored: "+why)
		return
	}
	if !s.deliveries.first(ev.DeliveryID, time.Now()) {
		reply(w, http.StatusOK, "ignored: delivery already received")
		return
	}
	id := newJobID()
	log = log.With("job", id)
	run := func(ctx context.Context) { s.runJob(ctx, log, id, forge, ev.Pull, job) }
	if err := s.queue.Submit(runner.Job{ID: id, Run: run}); err != nil {
		log.Error("queueing job", "err", err)
		http.Error(w, "cannot queue work now", http.StatusServiceUnavailable)
		return
	}
	log.Info("queued", "event", ev.Type.String(), "work", why)
	reply(w, http.StatusAccepted, fmt.Sprintf("queued: %s (job %s)", why, id))
}

func (s *Server) forgeFor(h http.Header) vcs.Forge {
	for _, f := range s.forges {
		if f.Handles(h) {
			return f
		}
	}
	return nil
}

func reply(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func newJobID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
