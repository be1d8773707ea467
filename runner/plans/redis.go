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

	"github.com/redis/go-redis/v9"
)

// MaxSharedPlan is the largest plan file, with its lock file, that Redis
// keeps. Plans of even large projects are a few megabytes; past this,
// Redis would hold a value it serves slowly to every replica.
const MaxSharedPlan = 64 << 20

// Redis is a Store in Redis, shared by replicas: a hash per pull request
// of its records, and a string per plan file. The files the tool reads
// and writes are on this machine, under a Local's root, and go to Redis
// (Keep) and come back (Fetch) whole.
type Redis struct {
	client redis.UniversalClient
	prefix string
	// files places plan files on this machine.
	files *Local
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Store on client whose keys start with prefix; plan
// files are put in place under root.
func NewRedis(client redis.UniversalClient, prefix, root string) *Redis {
	return &Redis{client: client, prefix: prefix, files: NewLocal(root)}
}

// pullKey names a pull request in keys: its forge, repository and number.
func pullKey(pull Pull) string {
	return pull.Forge + ":" + pull.Repo + "#" + strconv.Itoa(pull.Number)
}

func (r *Redis) recordsKey(pull Pull) string { return r.prefix + "plans:" + pullKey(pull) }

// field names a record in its pull request's hash: its workspace and key,
// each escaped as in file names, which never hold a NUL.
func field(rec Record) string { return rec.Workspace + "\x00" + rec.Key().path() }

func (r *Redis) planKey(pull Pull, rec Record) string {
	return r.prefix + "planfile:" + pullKey(pull) + "\x00" + field(rec)
}

// Files implements Store.
func (r *Redis) Files(pull Pull, rec Record) (Files, error) { return r.files.Files(pull, rec) }

// SaveRecord implements Store.
func (r *Redis) SaveRecord(ctx context.Context, pull Pull, rec Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, r.recordsKey(pull), field(rec), b)
		p.SAdd(ctx, r.pullsKey(pull.Forge, pull.Repo), pull.Number)
		return nil
	})
	if err != nil {
		return fmt.Errorf("plans: saving a record: %w", err)
	}
	return nil
}

// pullsKey names the set of the numbers of the pull requests of repo
// that have records.
func (r *Redis) pullsKey(forge, repo string) string {
	return r.prefix + "planpulls:" + forge + ":" + repo
}

// Pulls implements Store.
func (r *Redis) Pulls(ctx context.Context, forge, repo string) ([]int, error) {
	members, err := r.client.SMembers(ctx, r.pullsKey(forge, repo)).Result()
	if err != nil {
		return nil, fmt.Errorf("plans: listing pull requests with plans: %w", err)
	}
	pulls := make([]int, 0, len(members))
	for _, m := range members {
		n, err := strconv.Atoi(m)
		if err != nil {
			return nil, fmt.Errorf("plans: listing pull requests with plans: %q is no number", m)
		}
		pulls = append(pulls, n)
	}
	slices.Sort(pulls)
	return pulls, nil
}

// Records implements Store.
func (r *Redis) Records(ctx context.Context, pull Pull) ([]Record, error) {
	return readRecords(ctx, r.client, r.recordsKey(pull))
}

// readRecords reads and decodes the records in the hash key.
func readRecords(ctx context.Context, c redis.Cmdable, key string) ([]Record, error) {
	all, err := c.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("plans: reading records: %w", err)
	}
	recs := make([]Record, 0, len(all))
	for _, v := range all {
		var rec Record
		if err := json.Unmarshal([]byte(v), &rec); err != nil {
			return nil, fmt.Errorf("plans: decoding a record: %w", err)
		}
		recs = append(recs, rec)
	}
	sortRecords(recs)
	return recs, nil
}

// UpdateRecords implements Store. The records are read and written in
// one transaction: another pull request's apply marks this one's plans
// stale while its own job may be saving a new plan, which is then
// changed as it is, or not at all, but never overwritten.
func (r *Redis) UpdateRecords(ctx context.Context, pull Pull, change func(*Record) bool) ([]Record, error) {
	key := r.recordsKey(pull)
	var changed []Record
	for range 10 {
		err := r.client.Watch(ctx, func(tx *redis.Tx) error {
			recs, err := readRecords(ctx, tx, key)
			if err != nil {
				return err
			}
			changed = nil
			var fields []any
			for _, rec := range recs {
				if !change(&rec) {
					continue
				}
				b, err := json.Marshal(rec)
				if err != nil {
					return err
				}
				fields = append(fields, field(rec), b)
				changed = append(changed, rec)
			}
			if len(fields) == 0 {
				return nil
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.HSet(ctx, key, fields...)
				return nil
			})
			return err
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			if err != nil {
				return nil, fmt.Errorf("plans: updating records: %w", err)
			}
			return changed, nil
		}
	}
	return nil, errors.New("plans: updating records: they kept changing")
}

// Discard implements Store.
func (r *Redis) Discard(ctx context.Context, pull Pull) ([]Record, error) {
	recs, err := r.Records(ctx, pull)
	if err != nil {
		return nil, err
	}
	keys := []string{r.recordsKey(pull)}
	for _, rec := range recs {
		keys = append(keys, r.planKey(pull, rec))
	}
	_, err = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, keys...)
		p.SRem(ctx, r.pullsKey(pull.Forge, pull.Repo), pull.Number)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plans: discarding: %w", err)
	}
	if _, err := r.files.Discard(ctx, pull); err != nil {
		return nil, err
	}
	return recs, nil
}

// Keep implements Store.
func (r *Redis) Keep(ctx context.Context, pull Pull, rec Record, lock []byte) error {
	files, err := r.Files(pull, rec)
	if err != nil {
		return err
	}
	fi, err := os.Stat(files.Plan)
	if err != nil {
		return err
	}
	if n := fi.Size() + int64(len(lock)); n > MaxSharedPlan {
		return fmt.Errorf("%w: the plan file is %d MiB, more than the %d MiB that replicas share through Redis", ErrPlanTooLarge, n>>20, MaxSharedPlan>>20)
	}
	plan, err := os.ReadFile(files.Plan)
	if err != nil {
		return err
	}
	key := r.planKey(pull, rec)
	pipe := r.client.TxPipeline()
	pipe.Set(ctx, key, plan, 0)
	if lock != nil {
		pipe.Set(ctx, key+"\x00lock", lock, 0)
	} else {
		pipe.Del(ctx, key+"\x00lock")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("plans: storing the plan file: %w", err)
	}
	return nil
}

// Fetch implements Store.
func (r *Redis) Fetch(ctx context.Context, pull Pull, rec Record) ([]byte, error) {
	files, err := r.Files(pull, rec)
	if err != nil {
		return nil, err
	}
	key := r.planKey(pull, rec)
	vals, err := r.client.MGet(ctx, key, key+"\x00lock").Result()
	if err != nil {
		return nil, fmt.Errorf("plans: fetching the plan file: %w", err)
	}
	plan, ok := vals[0].(string)
	if !ok {
		return nil, ErrNoPlanFile
	}
	if err := os.MkdirAll(filepath.Dir(files.Plan), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(files.Plan, []byte(plan), 0o600); err != nil {
		return nil, err
	}
	if lock, ok := vals[1].(string); ok {
		return []byte(lock), nil
	}
	return nil, nil
}

// Drop implements Store.
func (r *Redis) Drop(ctx context.Context, pull Pull, rec Record) error {
	err := r.files.Drop(ctx, pull, rec)
	key := r.planKey(pull, rec)
	if derr := r.client.Del(ctx, key, key+"\x00lock").Err(); derr != nil {
		err = errors.Join(err, fmt.Errorf("plans: deleting the plan file: %w", derr))
	}
	return err
}

// Shared implements Store: every replica sees Redis's plans.
func (r *Redis) Shared() bool { return true }

// commentsKey holds the ids of the pull request's latest plan comments.
func (r *Redis) commentsKey(pull Pull) string { return r.prefix + "plancomments:" + pullKey(pull) }

// Comments implements Store.
func (r *Redis) Comments(ctx context.Context, pull Pull) ([]int64, error) {
	v, err := r.client.Get(ctx, r.commentsKey(pull)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plans: reading plan comments: %w", err)
	}
	var ids []int64
	if err := json.Unmarshal([]byte(v), &ids); err != nil {
		return nil, fmt.Errorf("plans: decoding plan comments: %w", err)
	}
	return ids, nil
}

// SwapComments implements Store.
func (r *Redis) SwapComments(ctx context.Context, pull Pull, ids []int64) ([]int64, error) {
	key := r.commentsKey(pull)
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
		return nil, fmt.Errorf("plans: recording plan comments: %w", err)
	}
	var prev []int64
	if err := json.Unmarshal([]byte(old), &prev); err != nil {
		return nil, fmt.Errorf("plans: decoding plan comments: %w", err)
	}
	return prev, nil
}
