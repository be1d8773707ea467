package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/vcs"
)

// Drift detection: every --drift-interval, each repository in scope (the
// allowlist's, as polling finds them) gets a drift check of its default
// branch (runner.RefRun "drift"), queued like any job, at a time of its
// own within the interval, so that the checks do not all start at once.
// A scheduler per forge, with a lease, queues them; the job's report is
// kept as a mark, for GET /api/drift.

// driftKeep is how long a drift report and a repository's schedule are
// kept.
const driftKeep = 30 * 24 * time.Hour

func driftReportKey(forge, repo string) string { return "drift/" + forge + "/" + repo + "/report" }

// driftIndexKey names the mark that lists the repositories with a drift
// report, as "forge/repo", so that the web UI and the API can list
// them; at most maxDriftIndex, the most recently checked kept.
const (
	driftIndexKey = "drift/index"
	maxDriftIndex = 1000
)

func driftNextKey(forge, repo string) string { return "drift/" + forge + "/" + repo + "/next" }
func driftJobKey(forge, repo string) string  { return "drift/" + forge + "/" + repo + "/job" }

// driftReports keeps the last drift report of each repository as a mark
// in the task store, shared by replicas, and in m's gauges when m is
// set.
type driftReports struct {
	tasks queue.Store
	m     *metrics
}

// RecordDrift implements runner.DriftRecorder.
func (d driftReports) RecordDrift(ctx context.Context, r runner.DriftReport) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if d.m != nil {
		d.m.drift(r)
	}
	if err := d.tasks.SetMark(ctx, queue.Mark{Key: driftReportKey(r.Forge, r.Repo), Value: string(v), TTL: driftKeep}); err != nil {
		return err
	}
	return d.index(ctx, r.Forge+"/"+r.Repo)
}

// index puts name first in the list of repositories with a report. Two
// replicas that record at once may drop one name from it, until that
// repository's next check.
func (d driftReports) index(ctx context.Context, name string) error {
	names, err := d.indexed(ctx)
	if err != nil {
		return err
	}
	names = append([]string{name}, slices.DeleteFunc(names, func(n string) bool { return n == name })...)
	v, err := json.Marshal(names[:min(len(names), maxDriftIndex)])
	if err != nil {
		return err
	}
	return d.tasks.SetMark(ctx, queue.Mark{Key: driftIndexKey, Value: string(v), TTL: driftKeep})
}

// indexed lists the repositories with a report, as "forge/repo", the
// most recently checked first.
func (d driftReports) indexed(ctx context.Context) ([]string, error) {
	v, err := d.tasks.Marked(ctx, driftIndexKey)
	if err != nil || v == "" {
		return nil, err
	}
	var names []string
	if err := json.Unmarshal([]byte(v), &names); err != nil {
		return nil, fmt.Errorf("the drift index: %w", err)
	}
	return names, nil
}

// all returns the last report of each repository with one, of repo only
// when it is not "", sorted by repository.
func (d driftReports) all(ctx context.Context, repo string) ([]runner.DriftReport, error) {
	names, err := d.indexed(ctx)
	if err != nil {
		return nil, err
	}
	var out []runner.DriftReport
	for _, name := range names {
		forge, full, _ := strings.Cut(name, "/")
		if repo != "" && full != repo {
			continue
		}
		r, ok, err := d.LastDrift(ctx, forge, full)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b runner.DriftReport) int { return strings.Compare(a.Forge+"/"+a.Repo, b.Forge+"/"+b.Repo) })
	return out, nil
}

// LastDrift implements runner.DriftRecorder: the last drift report of
// repo on forge; false when there is none.
func (d driftReports) LastDrift(ctx context.Context, forge, repo string) (runner.DriftReport, bool, error) {
	v, err := d.tasks.Marked(ctx, driftReportKey(forge, repo))
	if err != nil || v == "" {
		return runner.DriftReport{}, false, err
	}
	var r runner.DriftReport
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return runner.DriftReport{}, false, fmt.Errorf("drift report of %s: %w", repo, err)
	}
	return r, true, nil
}

// driftCheckEvery is how often a scheduler looks for checks that are
// due: a twentieth of the interval, between a tenth of a second and a
// minute.
func driftCheckEvery(interval time.Duration) time.Duration {
	return min(max(interval/20, 100*time.Millisecond), time.Minute)
}

// newDriftScheduler returns a poller that queues the drift checks of the
// repositories forge shows, every interval each.
func newDriftScheduler(s *Server, forge vcs.Forge, watch vcs.Watcher, interval time.Duration) *poller {
	p := newLoop(s, forge, forge.Name()+"-drift", "drift", watch, driftCheckEvery(interval))
	d := &driftScheduler{p: p, interval: interval}
	p.poll = d.cycle
	return p
}

// driftScheduler queues drift checks, as its poller's poll.
type driftScheduler struct {
	p        *poller
	interval time.Duration
}

// cycle queues the checks that are due, and sets when each repository is
// next due: its first check at a time of its own within an interval of
// now, the next ones an interval after the last.
func (d *driftScheduler) cycle(ctx context.Context) error {
	repos, err := d.p.repositories(ctx)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, repo := range repos {
		if err := d.check(ctx, repo); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", repo, err))
		}
	}
	return errors.Join(errs...)
}

// check queues repo's drift check when it is due.
func (d *driftScheduler) check(ctx context.Context, repo string) error {
	forge := d.p.forge.Name()
	v, err := d.p.s.tasks.Marked(ctx, driftNextKey(forge, repo))
	if err != nil {
		return err
	}
	now := time.Now()
	next, err := time.Parse(time.RFC3339Nano, v)
	if err != nil { // none yet
		return d.setNext(ctx, repo, now.Add(spread(forge+"/"+repo, d.interval)))
	}
	if now.Before(next) {
		return nil
	}
	// Whatever comes of this round, the next is an interval away: a
	// forge that fails is not asked again at every tick.
	if err := d.setNext(ctx, repo, now.Add(d.interval)); err != nil {
		return err
	}
	if d.running(ctx, repo) {
		d.p.log.Info("drift check still queued or running; not queueing another", "repo", repo)
		return nil
	}
	resolver, ok := d.p.forge.(vcs.RefResolver)
	if !ok {
		return errNoRefs
	}
	ref, err := resolver.ResolveRef(ctx, repo, "")
	if err != nil {
		return err
	}
	run, on := d.p.s.driftRun(ref)
	if !on {
		return nil // asked again next time: the config may change
	}
	id := newJobID()
	if _, err := d.p.s.enqueue(ctx, runner.RefOrder(id, forge, ref, run, runner.DriftOperator, "drift check")); err != nil {
		return err
	}
	d.p.log.Info("queued", "job", id, "repo", repo, "ref", ref.Name, "sha", ref.SHA, "work", "drift check")
	return d.p.s.tasks.SetMark(ctx, queue.Mark{Key: driftJobKey(forge, repo), Value: id, TTL: driftKeep})
}

// running reports whether repo's last drift check is queued or running
// still, by its job's record: then none is queued over it.
func (d *driftScheduler) running(ctx context.Context, repo string) bool {
	id, err := d.p.s.tasks.Marked(ctx, driftJobKey(d.p.forge.Name(), repo))
	if err != nil || id == "" {
		return false
	}
	rec, err := d.p.s.records.Get(ctx, id)
	return err == nil && !rec.State.Ended()
}

func (d *driftScheduler) setNext(ctx context.Context, repo string, next time.Time) error {
	return d.p.s.tasks.SetMark(ctx, queue.Mark{Key: driftNextKey(d.p.forge.Name(), repo), Value: next.UTC().Format(time.RFC3339Nano), TTL: driftKeep})
}

// driftRun is the drift check of ref as the server-side repo config's
// drift: says, and whether it has the repository checked at all.
func (s *Server) driftRun(ref vcs.Ref) (runner.RefRun, bool) {
	run := runner.RefRun{Command: "drift"}
	rule := s.repoConfig.For(ref.Repo.FullName, ref.Branch).Drift
	if rule == nil {
		return run, true
	}
	run.Projects = rule.Selects()
	return run, !rule.Off
}

// spread is where in an interval the checks of name fall: the same for
// the same name, and spread evenly over names.
func spread(name string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(name))
	return time.Duration(h.Sum64() % uint64(interval))
}
