package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/vcs"
)

// A CI job is an event source too, for runners that can reach the forge
// but that nothing can reach: RunCI runs the job's event, or a command
// its configuration gives, at once, with no queue and no HTTP.

// CIWork is what a CI job asks atoll to do: the work of the webhook its
// event stands for, or a command.
type CIWork struct {
	// Delivery is the webhook the forge would have sent for the job's
	// event.
	Delivery vcs.Delivery
	// Command, when set, is run instead, on Pull of Forge ("gitlab"), as
	// User: who ran the job.
	Command string
	Forge   string
	Pull    vcs.PullRequest
	User    string
}

// RunCI does w under cfg and writes what atoll said on the pull request
// to out. It reports whether the work failed or was refused; an error
// says it could not be tried.
func RunCI(ctx context.Context, cfg Config, w CIWork, out io.Writer) (failed bool, err error) {
	cfg.oneShot = true
	// No one would plan a pull request of a one-pass run when its turn
	// came: it does not wait in line. (The locks it lets go of are still
	// passed on, for a server that shares its --redis-addr to plan.)
	cfg.LockQueue = false
	s, err := New(cfg)
	if err != nil {
		return false, err
	}
	defer s.Close(context.WithoutCancel(ctx))
	forge, ev, err := s.ciEvent(w)
	if errors.Is(err, vcs.ErrIgnored) {
		fmt.Fprintf(out, "atoll: nothing to do: %v.\n", err)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !s.allow.Allows(ev.Repo.FullName) {
		return false, fmt.Errorf("server: repository %s is not in the allowlist", ev.Repo.FullName)
	}
	if why, ok := s.jobs.Decide(ev); !ok {
		fmt.Fprintf(out, "atoll: nothing to do: %s.\n", why)
		return false, nil
	}
	if cfg.Redis.Addr == "" {
		s.log.Warn("locks hold only within this run: with --redis-addr, runs share them")
		if cfg.PlansDir == "" {
			s.log.Warn("plans stay in this run's data directory: keep --plans-dir as an artifact, or use --redis-addr, for a later run to apply them")
		}
	}
	var o runner.Outcome
	if w.Command != "" {
		o = s.jobs.RunCommand(ctx, newJobID(), forge, w.Pull, w.User, w.Command)
	} else {
		o = s.jobs.RunNow(ctx, newJobID(), forge, ev)
	}
	fmt.Fprintln(out, strings.Join(o.Said, "\n\n"))
	return o.Failed, nil
}

// ciEvent is the forge and the event w stands for.
func (s *Server) ciEvent(w CIWork) (vcs.Forge, vcs.Event, error) {
	if w.Command != "" {
		for _, f := range s.forges {
			if f.Name() == w.Forge {
				ev := vcs.Event{Type: vcs.CommentCreated, Repo: w.Pull.Repo, Pull: w.Pull, Comment: vcs.Comment{Author: w.User, Body: w.Command}}
				return f, ev, nil
			}
		}
		return nil, vcs.Event{}, fmt.Errorf("server: no %s forge configured", w.Forge)
	}
	forge := s.forgeFor(w.Delivery.Header)
	if forge == nil {
		return nil, vcs.Event{}, errors.New("server: the event is not from a configured forge")
	}
	ev, err := forge.ParseWebhook(w.Delivery.Header, w.Delivery.Body)
	return forge, ev, err
}
