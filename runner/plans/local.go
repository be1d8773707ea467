package plans

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/atoll-iac/atoll/runner/workspace"
	"github.com/atoll-iac/atoll/workflows"
)

// Local is a Store in files under a directory, for one process: a plan
// is applied where it was made. A carried one travels between runs (a CI
// job's artifact): its plans may be applied in another checkout, so it
// keeps each plan's dependency lock file too.
type Local struct {
	root    string
	carried bool
	// mu orders the changes to records and comment ids.
	mu sync.Mutex
}

var _ Store = (*Local)(nil)

// NewLocal returns a Store that keeps its files under root.
func NewLocal(root string) *Local { return &Local{root: root} }

// NewCarried returns a Store that keeps its files under root, a
// directory that moves from the run that plans to the run that applies.
func NewCarried(root string) *Local { return &Local{root: root, carried: true} }

// maxLockFile is the largest dependency lock file a carried store reads
// back: its directory came from elsewhere.
const maxLockFile = 1 << 20

// pullDir holds everything of one pull request.
func (l *Local) pullDir(pull Pull) (string, error) {
	rel, err := workspace.PullPath(pull.Forge, pull.Repo, pull.Number)
	if err != nil {
		return "", fmt.Errorf("plans: %w", err)
	}
	return filepath.Join(l.root, rel), nil
}

// plansDir holds the plans of one pull request, a directory a workspace.
func (l *Local) plansDir(pull Pull) (string, error) {
	dir, err := l.pullDir(pull)
	return filepath.Join(dir, "plans"), err
}

// base is where the files of rec's plan start.
func (l *Local) base(pull Pull, rec Record) (string, error) {
	if err := workflows.ValidateWorkspace(rec.Workspace); err != nil {
		return "", fmt.Errorf("plans: %w", err)
	}
	dir, err := l.plansDir(pull)
	if err != nil {
		return "", err
	}
	// Not joined: a join would clean "by-dir/." away.
	return filepath.Join(dir, rec.Workspace) + string(filepath.Separator) + rec.Key().path(), nil
}

// Files implements Store.
func (l *Local) Files(pull Pull, rec Record) (Files, error) {
	base, err := l.base(pull, rec)
	if err != nil {
		return Files{}, err
	}
	return Files{Plan: base + ".tfplan", Show: base + ".json.show"}, nil
}

// SaveRecord implements Store.
func (l *Local) SaveRecord(ctx context.Context, pull Pull, rec Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.saveRecord(pull, rec)
}

func (l *Local) saveRecord(pull Pull, rec Record) error {
	base, err := l.base(pull, rec)
	if err != nil {
		return err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(base), 0o700); err != nil {
		return err
	}
	tmp := base + ".json.tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("plans: saving a record: %w", err)
	}
	return os.Rename(tmp, base+".json")
}

// Records implements Store.
func (l *Local) Records(ctx context.Context, pull Pull) ([]Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.records(pull)
}

func (l *Local) records(pull Pull) ([]Record, error) {
	dir, err := l.plansDir(pull)
	if err != nil {
		return nil, err
	}
	// workspace/by-dir/NAME.json, workspace/by-name/NAME.json
	paths, err := filepath.Glob(filepath.Join(dir, "*", "*", "*.json"))
	if err != nil {
		return nil, err
	}
	recs := make([]Record, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("plans: reading a record: %w", err)
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("plans: reading record %s: %w", p, err)
		}
		recs = append(recs, rec)
	}
	sortRecords(recs)
	return recs, nil
}

// UpdateRecords implements Store.
func (l *Local) UpdateRecords(ctx context.Context, pull Pull, change func(*Record) bool) ([]Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	recs, err := l.records(pull)
	if err != nil {
		return nil, err
	}
	return updateEach(recs, change, func(rec Record) error { return l.saveRecord(pull, rec) })
}

// Discard implements Store.
func (l *Local) Discard(ctx context.Context, pull Pull) ([]Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	recs, err := l.records(pull)
	if err != nil {
		return nil, err
	}
	dir, err := l.plansDir(pull)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("plans: discarding: %w", err)
	}
	return recs, nil
}

// Keep implements Store: the plan file is where the apply finds it; a
// carried store writes the lock file beside it.
func (l *Local) Keep(ctx context.Context, pull Pull, rec Record, lock []byte) error {
	if !l.carried || lock == nil {
		return nil
	}
	base, err := l.base(pull, rec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".lock.hcl", lock, 0o600); err != nil {
		return fmt.Errorf("plans: keeping the dependency lock file: %w", err)
	}
	return nil
}

// Fetch implements Store: the plan file is in place, if it is anywhere.
func (l *Local) Fetch(ctx context.Context, pull Pull, rec Record) ([]byte, error) {
	files, err := l.Files(pull, rec)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(files.Plan)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, ErrNoPlanFile
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("plans: %s is not a regular file", files.Plan)
	case !l.carried:
		return nil, nil
	}
	base, err := l.base(pull, rec)
	if err != nil {
		return nil, err
	}
	return readLockFile(base + ".lock.hcl")
}

// readLockFile reads the lock file a carried store kept at path: nil when
// there is none, an error when it is not a regular file of at most
// maxLockFile bytes.
func readLockFile(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular() || fi.Size() > maxLockFile:
		return nil, fmt.Errorf("plans: %s is not a regular file of at most %d KiB", path, maxLockFile>>10)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plans: reading the dependency lock file: %w", err)
	}
	return b, nil
}

// Drop implements Store.
func (l *Local) Drop(ctx context.Context, pull Pull, rec Record) error {
	files, err := l.Files(pull, rec)
	if err != nil {
		return err
	}
	if err := os.Remove(files.Plan); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Shared implements Store: a Local's plans are this process's, unless
// they are carried.
func (l *Local) Shared() bool { return l.carried }

// Comments implements Store.
func (l *Local) Comments(ctx context.Context, pull Pull) ([]int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ids, err := l.comments(pull)
	return ids, err
}

// comments returns the file that holds the pull request's latest plan
// comments, and their ids.
func (l *Local) comments(pull Pull) (string, []int64, error) {
	dir, err := l.pullDir(pull)
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, "comments.json")
	var ids []int64
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &ids); err != nil {
			return "", nil, fmt.Errorf("plans: decoding plan comments: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", nil, err
	}
	return path, ids, nil
}

// Pulls implements Store: the pull requests with a directory of plans
// that holds a record.
func (l *Local) Pulls(ctx context.Context, forge, repo string) ([]int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	any, err := l.pullDir(Pull{Forge: forge, Repo: repo})
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Dir(any))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plans: listing pull requests with plans: %w", err)
	}
	var pulls []int
	for _, e := range entries {
		num, ok := strings.CutPrefix(e.Name(), "@")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || !e.IsDir() {
			continue
		}
		if recs, err := l.records(Pull{Forge: forge, Repo: repo, Number: n}); err == nil && len(recs) > 0 {
			pulls = append(pulls, n)
		}
	}
	slices.Sort(pulls)
	return pulls, nil
}

// SwapComments implements Store.
func (l *Local) SwapComments(ctx context.Context, pull Pull, ids []int64) ([]int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	path, prev, err := l.comments(pull)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if ids == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		os.Remove(dir) // now empty, unless plans were made meanwhile
		return prev, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(ids)
	return prev, os.WriteFile(path, b, 0o600)
}
