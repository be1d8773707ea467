package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// PlanStore keeps what a plan leaves for its apply, the plan record and
// the plan file, where every replica finds them: a plan made on one
// replica can then be applied on another. Workspaces without one keep both
// in their own directories.
type PlanStore interface {
	// SaveRecord stores rec, a record of the pull request's.
	SaveRecord(ctx context.Context, repo string, pull int, rec PlanRecord) error
	// Records lists the pull request's records.
	Records(ctx context.Context, repo string, pull int) ([]PlanRecord, error)
	// DeleteRecords deletes the pull request's records and plan files,
	// and returns the records.
	DeleteRecords(ctx context.Context, repo string, pull int) ([]PlanRecord, error)
	// PutPlan stores the files of the pull request's plan rec.
	PutPlan(ctx context.Context, repo string, pull int, rec PlanRecord, files PlanFiles) error
	// GetPlan returns the files of rec; ErrNoPlanFile when there are
	// none.
	GetPlan(ctx context.Context, repo string, pull int, rec PlanRecord) (PlanFiles, error)
	// DeletePlan deletes the files of rec.
	DeletePlan(ctx context.Context, repo string, pull int, rec PlanRecord) error
	// SwapComments records ids as the pull request's latest plan
	// comments, and returns those recorded before; nil ids forgets them.
	SwapComments(ctx context.Context, repo string, pull int, ids []int64) ([]int64, error)
}

// PlanFiles are what a plan leaves for its apply: the plan file, and the
// dependency lock file (.terraform.lock.hcl) its init left in the project,
// nil when there is none, so that the apply installs the same providers.
type PlanFiles struct {
	Plan, Lock []byte
}

// ErrNoPlanFile says a plan file is not (any more) in the store.
var ErrNoPlanFile = errors.New("no such plan file")

// ErrPlanTooLarge is wrapped by the error for a plan file larger than a
// PlanStore keeps; its text can be shown to users.
var ErrPlanTooLarge = errors.New("plan file too large to share")

// MaxSharedPlan is the largest plan file RedisPlans keeps. Plans of even
// large projects are a few megabytes; past this, Redis would hold a value
// it serves slowly to every replica.
const MaxSharedPlan = 64 << 20

// RedisPlans is a PlanStore in Redis: a hash per pull request of its
// records, and a string per plan file.
type RedisPlans struct {
	client redis.UniversalClient
	prefix string
}

var _ PlanStore = (*RedisPlans)(nil)

// NewRedisPlans returns a PlanStore on client, its keys under prefix
// ("atoll:" when empty).
func NewRedisPlans(client redis.UniversalClient, prefix string) *RedisPlans {
	return &RedisPlans{client: client, prefix: cmp.Or(prefix, "atoll:")}
}

func (r *RedisPlans) recordsKey(repo string, pull int) string {
	return r.prefix + "plans:" + repo + "#" + strconv.Itoa(pull)
}

// field names a record in its pull request's hash: its workspace and key,
// each escaped as in file names, which never hold a NUL.
func field(rec PlanRecord) string { return rec.Workspace + "\x00" + rec.Key().path() }

func (r *RedisPlans) planKey(repo string, pull int, rec PlanRecord) string {
	return r.prefix + "planfile:" + repo + "#" + strconv.Itoa(pull) + "\x00" + field(rec)
}

// SaveRecord implements PlanStore.
func (r *RedisPlans) SaveRecord(ctx context.Context, repo string, pull int, rec PlanRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := r.client.HSet(ctx, r.recordsKey(repo, pull), field(rec), b).Err(); err != nil {
		return fmt.Errorf("saving plan record: %w", err)
	}
	return nil
}

// Records implements PlanStore.
func (r *RedisPlans) Records(ctx context.Context, repo string, pull int) ([]PlanRecord, error) {
	all, err := r.client.HGetAll(ctx, r.recordsKey(repo, pull)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading plan records: %w", err)
	}
	recs := make([]PlanRecord, 0, len(all))
	for _, v := range all {
		var rec PlanRecord
		if err := json.Unmarshal([]byte(v), &rec); err != nil {
			return nil, fmt.Errorf("decoding a plan record: %w", err)
		}
		recs = append(recs, rec)
	}
	sortRecords(recs)
	return recs, nil
}

// DeleteRecords implements PlanStore.
func (r *RedisPlans) DeleteRecords(ctx context.Context, repo string, pull int) ([]PlanRecord, error) {
	recs, err := r.Records(ctx, repo, pull)
	if err != nil {
		return nil, err
	}
	keys := []string{r.recordsKey(repo, pull)}
	for _, rec := range recs {
		keys = append(keys, r.planKey(repo, pull, rec))
	}
	if err := r.client.Del(ctx, keys...).Err(); err != nil {
		return nil, fmt.Errorf("deleting plan records: %w", err)
	}
	return recs, nil
}

// PutPlan implements PlanStore.
func (r *RedisPlans) PutPlan(ctx context.Context, repo string, pull int, rec PlanRecord, files PlanFiles) error {
	if n := len(files.Plan) + len(files.Lock); n > MaxSharedPlan {
		return fmt.Errorf("%w: the plan file is %d MiB, more than the %d MiB that replicas share through Redis", ErrPlanTooLarge, n>>20, MaxSharedPlan>>20)
	}
	key := r.planKey(repo, pull, rec)
	pipe := r.client.TxPipeline()
	pipe.Set(ctx, key, files.Plan, 0)
	if files.Lock != nil {
		pipe.Set(ctx, key+"\x00lock", files.Lock, 0)
	} else {
		pipe.Del(ctx, key+"\x00lock")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("storing the plan file: %w", err)
	}
	return nil
}

// GetPlan implements PlanStore.
func (r *RedisPlans) GetPlan(ctx context.Context, repo string, pull int, rec PlanRecord) (PlanFiles, error) {
	key := r.planKey(repo, pull, rec)
	vals, err := r.client.MGet(ctx, key, key+"\x00lock").Result()
	if err != nil {
		return PlanFiles{}, fmt.Errorf("fetching the plan file: %w", err)
	}
	plan, ok := vals[0].(string)
	if !ok {
		return PlanFiles{}, ErrNoPlanFile
	}
	files := PlanFiles{Plan: []byte(plan)}
	if lock, ok := vals[1].(string); ok {
		files.Lock = []byte(lock)
	}
	return files, nil
}

// DeletePlan implements PlanStore.
func (r *RedisPlans) DeletePlan(ctx context.Context, repo string, pull int, rec PlanRecord) error {
	key := r.planKey(repo, pull, rec)
	if err := r.client.Del(ctx, key, key+"\x00lock").Err(); err != nil {
		return fmt.Errorf("deleting the plan file: %w", err)
	}
	return nil
}

// SwapComments implements PlanStore.
func (r *RedisPlans) SwapComments(ctx context.Context, repo string, pull int, ids []int64) ([]int64, error) {
	key := r.prefix + "plancomments:" + repo + "#" + strconv.Itoa(pull)
	var old string
	var err error
	if ids == nil {
		old, err = r.client.GetDel(ctx, key).Result()
	} else {
		b, _ := json.Marshal(ids)
		old, err = r.client.SetArgs(ctx, key, b, redis.SetArgs{Get: true}).Result()
	}
	if errors.Is(err, redis.Nil) || err == nil && old == "" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recording plan comments: %w", err)
	}
	var prev []int64
	if err := json.Unmarshal([]byte(old), &prev); err != nil {
		return nil, fmt.Errorf("decoding plan comments: %w", err)
	}
	return prev, nil
}

// SwapPlanComments records ids as the pull request's latest plan
// comments, and returns those recorded before; nil ids forgets them.
func (ws *Workspaces) SwapPlanComments(ctx context.Context, repo string, pull int, ids []int64) ([]int64, error) {
	if ws.shared != nil {
		return ws.shared.SwapComments(ctx, repo, pull, ids)
	}
	if _, err := ws.pullDir(repo, pull); err != nil {
		return nil, err // an unsafe name
	}
	ws.commentsMu.Lock()
	defer ws.commentsMu.Unlock()
	// Beside the pull request's workspaces, not among them.
	dir := filepath.Join(ws.root, "plan-comments", filepath.FromSlash(repo))
	path := filepath.Join(dir, strconv.Itoa(pull)+".json")
	var prev []int64
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &prev); err != nil {
			return nil, fmt.Errorf("decoding plan comments: %w", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if ids == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return prev, nil
	}
	b, _ := json.Marshal(ids)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return prev, os.WriteFile(path, b, 0o600)
}

// SharesPlans reports whether the workspace's plans are kept for every
// replica, so that one may have been made elsewhere.
func (w *Workspace) SharesPlans() bool { return w.shared != nil }

// KeepPlan stores the files of rec, planned in this workspace, where
// other replicas find them; a no-op without a PlanStore.
func (w *Workspace) KeepPlan(ctx context.Context, rec PlanRecord) error {
	if w.shared == nil {
		return nil
	}
	var files PlanFiles
	var err error
	if files.Plan, err = os.ReadFile(w.PlanFile(rec.Key())); err != nil {
		return err
	}
	if files.Lock, err = w.readLockFile(rec); err != nil {
		return err
	}
	return w.shared.PutPlan(ctx, w.repo, w.pull, rec, files)
}

// FetchPlan puts the files of rec in place in this workspace, from the
// PlanStore, in case another replica planned it: the plan file, and the
// dependency lock file its init left; a no-op without a PlanStore.
func (w *Workspace) FetchPlan(ctx context.Context, rec PlanRecord) error {
	if w.shared == nil {
		return nil
	}
	files, err := w.shared.GetPlan(ctx, w.repo, w.pull, rec)
	if err != nil {
		return err
	}
	path := w.PlanFile(rec.Key())
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, files.Plan, 0o600); err != nil {
		return err
	}
	if files.Lock == nil {
		return nil
	}
	return w.writeLockFile(rec, files.Lock)
}

// lockFileName is the dependency lock file of rec's project, relative to
// the checkout.
func lockFileName(rec PlanRecord) string {
	return path.Join(rec.Dir, ".terraform.lock.hcl")
}

// readLockFile reads the dependency lock file of rec's project, nil when
// there is none. It reads within the checkout only, and only a regular
// file: a pull request could make it a link to any file of the server.
func (w *Workspace) readLockFile(rec PlanRecord) ([]byte, error) {
	root, err := os.OpenRoot(w.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fi, err := root.Lstat(lockFileName(rec))
	if errors.Is(err, os.ErrNotExist) || err == nil && !fi.Mode().IsRegular() {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return root.ReadFile(lockFileName(rec))
}

// writeLockFile puts data as the dependency lock file of rec's project,
// within the checkout only, replacing whatever the checkout had there
// (a link included, not what it points to).
func (w *Workspace) writeLockFile(rec PlanRecord, data []byte) error {
	root, err := os.OpenRoot(w.Dir)
	if err != nil {
		return err
	}
	defer root.Close()
	name := lockFileName(rec)
	tmp := name + ".atoll-tmp"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err := errors.Join(err, f.Close()); err != nil {
		root.Remove(tmp)
		return err
	}
	return root.Rename(tmp, name)
}

// DropPlan deletes the plan file of rec, here and in the PlanStore.
func (w *Workspace) DropPlan(ctx context.Context, rec PlanRecord) error {
	err := os.Remove(w.PlanFile(rec.Key()))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if w.shared != nil {
		err = errors.Join(err, w.shared.DeletePlan(ctx, w.repo, w.pull, rec))
	}
	return err
}
