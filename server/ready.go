package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/atoll-iac/atoll/vcs"
)

// readyTimeout bounds /readyz's checks. They run at once, each under
// this deadline, so /readyz answers within it.
const readyTimeout = 2 * time.Second

// What /readyz says of one check.
const (
	checkOK      = "ok"
	checkTimeout = "timeout" // no answer within readyTimeout
	checkError   = "error"   // an answer that was not a yes; the log says which
)

// readiness is what /readyz answers.
type readiness struct {
	// Status is "ready" when every check passed, else "not ready".
	Status string `json:"status"`
	// Failing names the checks that did not pass, the store first, then
	// the forges in the order they are configured.
	Failing []string `json:"failing,omitempty"`
	// Checks says how each check went, by name ("store", "github",
	// "gitlab"): checkOK, checkTimeout or checkError.
	Checks map[string]string `json:"checks"`
}

// readyCheck is one thing /readyz asks: the store, or a forge's API.
type readyCheck struct {
	name string
	ping func(context.Context) error
}

// readyChecks are the checks /readyz runs: the store, then every forge
// that can be pinged (vcs.Pinger), in the order they are configured.
func (s *Server) readyChecks() []readyCheck {
	checks := []readyCheck{{"store", s.pingStore}}
	for _, f := range s.forges {
		if p, ok := f.(vcs.Pinger); ok {
			checks = append(checks, readyCheck{f.Name(), p.Ping})
		}
	}
	return checks
}

// readyz answers whether this replica should be sent work: 200 when its
// store answers and every forge takes its token within readyTimeout, else
// 503 naming what did not, each failure logged. Unlike /healthz (is the
// process alive?), a forge that is down makes the replica not ready,
// though restarting it would not help.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	checks := s.readyChecks()
	// Buffered: a check that ignores its deadline and answers late finds
	// room, and nobody waiting.
	done := make(chan int, len(checks))
	errs := make([]error, len(checks))
	for i, c := range checks {
		go func() {
			errs[i] = c.ping(ctx)
			done <- i
		}()
	}
	// A check with no answer by the deadline stays a timeout.
	states := make([]string, len(checks))
	failures := make([]error, len(checks))
	for i := range states {
		states[i], failures[i] = checkTimeout, context.DeadlineExceeded
	}
wait:
	for range checks {
		select {
		case i := <-done:
			switch err := errs[i]; {
			case err == nil:
				states[i] = checkOK
			case errors.Is(err, context.DeadlineExceeded):
				failures[i] = err
			default:
				states[i], failures[i] = checkError, err
			}
		case <-ctx.Done():
			break wait
		}
	}
	rd := readiness{Status: "ready", Checks: make(map[string]string, len(checks))}
	for i, c := range checks {
		rd.Checks[c.name] = states[i]
		if states[i] != checkOK {
			rd.Failing = append(rd.Failing, c.name)
			s.log.Warn("readiness check: "+c.name+" does not answer", "check", c.name, "state", states[i], "err", failures[i])
		}
	}
	code := http.StatusOK
	if len(rd.Failing) > 0 {
		code, rd.Status = http.StatusServiceUnavailable, "not ready"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(rd)
}
