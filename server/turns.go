package server

import (
	"context"
	"time"
)

// turnInterval is how often the server hands the locks that lapsed, or
// that a crash left free, to the pull requests waiting in line for them.
// Locks let go of by a job are handed over at once, by that job.
const turnInterval = 10 * time.Second

// passTurns hands free locks to their lines (runner.PassTurns) at start
// and every turnInterval, or a quarter of the lock TTL when that is
// shorter, until ctx ends.
func (s *Server) passTurns(ctx context.Context, lockTTL time.Duration) {
	every := turnInterval
	if lockTTL > 0 {
		every = max(min(every, lockTTL/4), 100*time.Millisecond)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := s.jobs.PassTurns(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("passing locks to the pull requests in line", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
