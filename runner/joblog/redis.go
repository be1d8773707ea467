package joblog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// pruneLimit bounds how many of the oldest members of the order a Create
// looks at to remove those whose job has expired.
const pruneLimit = 64

// Redis is a Store in Redis, shared by every replica that uses the same
// server and prefix. A job is two keys: its record, as JSON, and its
// output, a string appended to with APPEND; both expire retention after
// the job's last change, which refreshes both. A sorted set of job ids,
// scored by creation time, orders List; its members whose job has
// expired are skipped, and removed by later calls to Create. What must
// see a job's state as a whole (appending under the cap, updating only a
// job that is there, reading a record with its output) is a Lua script.
type Redis struct {
	client    redis.UniversalClient
	prefix    string
	retention time.Duration
}

var _ Store = (*Redis)(nil)

// NewRedis returns a Store on client whose keys start with prefix and
// whose jobs are forgotten retention after their last change
// (DefaultRetention for 0; Redis keeps milliseconds).
func NewRedis(client redis.UniversalClient, prefix string, retention time.Duration) *Redis {
	return &Redis{client: client, prefix: prefix, retention: retentionOrDefault(retention)}
}

func (r *Redis) recordKey(id string) string { return r.prefix + "job:" + id }

func (r *Redis) outputKey(id string) string { return r.prefix + "job-output:" + id }

func (r *Redis) orderKey() string { return r.prefix + "jobs" }

// ttl is the retention in milliseconds, for PX and PEXPIRE.
func (r *Redis) ttl() int64 { return max(1, r.retention.Milliseconds()) }

// score places a job in the order: its creation time in microseconds,
// which a float64 holds exactly.
func score(created time.Time) float64 { return float64(created.UnixMicro()) }

// appendScript appends ARGV[1] to the output in KEYS[2] of the job whose
// record is KEYS[1], as fit says: whole while the output stays within
// ARGV[2] (keptData) bytes; past it, what fits and then the note in
// ARGV[3]; nothing once cut. It refreshes both keys' expiry to ARGV[4]
// ms, and returns the output's length, or -1 when there is no such job.
var appendScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local size = redis.call('STRLEN', KEYS[2])
local room = tonumber(ARGV[2]) - size
if room >= #ARGV[1] then
  size = redis.call('APPEND', KEYS[2], ARGV[1])
elseif room >= 0 then
  size = redis.call('APPEND', KEYS[2], string.sub(ARGV[1], 1, room) .. ARGV[3])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return size
`)

// updateScript replaces the record in KEYS[1] with ARGV[1] if there is
// one, refreshes the expiry of it and of the output in KEYS[2] to ARGV[2]
// ms, and returns the output's length; -1 when there is no record.
var updateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return redis.call('STRLEN', KEYS[2])
`)

// readScript returns the record in KEYS[1], the length of the output in
// KEYS[2], and its bytes ARGV[1] to ARGV[2] (inclusive; none when ARGV[2]
// is less); nil when there is no record.
var readScript = redis.NewScript(`
local rec = redis.call('GET', KEYS[1])
if not rec then return false end
local size = redis.call('STRLEN', KEYS[2])
local first, last = tonumber(ARGV[1]), tonumber(ARGV[2])
local p = ''
if last >= first and first < size then p = redis.call('GETRANGE', KEYS[2], first, last) end
return {rec, size, p}
`)

// Create implements Store: a job of the same id already held is kept as
// it is (SET NX). It also removes from the order up to
// pruneLimit of its oldest members whose job has expired.
func (r *Redis) Create(ctx context.Context, rec Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rec.ID == "" {
		return errors.New("joblog: creating a job: no id")
	}
	rec = normalize(rec, time.Now())
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("joblog: creating job %s: %w", rec.ID, err)
	}
	created, err := r.client.SetNX(ctx, r.recordKey(rec.ID), v, r.retention).Result()
	if err != nil || !created {
		// Held already: kept as it is.
		return err
	}
	_, err = r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		// Output of an expired job of the same id, if its key outlived it.
		p.Del(ctx, r.outputKey(rec.ID))
		p.ZAdd(ctx, r.orderKey(), redis.Z{Score: score(rec.Created), Member: rec.ID})
		return nil
	})
	if err != nil {
		return fmt.Errorf("joblog: creating job %s: %w", rec.ID, err)
	}
	if err := r.prune(ctx); err != nil {
		return fmt.Errorf("joblog: creating job %s: %w", rec.ID, err)
	}
	return nil
}

// prune removes from the order the oldest members whose job has expired.
// Only a job created before the retention period can have; one recreated
// under the same id between the check and the removal would drop out of
// List, which ids made once per job rule out.
func (r *Redis) prune(ctx context.Context) error {
	cutoff := score(time.Now().Add(-r.retention))
	ids, err := r.client.ZRangeByScore(ctx, r.orderKey(), &redis.ZRangeBy{
		Min: "-inf", Max: "(" + strconv.FormatFloat(cutoff, 'f', -1, 64), Count: pruneLimit,
	}).Result()
	if err != nil || len(ids) == 0 {
		return err
	}
	exists := make([]*redis.IntCmd, len(ids))
	if _, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			exists[i] = p.Exists(ctx, r.recordKey(id))
		}
		return nil
	}); err != nil {
		return err
	}
	var gone []any
	for i, id := range ids {
		if exists[i].Val() == 0 {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	return r.client.ZRem(ctx, r.orderKey(), gone...).Err()
}

// Update implements Store. Its change is made on the record as read and
// written back if the job is still there: the one replica that writes a
// job's record at a time is its only writer.
func (r *Redis) Update(ctx context.Context, id string, change func(*Record)) (Record, error) {
	rec, _, err := r.read(ctx, id, 0, 0)
	if err != nil {
		return Record{}, fmt.Errorf("joblog: updating job %s: %w", id, err)
	}
	rec = applyChange(rec, change)
	rec.Size = 0 // the output's length is kept by the output
	v, err := json.Marshal(rec)
	if err != nil {
		return Record{}, fmt.Errorf("joblog: updating job %s: %w", id, err)
	}
	size, err := updateScript.Run(ctx, r.client, []string{r.recordKey(id), r.outputKey(id)}, v, r.ttl()).Int64()
	switch {
	case err != nil:
		return Record{}, fmt.Errorf("joblog: updating job %s: %w", id, err)
	case size < 0:
		return Record{}, fmt.Errorf("joblog: updating job %s: %w", id, ErrNotFound)
	}
	rec.Size = size
	return rec, nil
}

// Append implements Store in one script: concurrent appends are kept
// whole and in some order, and the cap is never passed.
func (r *Redis) Append(ctx context.Context, id string, p []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	size, err := appendScript.Run(ctx, r.client, []string{r.recordKey(id), r.outputKey(id)},
		p, keptData, Truncated, r.ttl()).Int64()
	switch {
	case err != nil:
		return fmt.Errorf("joblog: appending to job %s: %w", id, err)
	case size < 0:
		return fmt.Errorf("joblog: appending to job %s: %w", id, ErrNotFound)
	}
	return nil
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, id string) (Record, error) {
	rec, _, err := r.read(ctx, id, 0, 0)
	if err != nil {
		return Record{}, fmt.Errorf("joblog: reading job %s: %w", id, err)
	}
	return rec, nil
}

// Output implements Store.
func (r *Redis) Output(ctx context.Context, id string, offset int64, max int) ([]byte, Record, error) {
	rec, p, err := r.read(ctx, id, offset, max)
	if err != nil {
		return nil, Record{}, fmt.Errorf("joblog: reading the output of job %s: %w", id, err)
	}
	return p, rec, nil
}

// read returns job id's record and up to max bytes of its output from
// offset on, as they stand at one moment.
func (r *Redis) read(ctx context.Context, id string, offset int64, max int) (Record, []byte, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, nil, err
	}
	if offset < 0 {
		return Record{}, nil, fmt.Errorf("negative offset %d", offset)
	}
	last := offset + int64(min(max, MaxOutput)) - 1
	res, err := readScript.Run(ctx, r.client, []string{r.recordKey(id), r.outputKey(id)}, offset, last).Slice()
	switch {
	case errors.Is(err, redis.Nil):
		return Record{}, nil, ErrNotFound
	case err != nil:
		return Record{}, nil, err
	case len(res) != 3:
		return Record{}, nil, fmt.Errorf("reading job: %d values, want 3", len(res))
	}
	v, _ := res[0].(string)
	size, _ := res[1].(int64)
	p, _ := res[2].(string)
	rec, err := decodeRecord(v, size)
	if err != nil {
		return Record{}, nil, err
	}
	if p == "" {
		return rec, nil, nil
	}
	return rec, []byte(p), nil
}

func decodeRecord(v string, size int64) (Record, error) {
	var rec Record
	if err := json.Unmarshal([]byte(v), &rec); err != nil {
		return Record{}, fmt.Errorf("decoding a job record: %w", err)
	}
	rec.Size = size
	return rec, nil
}

// List implements Store, reading the order newest first a page at a
// time.
func (r *Redis) List(ctx context.Context, repo string, limit int) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var recs []Record
	page := int64(max(limit, 32))
	for start := int64(0); len(recs) < limit; start += page {
		ids, err := r.client.ZRevRange(ctx, r.orderKey(), start, start+page-1).Result()
		if err != nil {
			return nil, fmt.Errorf("joblog: listing jobs: %w", err)
		}
		type job struct {
			rec  *redis.StringCmd
			size *redis.IntCmd
		}
		jobs := make([]job, len(ids))
		if _, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				jobs[i] = job{p.Get(ctx, r.recordKey(id)), p.StrLen(ctx, r.outputKey(id))}
			}
			return nil
		}); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("joblog: listing jobs: %w", err)
		}
		for _, j := range jobs {
			if len(recs) == limit {
				break
			}
			if j.rec.Err() != nil {
				continue // expired since it was listed
			}
			rec, err := decodeRecord(j.rec.Val(), j.size.Val())
			if err != nil {
				return nil, fmt.Errorf("joblog: listing jobs: %w", err)
			}
			if repo == "" || rec.Repo == repo {
				recs = append(recs, rec)
			}
		}
		if int64(len(ids)) < page {
			break
		}
	}
	return recs, nil
}
