package locking

import (
	"cmp"
	"context"
	"encoding/binary"
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

// bucket holds one record per held lock: encodeKey(Key) → JSON of Lock.
const bucket = "locks"

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
		return nil, fmt.Errorf("opening lock store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(bucket))
		return err
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("creating bucket in lock store %s: %w", path, err), db.Close())
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
			var err error
			holder, err = decodeLock(v)
			return err
		}
		v, err := json.Marshal(l)
		if err != nil {
			return err
		}
		return bkt.Put(k, v)
	})
	if err != nil {
		return Lock{}, false, fmt.Errorf("taking lock %+v for pull %d: %w", l.Key, l.Pull, err)
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
		if held.Pull != pull {
			return nil
		}
		deleted = true
		return bkt.Delete(k)
	})
	if err != nil {
		return false, fmt.Errorf("releasing lock %+v for pull %d: %w", key, pull, err)
	}
	return deleted, nil
}

// List implements Locker.
func (b *Bolt) List(ctx context.Context) ([]Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var locks []Lock
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).ForEach(func(_, v []byte) error {
			l, err := decodeLock(v)
			if err != nil {
				return err
			}
			locks = append(locks, l)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing locks: %w", err)
	}
	slices.SortFunc(locks, func(a, b Lock) int {
		return cmp.Or(
			cmp.Compare(a.Key.Repo, b.Key.Repo),
			cmp.Compare(a.Key.Dir, b.Key.Dir),
			cmp.Compare(a.Key.Workspace, b.Key.Workspace),
		)
	})
	return locks, nil
}

// encodeKey returns k's bucket key: each field as its length (uvarint)
// followed by its bytes, so distinct keys never share an encoding whatever
// characters they hold. The encoding is only ever looked up, never decoded.
func encodeKey(k Key) []byte {
	b := make([]byte, 0, len(k.Repo)+len(k.Dir)+len(k.Workspace)+3*binary.MaxVarintLen16)
	for _, s := range [...]string{k.Repo, k.Dir, k.Workspace} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// decodeLock decodes a stored lock record.
func decodeLock(v []byte) (Lock, error) {
	var l Lock
	if err := json.Unmarshal(v, &l); err != nil {
		return Lock{}, fmt.Errorf("decoding lock record: %w", err)
	}
	return l, nil
}
