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
// of Lock; lines one per key with a line, encodeKey(Key) → JSON of Line;
// leases one per lease, its name → JSON of lease.
const (
	bucket      = "locks"
	lineBucket  = "lines"
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
		for _, name := range []string{bucket, lineBucket, leaseBucket} {
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
	holder, _, err := b.take(ctx, l, false)
	return holder, err == nil && holder.Pull == l.Pull, err
}

// Wait implements Liner in one read-write transaction. A zero l.Time is
// set to the current time.
func (b *Bolt) Wait(ctx context.Context, l Lock) (Lock, int, error) {
	return b.take(ctx, l, true)
}

// take takes l.Key for l.Pull, as TryLock does, and, when join is set
// and another pull request holds it, puts l.Pull in its line. It returns
// the holder, and l.Pull's place in line (0 when it holds the key, or
// did not join).
func (b *Bolt) take(ctx context.Context, l Lock, join bool) (Lock, int, error) {
	if err := ctx.Err(); err != nil {
		return Lock{}, 0, err
	}
	now := time.Now()
	if l.Time.IsZero() {
		l.Time = now.UTC()
	}
	l.Turn = false
	var holder Lock
	var at int
	err := b.db.Update(func(tx *bolt.Tx) error {
		s := boltTx{tx}
		held, ok, err := s.lock(l.Key, now)
		if err != nil {
			return err
		}
		line, err := s.line(l.Key)
		if err != nil {
			return err
		}
		switch {
		case ok && held.Pull == l.Pull:
			held.Expires, held.Turn = l.Expires, false
			holder = held
		case ok:
			holder = held
		case len(line.Waiting) == 0 || line.Waiting[0].Pull == l.Pull:
			holder = l
		default:
			// Free, and someone else is first in line: it is theirs.
			holder = line.Waiting[0].handed(l.Key, now)
		}
		if holder.Pull == l.Pull {
			line.Waiting = slices.DeleteFunc(line.Waiting, func(w Waiter) bool { return w.Pull == l.Pull })
		} else if holder != held {
			line.Waiting = line.Waiting[1:] // handed over
		}
		if join && holder.Pull != l.Pull {
			if at = place(line.Waiting, l.Pull); at == 0 {
				line.Waiting = append(line.Waiting, waiter(l))
				at = len(line.Waiting)
			}
		}
		if err := s.putLine(line); err != nil {
			return err
		}
		if ok && holder == held && holder.Pull != l.Pull {
			return nil // unchanged
		}
		return s.putLock(holder)
	})
	if err != nil {
		return Lock{}, 0, fmt.Errorf("locking: taking lock %+v for pull %d: %w", l.Key, l.Pull, err)
	}
	return holder, at, nil
}

// boltTx reads and writes locks and lines in one transaction.
type boltTx struct{ tx *bolt.Tx }

// lock returns key's lock, unless there is none or it lapsed at now.
func (s boltTx) lock(key Key, now time.Time) (Lock, bool, error) {
	v := s.tx.Bucket([]byte(bucket)).Get(encodeKey(key))
	if v == nil {
		return Lock{}, false, nil
	}
	l, err := decodeLock(v)
	if err != nil || l.Lapsed(now) {
		return Lock{}, false, err
	}
	return l, true, nil
}

func (s boltTx) putLock(l Lock) error {
	v, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return s.tx.Bucket([]byte(bucket)).Put(encodeKey(l.Key), v)
}

// line returns key's line, empty when there is none.
func (s boltTx) line(key Key) (Line, error) {
	line := Line{Key: key}
	v := s.tx.Bucket([]byte(lineBucket)).Get(encodeKey(key))
	if v == nil {
		return line, nil
	}
	if err := json.Unmarshal(v, &line); err != nil {
		return Line{}, fmt.Errorf("locking: decoding line record: %w", err)
	}
	return line, nil
}

// lines returns every line, in the order of their keys' encodings.
func (s boltTx) lines() ([]Line, error) {
	var lines []Line
	err := s.tx.Bucket([]byte(lineBucket)).ForEach(func(_, v []byte) error {
		var line Line
		if err := json.Unmarshal(v, &line); err != nil {
			return fmt.Errorf("locking: decoding line record: %w", err)
		}
		lines = append(lines, line)
		return nil
	})
	return lines, err
}

// putLine stores line, or deletes it when no one waits in it.
func (s boltTx) putLine(line Line) error {
	bkt := s.tx.Bucket([]byte(lineBucket))
	k := encodeKey(line.Key)
	if len(line.Waiting) == 0 {
		if bkt.Get(k) == nil {
			return nil
		}
		return bkt.Delete(k)
	}
	v, err := json.Marshal(line)
	if err != nil {
		return err
	}
	return bkt.Put(k, v)
}

// Leave implements Liner.
func (b *Bolt) Leave(ctx context.Context, key Key, pull int) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var left bool
	err := b.db.Update(func(tx *bolt.Tx) error {
		s := boltTx{tx}
		line, err := s.line(key)
		if err != nil || place(line.Waiting, pull) == 0 {
			return err
		}
		left = true
		line.Waiting = slices.DeleteFunc(line.Waiting, func(w Waiter) bool { return w.Pull == pull })
		return s.putLine(line)
	})
	if err != nil {
		return false, fmt.Errorf("locking: taking pull %d out of the line for %+v: %w", pull, key, err)
	}
	return left, nil
}

// Lines implements Liner.
func (b *Bolt) Lines(ctx context.Context) ([]Line, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var lines []Line
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		lines, err = boltTx{tx}.lines()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("locking: listing lines: %w", err)
	}
	slices.SortFunc(lines, func(a, b Line) int { return compareKeys(a.Key, b.Key) })
	return lines, nil
}

// Pass implements Liner in one read-write transaction.
func (b *Bolt) Pass(ctx context.Context) ([]Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	var turns []Lock
	err := b.db.Update(func(tx *bolt.Tx) error {
		turns = nil
		s := boltTx{tx}
		lines, err := s.lines()
		if err != nil {
			return err
		}
		for _, line := range lines {
			_, held, err := s.lock(line.Key, now)
			if err != nil {
				return err
			}
			if held {
				continue
			}
			if err := s.putLock(line.Waiting[0].handed(line.Key, now)); err != nil {
				return err
			}
			line.Waiting = line.Waiting[1:]
			if err := s.putLine(line); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte(bucket)).ForEach(func(_, v []byte) error {
			l, err := decodeLock(v)
			if err == nil && l.Turn && !l.Lapsed(now) {
				turns = append(turns, l)
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("locking: passing locks to their lines: %w", err)
	}
	slices.SortFunc(turns, compareLocks)
	return turns, nil
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
