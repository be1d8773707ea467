package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

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

// DriftPass is what one pass of `atoll drift` found: a report per
// repository checked, and the repositories it could not check, with why.
type DriftPass struct {
	Reports []runner.DriftReport
	Failed  map[string]error
}

// Drifted reports whether a repository checked has drifted.
func (p DriftPass) Drifted() bool {
	return slices.ContainsFunc(p.Reports, func(r runner.DriftReport) bool { return r.Drifted() > 0 })
}

// RunDrift checks, at once and one after the other, each repository in
// the allowlist's scope on each forge for drift, as the server's drift
// checks do (drift.go): the same plans, statuses and issues. It writes a
// line per repository to out.
func RunDrift(ctx context.Context, cfg Config, out io.Writer) (DriftPass, error) {
	cfg.oneShot = true
	s, err := New(cfg)
	if err != nil {
		return DriftPass{}, err
	}
	defer s.Close(context.WithoutCancel(ctx))
	pass := DriftPass{Failed: map[string]error{}}
	reports := driftReports{tasks: s.tasks}
	for _, f := range s.forges {
		w, ok := f.(vcs.Watcher)
		resolver, resolves := f.(vcs.RefResolver)
		if !ok || !resolves {
			continue
		}
		repos, err := newPoller(s, f, w, time.Minute).repositories(ctx)
		if err != nil {
			return pass, fmt.Errorf("listing the repositories of %s: %w", f.Name(), err)
		}
		for _, repo := range repos {
			ref, err := resolver.ResolveRef(ctx, repo, "")
			if err != nil {
				pass.Failed[repo] = err
				fmt.Fprintf(out, "%s: not checked: %v\n", repo, err)
				continue
			}
			run, on := s.driftRun(ref)
			if !on {
				fmt.Fprintf(out, "%s: not checked: the server's repo config turns drift checks off\n", repo)
				continue
			}
			id := newJobID()
			o := s.jobs.RunRef(ctx, id, f, ref, run, "drift")
			r, ok, err := reports.report(ctx, f.Name(), ref.Repo.FullName)
			if err != nil || !ok || r.Job != id {
				pass.Failed[repo] = fmt.Errorf("the check (job %s) did not end with a report; failed: %v", id, o.Failed)
				fmt.Fprintf(out, "%s: not checked: %v\n", repo, pass.Failed[repo])
				continue
			}
			pass.Reports = append(pass.Reports, r)
			fmt.Fprintf(out, "%s (%s at %.7s): %d of %d projects drifted\n", r.Repo, r.Ref, r.SHA, r.Drifted(), len(r.Projects))
			for _, p := range r.Projects {
				fmt.Fprintf(out, "  %s %s: %s: %s\n", p.Dir, p.Workspace, p.State, p.Summary)
			}
		}
	}
	return pass, nil
}
