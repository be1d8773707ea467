package locking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// openTimeout bounds the wait for bbolt's file lock, so a second process
// opening the same store fails with an error instead of hanging.
const openTimeout = time.Second

// Buckets: locks holds one record per held lock, encodeKey(Key) → JSON
// of Lock; leases one per lease, its name → JSON of lease.
const (
	bucket      = "locks"
	leaseBucket = "leases"
)

// Bolt is a Locker kept in an embedded bbolt file. Only one process can have
// the file open at a time; within it, Bolt is safe for concurrent use.
type Bolt struct {
	db *bolt.DB
}

var _ Locker = (*Bolt)(nil)

// OpenBolt opens, or creates, the lock store at path. It fails after a short
// wait if another process has the file open.
func OpenBolt(path string) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout})
	if err != nil {
		return nil, fmt.Errorf("locking: opening lock store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{bucket, leaseBucket} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("locking: creating bucket in lock store %s: %w", path, err), db.Close())
	}
	return &Bolt{db: db}, nil
}

// Close releases the store's file.
func (b *Bolt) Close() error {
	return b.db.Close()
}

// TryLock implements Locker in one read-write transaction. A zero l.Time is
// set to the current time.
func (b *Bolt) TryLock(ctx context.Context, l Lock) (Lock, bool, error) {
	if err := ctx.Err(); err != nil {
		return Lock{}, false, err
	}
	if l.Time.IsZero() {
		l.Time = time.Now().UTC()
	}
	k := encodeKey(l.Key)
	holder := l
	err := b.db.Update(func(tx *bolt.Tx) error {
		bkt := tx.Bucket([]byte(bucket))
		if v := bkt.Get(k); v != nil {
			held, err := decodeLock(v)
			if err != nil {
				return err
			}
			switch {
			case held.Pull == l.Pull:
				held.Expires = l.Expires
				holder = held
			case !held.Lapsed(time.Now()):
				holder = held
				return nil
			}
		}
		v, err := json.Marshal(holder)
		if err != nil {
			return err
		}
		return bkt.Put(k, v)
	})
	if err != nil {
		return Lock{}, false, fmt.Errorf("locking: taking lock %+v for pull %d: %w", l.Key, l.Pull, err)
	}
	return holder, holder.Pull == l.Pull, nil
}

// Unlock implements Locker.
func (b *Bolt) Unlock(ctx context.Context, key Key, pull int) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	k := encodeKey(key)
	var deleted bool
	err := b.db.Update(func(tx *bolt.Tx) error {
		bkt := tx.Bucket([]byte(bucket))
		v := bkt.Get(k)
		if v == nil {
			return nil
		}
		held, err := decodeLock(v)
		if err != nil {
			return err
		}
		if held.Pull != pull || held.Lapsed(time.Now()) {
			return nil
		}
		deleted = true
		return bkt.Delete(k)
	})
	if err != nil {
		return false, fmt.Errorf("locking: releasing lock %+v for pull %d: %w", key, pull, err)
	}
	return deleted, nil
}

// List implements Locker.
func (b *Bolt) List(ctx context.Context) ([]Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var locks []Lock
	now := time.Now()
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).ForEach(func(_, v []byte) error {
			l, err := decodeLock(v)
			if err != nil {
				return err
			}
			if !l.Lapsed(now) {
				locks = append(locks, l)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("locking: listing locks: %w", err)
	}
	slices.SortFunc(locks, compareLocks)
	return locks, nil
}

// lease is a stored lease.
type lease struct {
	Owner   string
	Expires time.Time
}

// Acquire implements Leaser.
func (b *Bolt) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	return b.updateLease(ctx, name, func(held *lease, now time.Time) (*lease, bool) {
		if held != nil && held.Owner != owner && now.Before(held.Expires) {
			return held, false
		}
		return &lease{Owner: owner, Expires: now.Add(ttl)}, true
	})
}

// Renew implements Leaser.
func (b *Bolt) Renew(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	return b.updateLease(ctx, name, func(held *lease, now time.Time) (*lease, bool) {
		if held == nil || held.Owner != owner || !now.Before(held.Expires) {
			return held, false
		}
		return &lease{Owner: owner, Expires: now.Add(ttl)}, true
	})
}

// Release implements Leaser.
func (b *Bolt) Release(ctx context.Context, name, owner string) (bool, error) {
	return b.updateLease(ctx, name, func(held *lease, now time.Time) (*lease, bool) {
		if held == nil || held.Owner != owner || !now.Before(held.Expires) {
			return held, false
		}
		return nil, true
	})
}

// updateLease reads lease name (nil when there is none), lets change
// decide what it becomes (nil deletes it) and whether that is a success,
// and writes it, in one transaction.
func (b *Bolt) updateLease(ctx context.Context, name string, change func(held *lease, now time.Time) (*lease, bool)) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var ok bool
	err := b.db.Update(func(tx *bolt.Tx) error {
		bkt := tx.Bucket([]byte(leaseBucket))
		var held *lease
		if v := bkt.Get([]byte(name)); v != nil {
			held = new(lease)
			if err := json.Unmarshal(v, held); err != nil {
				return fmt.Errorf("locking: decoding lease record: %w", err)
			}
		}
		var next *lease
		if next, ok = change(held, time.Now()); !ok {
			return nil
		}
		if next == nil {
			return bkt.Delete([]byte(name))
		}
		v, err := json.Marshal(next)
		if err != nil {
			return err
		}
		return bkt.Put([]byte(name), v)
	})
	if err != nil {
		return false, fmt.Errorf("locking: lease %q: %w", name, err)
	}
	return ok, nil
}
