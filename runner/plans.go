package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PlanRecord is what atoll keeps of a project's latest plan in a pull
// request, beside the plan file itself.
type PlanRecord struct {
	Dir       string
	Workspace string
	// Name is the project's name in the repository config, if any.
	Name string
	// SHA is the commit that was planned.
	SHA string
	// Tool planned, and must apply.
	Tool Tool
	// ToolVersion is Tool's release when it planned.
	ToolVersion string
	// User asked for the plan.
	User  string
	Time  time.Time
	State PlanState
	// Summary is the tool's summary line of the last plan or apply.
	Summary string
	// Target is how commit statuses name the project ("DIR/WORKSPACE").
	Target string
	// JobID is the job that made the plan: a run of the same job after an
	// interruption finds what it already planned.
	JobID string
}

// PlanState is where a project's plan stands.
type PlanState string

// Plan states.
const (
	// PlanFailed: the last plan failed; there is no plan file.
	PlanFailed PlanState = "plan_failed"
	// Planned: the plan file waits to be applied.
	Planned PlanState = "planned"
	// ApplyFailed: applying failed; the plan file is kept for another try.
	ApplyFailed PlanState = "apply_failed"
	// Applied: the plan was applied and its file deleted.
	Applied PlanState = "applied"
	// Applying: the plan is being applied.
	Applying PlanState = "applying"
	// ApplyUnknown: applying was interrupted (atoll stopped midway), so
	// whether it went through is unknown; the plan is not applied again.
	ApplyUnknown PlanState = "apply_unknown"
)

// Unapplied reports whether the record holds a plan file waiting to be
// applied.
func (r PlanRecord) Unapplied() bool { return r.State == Planned || r.State == ApplyFailed }

// Key names the plan the record is of.
func (r PlanRecord) Key() PlanKey { return PlanKey{Dir: r.Dir, Name: r.Name} }

func (w *Workspace) recordFile(k PlanKey) string {
	return filepath.Join(w.root, "plans", k.path()+".json")
}

// SaveRecord writes the record of a plan in this workspace.
func (w *Workspace) SaveRecord(ctx context.Context, rec PlanRecord) error {
	if w.shared != nil {
		return w.shared.SaveRecord(ctx, w.repo, w.pull, rec)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	path := w.recordFile(rec.Key())
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("saving plan record: %w", err)
	}
	return os.Rename(tmp, path)
}

// Record reads the record of k's plan in this workspace.
func (w *Workspace) Record(ctx context.Context, k PlanKey) (PlanRecord, bool, error) {
	if w.shared != nil {
		recs, err := w.shared.Records(ctx, w.repo, w.pull)
		if err != nil {
			return PlanRecord{}, false, err
		}
		i := slices.IndexFunc(recs, func(r PlanRecord) bool { return r.Workspace == w.Name && r.Key() == k })
		if i < 0 {
			return PlanRecord{}, false, nil
		}
		return recs[i], true, nil
	}
	return readRecord(w.recordFile(k))
}

func readRecord(path string) (PlanRecord, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return PlanRecord{}, false, nil
	}
	if err != nil {
		return PlanRecord{}, false, err
	}
	var rec PlanRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return PlanRecord{}, false, fmt.Errorf("reading plan record %s: %w", path, err)
	}
	return rec, true, nil
}

// pullDir holds every workspace of one pull request.
func (ws *Workspaces) pullDir(repo string, pull int) (string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || !safeName.MatchString(owner) || !safeName.MatchString(name) || owner == ".." || name == ".." || owner == "." || name == "." {
		return "", fmt.Errorf("unsafe repository name %q", repo)
	}
	return filepath.Join(ws.root, "repos", owner, name, strconv.Itoa(pull)), nil
}

// Records lists the plan records of a pull request, ordered by workspace,
// directory and name. It takes no workspace: what it reads may change at once.
func (ws *Workspaces) Records(ctx context.Context, repo string, pull int) ([]PlanRecord, error) {
	dir, err := ws.pullDir(repo, pull)
	if err != nil {
		return nil, err
	}
	if ws.shared != nil {
		return ws.shared.Records(ctx, repo, pull)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*", "plans", "*", "*.json"))
	if err != nil {
		return nil, err
	}
	var recs []PlanRecord
	for _, p := range paths {
		rec, ok, err := readRecord(p)
		if err != nil {
			return nil, err
		}
		if ok {
			recs = append(recs, rec)
		}
	}
	sortRecords(recs)
	return recs, nil
}

// sortRecords orders records by workspace, directory and name.
func sortRecords(recs []PlanRecord) {
	slices.SortFunc(recs, func(a, b PlanRecord) int {
		return cmp.Or(strings.Compare(a.Workspace, b.Workspace), strings.Compare(a.Dir, b.Dir), strings.Compare(a.Name, b.Name))
	})
}

// UpdateRecords changes the plan records of a pull request, each
// workspace's once no job uses it: change returns whether it changed the
// record it is given. It returns the records changed, as they are now.
func (ws *Workspaces) UpdateRecords(ctx context.Context, repo string, pull int, change func(*PlanRecord) bool) ([]PlanRecord, error) {
	dir, err := ws.pullDir(repo, pull)
	if err != nil {
		return nil, err
	}
	if ws.shared != nil {
		// A pull request's jobs take turns, on any replica: no other job
		// writes its records meanwhile.
		recs, err := ws.shared.Records(ctx, repo, pull)
		if err != nil {
			return nil, err
		}
		var changed []PlanRecord
		for _, rec := range recs {
			if !change(&rec) {
				continue
			}
			if err := ws.shared.SaveRecord(ctx, repo, pull, rec); err != nil {
				return nil, err
			}
			changed = append(changed, rec)
		}
		return changed, nil
	}
	roots, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, err
	}
	var changed []PlanRecord
	for _, root := range roots {
		done, err := ws.acquire(ctx, root)
		if err != nil {
			return nil, err
		}
		err = func() error {
			defer done()
			paths, err := filepath.Glob(filepath.Join(root, "plans", "*", "*.json"))
			if err != nil {
				return err
			}
			w := &Workspace{root: root}
			for _, p := range paths {
				rec, ok, err := readRecord(p)
				if err != nil || !ok || !change(&rec) {
					if err != nil {
						return err
					}
					continue
				}
				if err := w.SaveRecord(ctx, rec); err != nil {
					return err
				}
				changed = append(changed, rec)
			}
			return nil
		}()
		if err != nil {
			return nil, fmt.Errorf("updating plan records in %s: %w", root, err)
		}
	}
	return changed, nil
}

// DiscardPlans deletes the plan files and records of a pull request, each
// workspace once no job uses it, and returns the records it deleted.
func (ws *Workspaces) DiscardPlans(ctx context.Context, repo string, pull int) ([]PlanRecord, error) {
	return ws.removeEach(ctx, repo, pull, "plans")
}

// Remove deletes every workspace of a pull request, checkouts and plans,
// once no job uses them, and returns the plan records it deleted.
func (ws *Workspaces) Remove(ctx context.Context, repo string, pull int) ([]PlanRecord, error) {
	return ws.removeEach(ctx, repo, pull, "")
}

// removeEach removes sub (or, when empty, all) of each workspace of a pull
// request, holding the workspace while it does.
func (ws *Workspaces) removeEach(ctx context.Context, repo string, pull int, sub string) ([]PlanRecord, error) {
	recs, err := ws.Records(ctx, repo, pull)
	if err != nil {
		return nil, err
	}
	if ws.shared != nil {
		if recs, err = ws.shared.DeleteRecords(ctx, repo, pull); err != nil {
			return nil, err
		}
	}
	dir, _ := ws.pullDir(repo, pull)
	roots, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, err
	}
	for _, root := range roots {
		done, err := ws.acquire(ctx, root)
		if err != nil {
			return nil, err
		}
		err = os.RemoveAll(filepath.Join(root, sub))
		done()
		if err != nil {
			return nil, fmt.Errorf("removing %s: %w", root, err)
		}
	}
	if sub == "" {
		os.Remove(dir) // now empty, unless a job started meanwhile
	}
	return recs, nil
}
