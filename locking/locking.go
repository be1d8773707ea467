// Package locking owns what keeps work apart: project locks, which keep
// other pull requests off a project between its plan and its apply, and
// leases, which keep one job at a time on a piece of work across processes
// and lapse when their holder dies. It holds the Locker interface, the
// typed Key a lock is held on, and its backends: bbolt (embedded, one
// process) and Redis (shared by replicas). Every backend passes the shared
// suite in locking/lockingtest.
package locking

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Key names what a lock covers: one project directory in one workspace of
// one repository on one forge. It is comparable and never parsed back from
// a string.
type Key struct {
	// Forge names the forge the repository is on ("github", "gitlab"): a
	// server may serve two repositories of one name, one on each.
	Forge string
	// Repo is the repository's full name: "owner/name", or a path with
	// subgroups, "group/sub/name".
	Repo string
	// Dir is the project directory relative to the repository root, "." for the root.
	Dir string
	// Workspace is the tofu/terraform workspace.
	Workspace string
}

// Lock is a held lock: who holds which key, since when.
type Lock struct {
	Key Key
	// Pull is the number of the pull request holding the lock.
	Pull int
	// User is who caused the lock to be taken.
	User string
	Time time.Time
	// Expires is when the lock lapses unless its pull request takes it
	// again first; zero for never. A lapsed lock is free.
	Expires time.Time
}

// Lapsed reports whether the lock has expired at now.
func (l Lock) Lapsed(now time.Time) bool { return !l.Expires.IsZero() && !now.Before(l.Expires) }

// Locker takes and releases project locks, and leases. Implementations
// are safe for concurrent use, and TryLock and Acquire are atomic: of any
// number of callers racing for a free key or lease, exactly one wins.
type Locker interface {
	// TryLock takes l.Key for l.Pull until l.Expires. It reports acquired
	// when the key was free (or its lock lapsed) or already held by the
	// same pull request, which then keeps its original record but with
	// l.Expires; otherwise it returns the holder's lock.
	TryLock(ctx context.Context, l Lock) (holder Lock, acquired bool, err error)
	// Unlock releases key if pull holds it, and reports whether it did.
	Unlock(ctx context.Context, key Key, pull int) (bool, error)
	// List returns every held lock that has not lapsed, ordered by key.
	List(ctx context.Context) ([]Lock, error)

	Leaser
}

// Leaser hands out leases: a named piece of work held by one owner (a
// process, a job) for a while, renewed while the work goes on. A lease
// whose owner stops renewing it lapses, and is free again.
type Leaser interface {
	// Acquire takes the lease name for owner for ttl, if it is free or
	// lapsed, and reports whether it did.
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// Renew extends owner's lease name to ttl from now; false when owner
	// does not hold it (it lapsed, perhaps to someone else).
	Renew(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// Release gives owner's lease name up; false when owner did not hold
	// it.
	Release(ctx context.Context, name, owner string) (bool, error)
}

// compareLocks orders locks by key.
func compareLocks(a, b Lock) int {
	return cmp.Or(
		cmp.Compare(a.Key.Forge, b.Key.Forge),
		cmp.Compare(a.Key.Repo, b.Key.Repo),
		cmp.Compare(a.Key.Dir, b.Key.Dir),
		cmp.Compare(a.Key.Workspace, b.Key.Workspace),
	)
}

// encodeKey returns k's bucket key: each field as its length (uvarint)
// followed by its bytes, so distinct keys never share an encoding whatever
// characters they hold. The encoding is only ever looked up, never decoded.
func encodeKey(k Key) []byte {
	b := make([]byte, 0, len(k.Forge)+len(k.Repo)+len(k.Dir)+len(k.Workspace)+4*binary.MaxVarintLen16)
	for _, s := range [...]string{k.Forge, k.Repo, k.Dir, k.Workspace} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// decodeLock decodes a stored lock record.
func decodeLock(v []byte) (Lock, error) {
	var l Lock
	if err := json.Unmarshal(v, &l); err != nil {
		return Lock{}, fmt.Errorf("locking: decoding lock record: %w", err)
	}
	return l, nil
}
