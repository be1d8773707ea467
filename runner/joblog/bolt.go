package joblog

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/atoll-iac/atoll/runner/internal/groupcommit"
)

// openTimeout bounds the wait for bbolt's file lock, so that a second
// process opening the same store fails with an error instead of hanging.
const openTimeout = time.Second

// Buckets: jobs holds one record a job, its id → JSON of boltRecord;
// output one bucket a job that wrote any, its id → the chunks of its
// output, each keyed by its offset (big-endian uint64), one a call to
// Append; order one empty value a job, keyed by orderKey.
const (
	jobBucket    = "jobs"
	outputBucket = "output"
	orderBucket  = "order"
)

// sweepLimit bounds how many of the oldest jobs a Create looks at to
// delete those expired: enough to keep up, as jobs expire no faster than
// they are created, and few enough that a Create stays cheap.
const sweepLimit = 16

// Bolt is a Store in a bbolt file, for one process: bbolt lets one
// process open the file at a time; within it, Bolt is safe for concurrent
// use. Each call is one transaction, on disk when it returns. Expired
// jobs read as ErrNotFound at once, and are deleted from the file by
// later calls to Create, a few at a time.
type Bolt struct {
	db *bolt.DB
	// writes commits the writes of jobs that write at once together: a
	// burst of webhooks records a burst of jobs.
	writes    *groupcommit.Committer
	retention time.Duration
}

var _ Store = (*Bolt)(nil)

// boltRecord is a job's record and when it last changed.
type boltRecord struct {
	Record
	Touched time.Time
}

// expired reports whether r is forgotten at now.
func (r boltRecord) expired(now time.Time, retention time.Duration) bool {
	return !now.Before(r.Touched.Add(retention))
}

// OpenBolt opens, or creates, the job store at path, whose jobs are
// forgotten retention after their last change (DefaultRetention for 0).
// It fails after a short wait if another process has the file open.
func OpenBolt(path string, retention time.Duration) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout})
	if err != nil {
		return nil, fmt.Errorf("joblog: opening job store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{jobBucket, outputBucket, orderBucket} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("joblog: creating buckets in job store %s: %w", path, err), db.Close())
	}
	return &Bolt{db: db, writes: groupcommit.New(db), retention: retentionOrDefault(retention)}, nil
}

// Close releases the store's file.
func (b *Bolt) Close() error {
	b.writes.Close()
	return b.db.Close()
}

// Create implements Store. It also deletes up to sweepLimit expired jobs,
// the oldest.
func (b *Bolt) Create(ctx context.Context, r Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.ID == "" {
		return errors.New("joblog: creating a job: no id")
	}
	now := time.Now()
	rec := boltRecord{Record: normalize(r, now), Touched: now}
	err := b.writes.Update(func(tx *bolt.Tx) error {
		if held, ok, err := load(tx, r.ID); err != nil {
			return err
		} else if ok && !held.expired(now, b.retention) {
			return nil
		} else if ok {
			if err := forget(tx, held.Record); err != nil {
				return err
			}
		}
		if err := put(tx, rec); err != nil {
			return err
		}
		if err := tx.Bucket([]byte(orderBucket)).Put(orderKey(rec.Created, rec.ID), nil); err != nil {
			return err
		}
		return b.sweep(tx, now)
	})
	if err != nil {
		return fmt.Errorf("joblog: creating job %s: %w", r.ID, err)
	}
	return nil
}

// Update implements Store.
func (b *Bolt) Update(ctx context.Context, id string, change func(*Record)) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	var rec boltRecord
	err := b.writes.Update(func(tx *bolt.Tx) error {
		var err error
		if rec, err = b.live(tx, id); err != nil {
			return err
		}
		rec.Record = applyChange(rec.Record, change)
		rec.Touched = time.Now()
		return put(tx, rec)
	})
	if err != nil {
		return Record{}, fmt.Errorf("joblog: updating job %s: %w", id, err)
	}
	return rec.Record, nil
}

// Append implements Store: p is one chunk more of the job's output, so
// an Append costs what p does, whatever the output's length.
func (b *Bolt) Append(ctx context.Context, id string, p []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := b.writes.Update(func(tx *bolt.Tx) error {
		rec, err := b.live(tx, id)
		if err != nil {
			return err
		}
		keep, cut := fit(rec.Size, p)
		if cut {
			keep = append(keep[:len(keep):len(keep)], Truncated...)
		}
		if len(keep) > 0 {
			out, err := tx.Bucket([]byte(outputBucket)).CreateBucketIfNotExists([]byte(id))
			if err != nil {
				return err
			}
			if err := out.Put(binary.BigEndian.AppendUint64(nil, uint64(rec.Size)), keep); err != nil {
				return err
			}
			rec.Size += int64(len(keep))
		}
		rec.Touched = time.Now()
		return put(tx, rec)
	})
	if err != nil {
		return fmt.Errorf("joblog: appending to job %s: %w", id, err)
	}
	return nil
}

// Get implements Store.
func (b *Bolt) Get(ctx context.Context, id string) (Record, error) {
	rec, _, err := b.read(ctx, id, 0, 0)
	if err != nil {
		return Record{}, fmt.Errorf("joblog: reading job %s: %w", id, err)
	}
	return rec, nil
}

// Output implements Store.
func (b *Bolt) Output(ctx context.Context, id string, offset int64, max int) ([]byte, Record, error) {
	rec, p, err := b.read(ctx, id, offset, max)
	if err != nil {
		return nil, Record{}, fmt.Errorf("joblog: reading the output of job %s: %w", id, err)
	}
	return p, rec, nil
}

// read returns job id's record and up to max bytes of its output from
// offset on, as they stand in one transaction.
func (b *Bolt) read(ctx context.Context, id string, offset int64, max int) (Record, []byte, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, nil, err
	}
	if offset < 0 {
		return Record{}, nil, fmt.Errorf("negative offset %d", offset)
	}
	var (
		rec boltRecord
		p   []byte
	)
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		if rec, err = b.live(tx, id); err != nil {
			return err
		}
		n := min(int64(max), rec.Size-offset)
		if n <= 0 {
			return nil
		}
		p = make([]byte, 0, n)
		c := tx.Bucket([]byte(outputBucket)).Bucket([]byte(id)).Cursor()
		// The chunk holding offset is the last one starting at or before it.
		k, v := c.Seek(binary.BigEndian.AppendUint64(nil, uint64(offset)))
		if k == nil || int64(binary.BigEndian.Uint64(k)) > offset {
			k, v = c.Prev()
		}
		skip := offset - int64(binary.BigEndian.Uint64(k))
		for ; k != nil && int64(len(p)) < n; k, v = c.Next() {
			v = v[skip:]
			skip = 0
			p = append(p, v[:min(int64(len(v)), n-int64(len(p)))]...)
		}
		return nil
	})
	return rec.Record, p, err
}

// List implements Store.
func (b *Bolt) List(ctx context.Context, repo string, limit int) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var recs []Record
	err := b.db.View(func(tx *bolt.Tx) error {
		now := time.Now()
		c := tx.Bucket([]byte(orderBucket)).Cursor()
		for k, _ := c.Last(); k != nil && len(recs) < limit; k, _ = c.Prev() {
			rec, ok, err := load(tx, string(k[8:]))
			if err != nil {
				return err
			}
			if ok && !rec.expired(now, b.retention) && (repo == "" || rec.Repo == repo) {
				recs = append(recs, rec.Record)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("joblog: listing jobs: %w", err)
	}
	return recs, nil
}

// live returns job id's record, or ErrNotFound when there is none or it
// has expired; in a writable transaction, an expired job is deleted.
func (b *Bolt) live(tx *bolt.Tx, id string) (boltRecord, error) {
	rec, ok, err := load(tx, id)
	switch {
	case err != nil:
		return boltRecord{}, err
	case !ok:
		return boltRecord{}, ErrNotFound
	case rec.expired(time.Now(), b.retention):
		if tx.Writable() {
			if err := forget(tx, rec.Record); err != nil {
				return boltRecord{}, err
			}
		}
		return boltRecord{}, ErrNotFound
	}
	return rec, nil
}

// sweep deletes the expired jobs among the sweepLimit oldest. It stops at
// the first job created within the retention period: that one and all
// after it changed since.
func (b *Bolt) sweep(tx *bolt.Tx, now time.Time) error {
	cutoff := orderKey(now.Add(-b.retention), "")
	var gone []Record
	var orphans [][]byte
	c := tx.Bucket([]byte(orderBucket)).Cursor()
	k, _ := c.First()
	for i := 0; k != nil && i < sweepLimit && string(k[:8]) < string(cutoff); i++ {
		rec, ok, err := load(tx, string(k[8:]))
		switch {
		case err != nil:
			return err
		case !ok:
			orphans = append(orphans, k)
		case rec.expired(now, b.retention):
			gone = append(gone, rec.Record)
		}
		k, _ = c.Next()
	}
	for _, rec := range gone {
		if err := forget(tx, rec); err != nil {
			return err
		}
	}
	for _, k := range orphans {
		if err := tx.Bucket([]byte(orderBucket)).Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// load returns job id's record as held, expired or not; false when there
// is none.
func load(tx *bolt.Tx, id string) (boltRecord, bool, error) {
	v := tx.Bucket([]byte(jobBucket)).Get([]byte(id))
	if v == nil {
		return boltRecord{}, false, nil
	}
	var rec boltRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return boltRecord{}, false, fmt.Errorf("decoding the record of job %s: %w", id, err)
	}
	return rec, true, nil
}

func put(tx *bolt.Tx, rec boltRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.Bucket([]byte(jobBucket)).Put([]byte(rec.ID), v)
}

// forget deletes job rec.ID: its record, its output and its place in the
// order.
func forget(tx *bolt.Tx, rec Record) error {
	id := []byte(rec.ID)
	if err := tx.Bucket([]byte(jobBucket)).Delete(id); err != nil {
		return err
	}
	if err := tx.Bucket([]byte(orderBucket)).Delete(orderKey(rec.Created, rec.ID)); err != nil {
		return err
	}
	if out := tx.Bucket([]byte(outputBucket)); out.Bucket(id) != nil {
		return out.DeleteBucket(id)
	}
	return nil
}
