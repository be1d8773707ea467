package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/atoll-iac/atoll/vcs"
)

// readyTimeout bounds /readyz's checks. They run at once, each under
// this deadline, so /readyz answers within it.
const readyTimeout = 2 * time.Second

// forgeCheckReuse is how long /readyz answers with the forges' last
// checks rather than asking again: whoever can reach the server may ask
// as often as they like, and should not spend atoll's API rate limits by
// doing so. The store, which costs nothing to ask, is asked every time.
const forgeCheckReuse = 5 * time.Second

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

// checkResult is how a readyCheck went: its state, and the error that
// made it fail.
type checkResult struct {
	name  string
	state string
	err   error
}

// readyProbe serves /readyz for s: 200 when its store answers and every
// forge that can be pinged (vcs.Pinger) takes its token within
// readyTimeout, else 503 naming what did not, each failure logged.
// Unlike /healthz (should the process be restarted?), a forge that is
// down makes the replica not ready, though restarting it would not help.
type readyProbe struct {
	s *Server
	// mu is held while the forges are asked, so that requests at the
	// same time share one round of calls; forges is its result, of at.
	mu     sync.Mutex
	forges []checkResult
	at     time.Time
}

func (p *readyProbe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	var forges []checkResult
	var asking sync.WaitGroup
	asking.Go(func() { forges = p.forgeResults(ctx) })
	results := p.s.runChecks(ctx, []readyCheck{{"store", p.s.pingStore}})
	asking.Wait()
	results = append(results, forges...)

	rd := readiness{Status: "ready", Checks: make(map[string]string, len(results))}
	for _, c := range results {
		rd.Checks[c.name] = c.state
		if c.state != checkOK {
			rd.Failing = append(rd.Failing, c.name)
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

// forgeResults asks every forge that can be pinged, or returns what they
// answered less than forgeCheckReuse ago. The round of calls has its own
// deadline: a caller that hangs up does not cut it short for the others
// who share it.
func (p *readyProbe) forgeResults(ctx context.Context) []checkResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && time.Since(p.at) < forgeCheckReuse {
		return p.forges
	}
	var checks []readyCheck
	for _, f := range p.s.forges {
		if pinger, ok := f.(vcs.Pinger); ok {
			checks = append(checks, readyCheck{f.Name(), pinger.Ping})
		}
	}
	own, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	p.forges, p.at = p.s.runChecks(own, checks), time.Now()
	return p.forges
}

// runChecks runs checks at once and returns how each went, in order,
// logging each failure. A check with no answer when ctx is done is a
// timeout: runChecks does not wait for it.
func (s *Server) runChecks(ctx context.Context, checks []readyCheck) []checkResult {
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
	results := make([]checkResult, len(checks))
	for i, c := range checks {
		results[i] = checkResult{c.name, checkTimeout, context.DeadlineExceeded}
	}
wait:
	for range checks {
		select {
		case i := <-done:
			switch err := errs[i]; {
			case err == nil:
				results[i].state, results[i].err = checkOK, nil
			case errors.Is(err, context.DeadlineExceeded):
				results[i].err = err
			default:
				results[i].state, results[i].err = checkError, err
			}
		case <-ctx.Done():
			break wait
		}
	}
	for _, c := range results {
		if c.state != checkOK {
			s.log.Warn("readiness check: "+c.name+" does not answer", "check", c.name, "state", c.state, "err", c.err)
		}
	}
	return results
}
