package server

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRedisLostMidAutoplan loses Redis in the middle of an autoplan,
// which posts nothing until it has planned: the note that it paused is a
// comment of its own, which the run once Redis is back edits into the
// plan. One comment for the autoplan, here too.
func TestRedisLostMidAutoplan(t *testing.T) {
	t.Parallel()
	e, srv, pr := slowOnRedis(t)
	mustStatus(t, e.gh.SendPullRequest(t, e.events, "opened", pr), http.StatusAccepted, "queued")
	time.Sleep(time.Second) // into the slow hook
	srv.Stop()
	e.gh.WaitFor(t, waitLong, "the autoplan to say it paused", func() bool {
		cs := e.gh.Comments(pr.Repo, pr.Number)
		return len(cs) == 1 && strings.HasPrefix(cs[0].Body, "⏸️ **atoll lost its job store while running this**")
	})
	paused := e.gh.Comments(pr.Repo, pr.Number)[0]
	srv.Restart()
	e.gh.WaitFor(t, waitLong, "the plan once Redis is back", func() bool {
		for _, c := range e.gh.Comments(pr.Repo, pr.Number) {
			if strings.Contains(c.Body, "Plan: 1 to add") {
				return true
			}
		}
		return false
	})
	if cs := e.gh.Comments(pr.Repo, pr.Number); len(cs) != 1 || cs[0].ID != paused.ID {
		t.Errorf("want the paused comment %d edited into the plan, got %d comments: %+v", paused.ID, len(cs), cs)
	}
}
